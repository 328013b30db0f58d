"""Offline checks of composed resources against the provider CRDs: kubeconform -strict and the CRDs' CEL rules."""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.crossplane.conftest import resource_name
from tools.validate import crd_schemas_location, run_kubeconform
from tools.validation_data import crds_dir

# The only CEL shape the provider CRDs we use contain: "forProvider.X is required unless the resource is
# observe-only or X is set in initProvider". Any other rule is reported, never skipped.
REQUIRED_FIELD_RULE = re.compile(
    r"^!\('\*' in self\.managementPolicies \|\| 'Create' in self\.managementPolicies \|\| "
    r"'Update' in self\.managementPolicies\) \|\| has\(self\.forProvider\.(\w+)\) \|\| "
    r"\(has\(self\.initProvider\) && has\(self\.initProvider\.\1\)\)$"
)


def kubeconform_errors(resources: list[dict[str, Any]]) -> list[str]:
    """kubeconform -strict on each resource; one message per invalid resource, naming its composition name."""
    with tempfile.TemporaryDirectory() as tmp:
        for index, resource in enumerate(resources):
            path = Path(tmp) / f"{index:02d}-{resource_name(resource)}.yaml"
            path.write_text(yaml.safe_dump(resource))
        report = run_kubeconform(sorted(Path(tmp).iterdir()), [crd_schemas_location()])
    return [
        f"{Path(item['filename']).stem[3:]} ({item['kind']}): {item['status']}: {item['msg']}"
        for item in report.get("resources", [])
        if item["status"] != "statusValid"
    ]


@functools.cache
def _crd(group: str, kind: str) -> dict[str, Any]:
    for path in crds_dir().glob(f"*/{group}_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            return crd
    raise LookupError(f"no CRD for {kind}.{group} in {crds_dir()}")


def required_fields(api_version: str, kind: str) -> list[str]:
    """forProvider fields that the CRD's CEL rules make required for a created resource."""
    group, version = api_version.split("/")
    crd = _crd(group, kind)
    served = [v for v in crd["spec"]["versions"] if v["name"] == version]
    if not served:
        raise LookupError(f"{kind}.{group} has no version {version}")
    spec = served[0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    fields = []
    for rule in spec.get("x-kubernetes-validations", []):
        match = REQUIRED_FIELD_RULE.match(rule["rule"])
        if match is None:
            raise ValueError(f"{kind}.{group}/{version}: CEL rule this check cannot evaluate: {rule['rule']}")
        fields.append(match.group(1))
    return fields


def cel_errors(resources: list[dict[str, Any]]) -> list[str]:
    """The CRD CEL required-field rules, evaluated on each composed resource."""
    errors = []
    for resource in resources:
        spec = resource.get("spec", {})
        policies = spec.get("managementPolicies", ["*"])  # the CRD default
        if not ({"*", "Create", "Update"} & set(policies)):
            continue
        for name in required_fields(resource["apiVersion"], resource["kind"]):
            if name not in spec.get("forProvider", {}) and name not in spec.get("initProvider", {}):
                errors.append(f"{resource_name(resource)} ({resource['kind']}): spec.forProvider.{name} is required")
    return errors


def validation_errors(resources: list[dict[str, Any]]) -> list[str]:
    return kubeconform_errors(resources) + cel_errors(resources)
