"""Built-in Kubernetes JSON schemas for kubeconform, from the PyPI package `kubernetes-validate`.

kubernetes-validate ships `v<version>-local-strict/` schemas (closed objects, so an unknown field is invalid), one
file per kind named like kubeconform's default layout (`deployment-apps-v1.json`, `service-v1.json`). Two details
stop kubeconform v0.7.0 from using them as they are:

* every `$ref` is absolute (`/api/_definitions.json#/$defs/...`), which kubeconform resolves against the file system
  root instead of the sibling `_definitions.json`;
* every file carries an `$id` (`https://kubernetes.io/api/...`), which makes the resolver fetch refs from that URL.

So we copy the files into a git-ignored cache with the refs made relative and `$id` dropped; nothing else changes.
The copy is redone when the package version or the Kubernetes version changes (by `make validate`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import kubernetes_validate

from tools.repository import REPO_ROOT, makefile_pin

ABSOLUTE_REF = '"/api/_definitions.json#'
RELATIVE_REF = '"_definitions.json#'
MARKER = ".generated-from"


def pinned_kubernetes_version() -> str:
    """The Makefile's KUBERNETES_VERSION: the one pin, also when a tool runs without make."""
    return makefile_pin("KUBERNETES_VERSION")


def kubernetes_version() -> str:
    """The Kubernetes version the clusters run (the Makefile exports NOTEJAM_KUBERNETES_VERSION)."""
    return os.environ.get("NOTEJAM_KUBERNETES_VERSION") or pinned_kubernetes_version()


def default_cache_dir() -> Path:
    return REPO_ROOT / ".cache" / "schemas" / "kubernetes"


def source_dir(version: str) -> Path:
    """The package's strict schemas for `version`; a clear error when the package lacks that version."""
    package_dir = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    source = package_dir / f"v{version}-local-strict"
    if not source.is_dir():
        available = sorted(p.name for p in package_dir.glob("v*-local-strict"))
        raise FileNotFoundError(
            f"kubernetes-validate has no schemas for Kubernetes {version}; "
            f"available: {', '.join(available[-5:])} (pin another NOTEJAM_KUBERNETES_VERSION or package version)"
        )
    return source


def rewrite_schema(text: str) -> str:
    """One schema file made loadable by kubeconform: relative refs, no `$id`."""
    schema = json.loads(text.replace(ABSOLUTE_REF, RELATIVE_REF))
    schema.pop("$id", None)
    return json.dumps(schema, indent=1, sort_keys=True)


def ensure_schemas(version: str | None = None, cache_dir: Path | None = None) -> Path:
    """The directory of rewritten schemas for `version`, generated on first use. Returns that directory."""
    version = version or kubernetes_version()
    target = (cache_dir or default_cache_dir()) / f"v{version}-local-strict"
    stamp = f"kubernetes-validate {metadata.version('kubernetes-validate')}, Kubernetes {version}\n"
    marker = target / MARKER
    if marker.is_file() and marker.read_text() == stamp:
        return target
    source = source_dir(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and rename into place, so a concurrent run never sees half a directory.
    staging = Path(tempfile.mkdtemp(prefix=".k8s-schemas-", dir=target.parent))
    for path in source.glob("*.json"):
        (staging / path.name).write_text(rewrite_schema(path.read_text()))
    (staging / MARKER).write_text(stamp)
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".k8s-schemas-old-", dir=target.parent))
        target.rename(old / "schemas")
        shutil.rmtree(old)
    try:
        staging.rename(target)
    except OSError:  # another process won the race with identical content
        shutil.rmtree(staging)
    return target


def schema_location(directory: Path) -> str:
    """The kubeconform `-schema-location` template for a directory made by `ensure_schemas`."""
    return f"{directory}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json"
