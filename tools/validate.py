"""Validate every manifest of the repository with kubeconform -strict: `make validate`.

One loop, nothing to register: every `kustomization.yaml` in the repository is built with the pinned kustomize (the
ones another kustomization includes, such as base/, as part of it: alone they hold placeholders), and
every other YAML file is validated on its own, except the files that are not Kubernetes manifests (NOT_MANIFESTS
below: each rule says why). Schemas, for the Kubernetes version the clusters run (NOTEJAM_KUBERNETES_VERSION):

1. built-in kinds: kubernetes-validate's strict schemas, rewritten for kubeconform (tools/k8s_schemas.py);
2. CRD kinds (Argo CD, Crossplane, the AWS providers, prometheus-operator, External Secrets): NOTEJAM_SCHEMAS_DIR,
   in the datreeio/CRDs-catalog layout (an online user may point it at the catalog's URL);
3. our claim and composite kinds: generated from crossplane/**/ XRDs (tools/xrd_schemas.py).

No `-ignore-missing-schemas`, no `-skip`: a kind without a schema is an error. Output: one line per target with the
number of resources validated and 0 invalid / 0 errors / 0 skipped, or the file, the object and kubeconform's reason.

Importable: `validate_documents(docs, source)` validates objects that another test produced.

    python -m tools.validate --help
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools import k8s_schemas, validation_data, xrd_schemas
from tools.manifests import Document, KustomizeError, build_kustomization, load_documents, tool_path
from tools.repository import REPO_ROOT

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Directories never searched for manifests.
SKIPPED_DIRECTORIES = {
    "tests": "test fixtures, some broken on purpose; the tests validate what they need themselves",
    "src": "application and Lambda code",
    "node_modules": "third-party packages",
}

# YAML files that are not Kubernetes manifests, with the reason. Patterns match the path relative to the repository
# (fnmatch: `*` also crosses `/`). Hidden directories (.github, .venv, .tools, .cache) are never searched.
NOT_MANIFESTS = {
    "clusters/*/eksctl.yaml": "eksctl ClusterConfig, read by eksctl only; its invariants are checked by pytest",
    "crossplane/iam/*.yaml": "IAM needs per composed kind, read by tools/provider_policy.py; checked by pytest",
    "*values.yaml": "Helm values, read by Helm when an Argo CD Application renders a chart",
    "*values-*.yaml": "Helm values, read by Helm when an Argo CD Application renders a chart",
    "*/values/*.yaml": "Helm values, read by Helm when an Argo CD Application renders a chart",
}


@dataclass
class Failure:
    """One object kubeconform did not accept."""

    file: str
    object: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.object}: {self.reason}"


@dataclass
class Report:
    """The kubeconform verdict on one target (a kustomization, a file, or documents handed in by a test)."""

    source: str
    valid: int = 0
    invalid: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and self.errors == 0 and self.skipped == 0 and not self.failures

    def summary(self) -> str:
        return (
            f"{self.source}: {self.valid + self.invalid + self.errors + self.skipped} resources validated, "
            f"{self.invalid} invalid, {self.errors} errors, {self.skipped} skipped"
        )


@dataclass(frozen=True)
class Target:
    """Something to validate: a kustomization directory or a plain manifest file."""

    path: Path
    is_kustomization: bool


def crd_schemas_dir() -> str:
    """NOTEJAM_SCHEMAS_DIR (a directory or a URL prefix); the Makefile points it at ../shared/kubeconform-schemas."""
    value = validation_data.schemas_location()
    if "://" not in value and not Path(value).is_dir():
        raise FileNotFoundError(f"NOTEJAM_SCHEMAS_DIR={value} is not a directory of CRD schemas")
    return value


def crd_schemas_location() -> str:
    """The kubeconform `-schema-location` of the CRD schemas (Argo CD, Crossplane, the providers, ...)."""
    return f"{crd_schemas_dir()}/{xrd_schemas.SCHEMA_LOCATION_TEMPLATE}"


def schema_locations(root: Path = REPO_ROOT, cache_dir: Path | None = None) -> list[str]:
    """The kubeconform `-schema-location`s, generating the cached ones first."""
    # The built-in schemas depend only on the pinned versions: one cache for every root. The XRD schemas belong to
    # the repository being validated.
    kubernetes_dir = k8s_schemas.ensure_schemas()
    xrd_dir = (cache_dir or root / ".cache" / "schemas") / "xrd"
    xrd_schemas.write_schemas(xrd_schemas.find_xrds(root), xrd_dir)
    argocd_dir = validation_data.argocd_schemas_dir(cache_dir or root / ".cache" / "schemas")
    return [
        k8s_schemas.schema_location(kubernetes_dir),
        # Before the shared CRD schemas, so that the Argo CD release the clusters run shadows the offline copy's.
        f"{argocd_dir}/{xrd_schemas.SCHEMA_LOCATION_TEMPLATE}",
        crd_schemas_location(),
        xrd_schemas.schema_location(xrd_dir),
    ]


def run_kubeconform(paths: list[Path], locations: list[str]) -> dict:
    """kubeconform's JSON report (every resource, with a summary) for the given files."""
    command = [tool_path("kubeconform"), "-strict", "-summary", "-verbose", "-output", "json"]
    command += ["-kubernetes-version", k8s_schemas.kubernetes_version()]
    for location in locations:
        command += ["-schema-location", location]
    result = subprocess.run(  # noqa: S603 - fixed binary and flags
        [*command, *map(str, paths)], capture_output=True, text=True, check=False
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"kubeconform gave no JSON report:\n{result.stdout}{result.stderr}") from None


def report_from(source: str, kubeconform: dict, file_names: dict[str, str] | None = None) -> Report:
    """A Report from kubeconform's JSON; `file_names` maps temporary file names back to what a person should read."""
    summary = kubeconform.get("summary", {})
    report = Report(
        source=source,
        valid=summary.get("valid", 0),
        invalid=summary.get("invalid", 0),
        errors=summary.get("errors", 0),
        skipped=summary.get("skipped", 0),
    )
    for resource in kubeconform.get("resources") or []:
        if resource.get("status") in ("statusValid", "statusEmpty", ""):  # "": a comment-only or empty document
            continue
        filename = resource.get("filename", "")
        file = (file_names or {}).get(filename, filename)
        obj = f"{resource.get('kind', '?')}/{resource.get('name', '?')}"
        report.failures.append(Failure(file, obj, resource.get("msg") or resource.get("status", "")))
    return report


def validate_documents(docs: list[Document], source: str, locations: list[str] | None = None) -> Report:
    """Validate objects held in memory (rendered by kustomize, Crossplane, or a test); failures name `source`."""
    locations = locations or schema_locations()
    with tempfile.TemporaryDirectory(prefix="notejam-validate-") as tmp:
        names: dict[str, str] = {}
        paths = []
        for index, doc in enumerate(docs):
            path = Path(tmp) / f"{index:04d}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
            paths.append(path)
            names[str(path)] = source
        if not paths:
            return Report(source=source)
        return report_from(source, run_kubeconform(paths, locations), names)


def validate_kustomization(directory: Path, root: Path, locations: list[str]) -> Report:
    source = directory.relative_to(root).as_posix() or "."
    try:
        docs = load_documents(build_kustomization(directory))
    except (KustomizeError, yaml.YAMLError) as error:
        return Report(source=source, errors=1, failures=[Failure(source, "kustomize build", str(error))])
    if not docs:
        return Report(source=source, errors=1, failures=[Failure(source, "kustomize build", "renders nothing")])
    report = validate_documents(docs, source, locations)
    for failure in report.failures:
        files = source_files(directory, root, failure.object)
        failure.file = f"{source} (kustomize build, from {', '.join(files) or 'a generator'})"
    return report


def source_files(directory: Path, root: Path, object_name: str) -> list[str]:
    """The files of a kustomization that define or patch the object `Kind/name`: where a person looks first."""
    kind, _, name = object_name.partition("/")
    found = []
    for path in sorted(files_used_by(directory)):
        if path.suffix not in (".yaml", ".yml") or path.name in KUSTOMIZATION_NAMES:
            continue
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        if any(d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name for d in docs):
            found.append(path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path))
    return found


def validate_file(path: Path, root: Path, locations: list[str]) -> Report:
    source = path.relative_to(root).as_posix()
    report = report_from(source, run_kubeconform([path], locations), {str(path): source})
    if report.valid + report.invalid + report.errors + report.skipped == 0:
        report.errors = 1
        report.failures.append(Failure(source, "-", "no Kubernetes object in this file (add a NOT_MANIFESTS rule?)"))
    return report


def is_kustomization_dir(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_NAMES)


def is_component(directory: Path) -> bool:
    """A Kustomize Component renders nothing alone: it is built, and validated, by the kustomizations that use it."""
    kustomization_file = next(directory / n for n in KUSTOMIZATION_NAMES if (directory / n).is_file())
    return (yaml.safe_load(kustomization_file.read_text()) or {}).get("kind") == "Component"


def not_a_manifest(relative: str) -> str | None:
    """The reason a YAML file is not validated on its own, or None."""
    for pattern, reason in NOT_MANIFESTS.items():
        if fnmatch.fnmatch(relative, pattern):
            return reason
    return None


def files_used_by(directory: Path) -> set[Path]:
    """Every file a kustomization reads (resources, patches, generators, components...), following directories."""
    kustomization_file = next(directory / n for n in KUSTOMIZATION_NAMES if (directory / n).is_file())
    kustomization = yaml.safe_load(kustomization_file.read_text()) or {}
    used: set[Path] = {kustomization_file.resolve()}
    references: list[str] = []
    for key in ("resources", "components", "crds", "patchesStrategicMerge", "generators", "transformers"):
        references += [r for r in kustomization.get(key) or [] if isinstance(r, str)]
    references += [c for c in kustomization.get("configurations") or [] if isinstance(c, str)]  # transformer configs
    for key in ("patches", "patchesJson6902", "replacements"):
        references += [p["path"] for p in kustomization.get(key) or [] if isinstance(p, dict) and "path" in p]
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in kustomization.get(key) or []:
            references += generator.get("envs") or []
            references += [f.split("=", 1)[-1] for f in generator.get("files") or []]
    for reference in references:
        if "://" in reference:
            continue
        target = (directory / reference).resolve()
        if target.is_dir() and is_kustomization_dir(target):
            used |= files_used_by(target)
        elif target.is_file():
            used.add(target)
    return used


def discover_targets(root: Path = REPO_ROOT) -> list[Target]:
    """Every kustomization directory, then every YAML file that no kustomization uses and NOT_MANIFESTS allows."""
    kustomizations: list[Path] = []
    yaml_files: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRECTORIES)
        if is_kustomization_dir(here) and not is_component(here):
            kustomizations.append(here)
        yaml_files += [here / f for f in sorted(files) if f.endswith((".yaml", ".yml"))]
    used: set[Path] = set()
    included: set[Path] = set()  # a kustomization another one includes (base, apps/*) is validated as part of it
    for directory in kustomizations:
        files = files_used_by(directory)
        used |= files
        included |= {path.parent for path in files if path.name in KUSTOMIZATION_NAMES and path.parent != directory}
    kustomizations = [directory for directory in kustomizations if directory.resolve() not in included]
    plain = [
        path
        for path in yaml_files
        if path.resolve() not in used
        and path.name not in KUSTOMIZATION_NAMES
        and not_a_manifest(path.relative_to(root).as_posix()) is None
    ]
    return [Target(d, True) for d in kustomizations] + [Target(p, False) for p in plain]


def validate_repository(root: Path = REPO_ROOT, locations: list[str] | None = None) -> list[Report]:
    """A Report per target of `discover_targets(root)`."""
    locations = locations or schema_locations(root)
    reports = []
    for target in discover_targets(root):
        if target.is_kustomization:
            reports.append(validate_kustomization(target.path, root, locations))
        else:
            reports.append(validate_file(target.path, root, locations))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.validate",
        description="Build every kustomization and kubeconform -strict every manifest against the pinned "
        "Kubernetes version, the CRD schemas and our XRDs. Exit status 1 on any invalid, error or skipped resource.",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository to validate (default: this one)")
    parser.add_argument("--list", action="store_true", help="only list what would be validated, and the exclusions")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.list:
        for target in discover_targets(root):
            kind = "kustomization" if target.is_kustomization else "file"
            print(f"{kind:13} {target.path.relative_to(root).as_posix()}")
        for pattern, reason in NOT_MANIFESTS.items():
            print(f"{'excluded':13} {pattern}: {reason}")
        return 0
    reports = validate_repository(root, schema_locations(root))
    for report in reports:
        print(("ok   " if report.ok else "FAIL ") + report.summary())
        for failure in report.failures:
            print(f"     {failure}")
    failures = [failure for report in reports for failure in report.failures]
    total = sum(r.valid for r in reports)
    print(f"{len(reports)} targets, {total} valid resources, {len(failures)} failures")
    return 1 if failures or not all(r.ok for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
