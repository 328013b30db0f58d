"""The CRDs and JSON schemas that validation reads, and how to make them when you are online.

Validation never uses data committed here: it reads NOTEJAM_CRDS_DIR (upstream CRD YAML) and NOTEJAM_SCHEMAS_DIR
(kubeconform schemas in the datreeio/CRDs-catalog layout, `<group>/<kind>_<version>.json`), which default to
`../shared/` (or `$SHARED_DIR/`). On a machine without that folder:

    python -m tools.validation_data fetch --dest ../shared    # download the CRDs below and convert them

`convert` alone turns a folder of CRDs into schemas. The conversion is the catalog's `openapi2jsonschema.py`
(every nested object with properties gets `additionalProperties: false`, the root stays open, `int-or-string`
becomes string-or-integer), but it walks the schema structurally, so a field that is literally named `properties`
is not mistaken for a schema (yannh/kubeconform#295).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tools.repository import shared_dir

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the CRDs are megabytes


def schemas_location() -> str:
    """NOTEJAM_SCHEMAS_DIR: a directory, or for kubeconform alone a URL prefix such as the CRDs-catalog's."""
    return os.environ.get("NOTEJAM_SCHEMAS_DIR", str(shared_dir() / "kubeconform-schemas")).rstrip("/")


def schemas_dir() -> Path:
    """NOTEJAM_SCHEMAS_DIR as a directory, for code that reads the schema files itself."""
    return Path(schemas_location())


def crds_dir() -> Path:
    """NOTEJAM_CRDS_DIR: the upstream CRD YAML the schemas were made from."""
    return Path(os.environ.get("NOTEJAM_CRDS_DIR", str(shared_dir() / "crds")))


def argocd_crds_dir() -> Path:
    """NOTEJAM_ARGOCD_CRDS_DIR: Argo CD's CRDs of the release the clusters run, from that release's `manifests/crds/`.

    By default the Go module cache's copy of the pinned release (CLUSTER_ARGOCD_VERSION in the Makefile): the local
    control plane is built from that module, and `make cluster-build` downloads it.
    """
    configured = os.environ.get("NOTEJAM_ARGOCD_CRDS_DIR")
    if configured:
        return Path(configured)
    from tools.cluster.versions import makefile_pins

    return argocd_module_dir(makefile_pins()["argocd"]) / "manifests" / "crds"


def argocd_module_dir(version: str) -> Path:
    """The Go module cache's copy of github.com/argoproj/argo-cd/v3 at `version`, downloaded when missing."""
    module_cache = os.environ.get("GOMODCACHE") or str(
        Path(os.environ.get("GOPATH", Path.home() / "go")) / "pkg" / "mod"
    )
    folder = Path(module_cache) / "github.com" / "argoproj" / "argo-cd" / f"v3@{version}"
    if not folder.is_dir():
        # Only the module's source, from the Go module proxy, as `make cluster-build` would fetch it.
        env = {**os.environ, "PATH": f"/usr/local/go/bin:{os.environ.get('PATH', '')}", "GOFLAGS": "-mod=mod"}
        with tempfile.TemporaryDirectory() as outside_any_module:
            subprocess.run(["go", "mod", "download", f"github.com/argoproj/argo-cd/v3@{version}"],  # noqa: S603, S607
                           env=env, check=True, capture_output=True, cwd=outside_any_module)  # fmt: skip
    return folder


def argocd_schemas_dir(cache: Path) -> Path:
    """kubeconform schemas of `argocd_crds_dir()`, converted once per Argo CD version into `cache`."""
    crds = argocd_crds_dir()
    target = cache / f"argo-cd-{crds.parent.parent.name.split('@')[-1]}"
    if not (target / "argoproj.io").is_dir():
        convert(crds, target)
    return target


# folder -> (GitHub repository, release tag, path of the CRD folder in it, CRD files). One place per pin.
# The offline copy's "argo-cd" CRDs are shadowed: validation reads the Argo CD CRDs of the release the clusters run
# (argocd_crds_dir(), CLUSTER_ARGOCD_VERSION in the Makefile), whose kubeconform location comes first.
SOURCES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "argo-cd": (
        "argoproj/argo-cd",
        "v3.5.1",
        "manifests/crds",
        (
            "application-crd.yaml",
            "applicationset-crd.yaml",
            "appproject-crd.yaml",
        ),
    ),
    "crossplane": (
        "crossplane/crossplane",
        "v2.3.4",
        "cluster/crds",
        (
            "apiextensions.crossplane.io_compositeresourcedefinitions.yaml",
            "apiextensions.crossplane.io_compositions.yaml",
            "apiextensions.crossplane.io_environmentconfigs.yaml",
            "pkg.crossplane.io_configurations.yaml",
            "pkg.crossplane.io_deploymentruntimeconfigs.yaml",
            "pkg.crossplane.io_functions.yaml",
            "pkg.crossplane.io_providers.yaml",
        ),
    ),
    "provider-upjet-aws": (
        "crossplane-contrib/provider-upjet-aws",
        "v2.6.0",
        "package/crds",
        (
            "cloudwatchevents.aws.upbound.io_rules.yaml",
            "cloudwatchevents.aws.upbound.io_targets.yaml",
            "ec2.aws.upbound.io_securitygroupegressrules.yaml",
            "ec2.aws.upbound.io_securitygroupingressrules.yaml",
            "ec2.aws.upbound.io_securitygrouprules.yaml",
            "ec2.aws.upbound.io_securitygroups.yaml",
            "ec2.aws.upbound.io_subnets.yaml",
            "ec2.aws.upbound.io_vpcs.yaml",
            "iam.aws.upbound.io_policies.yaml",
            "iam.aws.upbound.io_rolepolicyattachments.yaml",
            "iam.aws.upbound.io_roles.yaml",
            "kms.aws.upbound.io_aliases.yaml",
            "kms.aws.upbound.io_keys.yaml",
            "lambda.aws.upbound.io_functions.yaml",
            "lambda.aws.upbound.io_permissions.yaml",
            "rds.aws.upbound.io_instances.yaml",
            "rds.aws.upbound.io_snapshots.yaml",
            "rds.aws.upbound.io_subnetgroups.yaml",
            "s3.aws.upbound.io_bucketlifecycleconfigurations.yaml",
            "s3.aws.upbound.io_bucketownershipcontrols.yaml",
            "s3.aws.upbound.io_bucketpolicies.yaml",
            "s3.aws.upbound.io_bucketpublicaccessblocks.yaml",
            "s3.aws.upbound.io_buckets.yaml",
            "s3.aws.upbound.io_bucketserversideencryptionconfigurations.yaml",
            "s3.aws.upbound.io_bucketversionings.yaml",
            "scheduler.aws.upbound.io_schedules.yaml",
            "aws.upbound.io_providerconfigs.yaml",
        ),
    ),
    "prometheus-operator": (
        "prometheus-operator/prometheus-operator",
        "v0.93.0",
        "example/prometheus-operator-crd",
        (
            "monitoring.coreos.com_podmonitors.yaml",
            "monitoring.coreos.com_prometheusrules.yaml",
            "monitoring.coreos.com_servicemonitors.yaml",
        ),
    ),
    "external-secrets": (
        "external-secrets/external-secrets",
        "v2.9.0",
        "config/crds/bases",
        (
            "external-secrets.io_externalsecrets.yaml",
            "external-secrets.io_secretstores.yaml",
        ),
    ),
}

# The folders above that no add-on chart applies (tools/repository.CHART_CRD_FOLDERS says which chart applies which).
NOT_APPLIED_BY_ARGO_CD = ("crossplane", "provider-upjet-aws")


def upstream_url(folder: str, file_name: str) -> str:
    repository, tag, directory, _ = SOURCES[folder]
    return f"https://raw.githubusercontent.com/{repository}/{tag}/{directory}/{file_name}"


def close_nested_objects(schema: dict[str, Any], is_root: bool = True) -> dict[str, Any]:
    """Forbid unknown fields in every nested object that lists its properties (kubectl's historical behaviour)."""
    if "properties" in schema and not is_root:
        schema.setdefault("additionalProperties", False)
    children: list[Any] = [
        *(schema.get("properties") or {}).values(),
        *(schema.get("patternProperties") or {}).values(),
    ]
    for key in ("items", "additionalProperties", "not"):
        value = schema.get(key)
        children.extend(value if isinstance(value, list) else [value])
    for key in ("allOf", "anyOf", "oneOf"):
        children.extend(schema.get(key) or [])
    for child in children:
        if isinstance(child, dict):
            close_nested_objects(child, is_root=False)
    return schema


def replace_int_or_string(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: {"oneOf": [{"type": "string"}, {"type": "integer"}]}
            if isinstance(value, dict) and value.get("format") == "int-or-string"
            else replace_int_or_string(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [replace_int_or_string(item) for item in node]
    return node


def crd_to_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`<group>/<kind>_<version>.json` -> JSON schema, for every version of one CRD."""
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"].lower()
    return {
        f"{group}/{kind}_{version['name']}.json": replace_int_or_string(
            close_nested_objects(version["schema"]["openAPIV3Schema"])
        )
        for version in crd["spec"]["versions"]
        if version.get("served", True)
    }


def convert(crds_dir: Path, schemas_dir: Path) -> list[Path]:
    written = []
    for crd_file in sorted(crds_dir.rglob("*.yaml")):
        for document in yaml.load_all(crd_file.read_text(), Loader=SafeLoader):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            for relative, schema in crd_to_schemas(document).items():
                target = schemas_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=2) + "\n")
                written.append(target)
    return written


def fetch(dest: Path) -> None:
    for folder, (_, _, _, files) in SOURCES.items():
        for file_name in files:
            target = dest / "crds" / folder / file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(upstream_url(folder, file_name), timeout=60) as response:  # noqa: S310 (fixed https URLs)
                target.write_bytes(response.read())
    convert(dest / "crds", dest / "kubeconform-schemas")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_command = commands.add_parser("fetch", help="download the pinned upstream CRDs and convert them")
    fetch_command.add_argument("--dest", type=Path, required=True)
    convert_command = commands.add_parser("convert", help="convert a folder of CRD YAML into kubeconform schemas")
    convert_command.add_argument("--crds", type=Path, required=True)
    convert_command.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        fetch(args.dest)
    else:
        if not args.crds.is_dir():
            print(f"validation_data: {args.crds} is not a folder", file=sys.stderr)
            return 2
        print(f"{len(convert(args.crds, args.dest))} schemas written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
