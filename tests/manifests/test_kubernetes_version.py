"""Every place that names the clusters' Kubernetes version names the same minor, and it is one EKS still supports.

The pins live where their tools read them; this test reads each one there. A new pin (say the local control plane's)
is one more entry in KUBERNETES_PINS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.argocd.argo_objects import applications, eksctl_config, helm_values
from tools import k8s_schemas
from tools.cluster.versions import makefile_pins
from tools.repository import ENVIRONMENTS, REPO_ROOT

# EKS standard support for 1.34 ends on 2 December 2026; the clusters move before that, so 1.35 is the floor.
OLDEST_SUPPORTED_MINOR = (1, 35)
POD_SECURITY_VERSION = re.compile(r"^pod-security\.kubernetes\.io/(enforce|warn|audit)-version$")


def minor(version: str) -> str:
    """`v1.35.2`, `1.35.0` or `1.35` -> `1.35`."""
    match = re.match(r"^v?(\d+)\.(\d+)(\.\d+)?$", version)
    assert match, f"not a Kubernetes version: {version!r}"
    return f"{match.group(1)}.{match.group(2)}"


def makefile_pin() -> list[str]:
    return [k8s_schemas.pinned_kubernetes_version()]


def eksctl_versions() -> list[str]:
    return [str(eksctl_config(environment)["metadata"]["version"]) for environment in ENVIRONMENTS]


def pod_security_versions() -> list[str]:
    """Every Pod Security `*-version` label in git (the app's namespace, and any other)."""
    versions = []
    for path in REPO_ROOT.glob("**/*.yaml"):
        if any(part.startswith(".") for part in path.relative_to(REPO_ROOT).parts):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            labels = (doc or {}).get("metadata", {}).get("labels") if isinstance(doc, dict) else None
            versions.extend(value for key, value in (labels or {}).items() if POD_SECURITY_VERSION.match(key))
    return versions


def control_plane_pin() -> list[str]:
    return [makefile_pins()["kubernetes"]]


def autoscaler_image_tags() -> list[str]:
    return [helm_values(applications(env)["cluster-autoscaler"])["image"]["tag"] for env in ENVIRONMENTS]


KUBERNETES_PINS: dict[str, Callable[[], list[str]]] = {
    "Makefile KUBERNETES_VERSION (validation)": makefile_pin,
    "clusters/<env>/eksctl.yaml metadata.version": eksctl_versions,
    "Pod Security version labels": pod_security_versions,
    "cluster-autoscaler image tag": autoscaler_image_tags,
    "Makefile CLUSTER_KUBERNETES_VERSION (make cluster, the live tests)": control_plane_pin,
}


def test_every_pin_is_found() -> None:
    for name, read in KUBERNETES_PINS.items():
        assert read(), f"{name}: no version found"


def test_every_pin_names_the_same_minor() -> None:
    minors = {name: sorted({minor(version) for version in read()}) for name, read in KUBERNETES_PINS.items()}
    assert len({tuple(found) for found in minors.values()}) == 1 and all(len(m) == 1 for m in minors.values()), minors


@pytest.mark.parametrize("name", list(KUBERNETES_PINS))
def test_the_version_is_still_in_eks_standard_support(name: str) -> None:
    for version in KUBERNETES_PINS[name]():
        major_minor = tuple(int(part) for part in minor(version).split("."))
        assert major_minor >= OLDEST_SUPPORTED_MINOR, f"{name}: {version}"


def test_kubernetes_validate_ships_schemas_for_the_pinned_version() -> None:
    package = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert (package / f"v{k8s_schemas.pinned_kubernetes_version()}-local-strict").is_dir()
