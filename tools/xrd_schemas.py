"""JSON schemas for our claim and composite kinds, generated from our XRDs, for kubeconform.

Crossplane turns each `apiextensions.crossplane.io/v1` CompositeResourceDefinition into two CRDs: the composite (XR,
`spec.names`) and, when `spec.claimNames` is set, the namespaced claim. It adds machinery fields the XRD does not list
(`compositionRef`, `writeConnectionSecretToRef`, `resourceRef`, ...), so a schema taken naively from the XRD would
reject a claim the cluster accepts. This module adds those fields the way Crossplane does (internal/xcrd in
crossplane/crossplane), then closes every object that lists `properties` (`additionalProperties: false`), as
kubeconform's openapi2jsonschema does for CRDs, so a misspelt parameter is reported as invalid.

Files are laid out like the datreeio/CRDs-catalog (`<group>/<kind lower-case>_<version>.json`), so kubeconform reads
them with one more `-schema-location` (`make validate` writes them).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml

from tools.repository import REPO_ROOT

Schema = dict[str, Any]
XRD_API_VERSION = "apiextensions.crossplane.io/v1"
XRD_KIND = "CompositeResourceDefinition"
SCHEMA_LOCATION_TEMPLATE = "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"


class XRDError(ValueError):
    """An XRD this tool cannot turn into schemas; the message names the file and the problem."""


def _string() -> Schema:
    return {"type": "string"}


def _name_ref() -> Schema:
    return {"type": "object", "required": ["name"], "properties": {"name": _string()}}


def _string_map() -> Schema:
    return {"type": "object", "additionalProperties": _string()}


def _selector() -> Schema:
    return {"type": "object", "required": ["matchLabels"], "properties": {"matchLabels": _string_map()}}


def _publish_connection_details_to() -> Schema:
    return {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": _string(),
            "configRef": {"type": "object", "properties": {"name": _string()}},
            "metadata": {
                "type": "object",
                "properties": {"labels": _string_map(), "annotations": _string_map(), "type": _string()},
            },
        },
    }


def _machinery_common() -> dict[str, Schema]:
    """Spec fields Crossplane adds to both the claim and the composite."""
    return {
        "compositionRef": _name_ref(),
        "compositionSelector": _selector(),
        "compositionRevisionRef": _name_ref(),
        "compositionRevisionSelector": _selector(),
        "compositionUpdatePolicy": {"type": "string", "enum": ["Automatic", "Manual"]},
        "publishConnectionDetailsTo": _publish_connection_details_to(),
    }


def claim_spec_machinery() -> dict[str, Schema]:
    """Spec fields of a claim CRD that Crossplane generates and the XRD does not list."""
    return {
        **_machinery_common(),
        "compositeDeletePolicy": {"type": "string", "enum": ["Background", "Foreground"]},
        "resourceRef": {
            "type": "object",
            "required": ["apiVersion", "kind", "name"],
            "properties": {"apiVersion": _string(), "kind": _string(), "name": _string()},
        },
        # The claim's secret always lands in the claim's namespace: name only.
        "writeConnectionSecretToRef": _name_ref(),
    }


def composite_spec_machinery() -> dict[str, Schema]:
    """Spec fields of a composite (XR) CRD that Crossplane generates and the XRD does not list."""
    ref = {"type": "object", "properties": {"apiVersion": _string(), "kind": _string(), "name": _string()}}
    return {
        **_machinery_common(),
        "claimRef": {
            "type": "object",
            "required": ["apiVersion", "kind", "namespace", "name"],
            "properties": {k: _string() for k in ("apiVersion", "kind", "namespace", "name")},
        },
        "resourceRefs": {"type": "array", "items": {**ref, "required": ["apiVersion", "kind"]}},
        "environmentConfigRefs": {"type": "array", "items": ref},
        "writeConnectionSecretToRef": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"name": _string(), "namespace": _string()},
        },
    }


def status_machinery() -> dict[str, Schema]:
    """Status fields Crossplane adds to claims and composites."""
    condition_fields = ("lastTransitionTime", "message", "reason", "status", "type", "observedGeneration")
    return {
        "conditions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["lastTransitionTime", "reason", "status", "type"],
                "properties": {
                    k: {"type": "integer"} if k == "observedGeneration" else _string() for k in condition_fields
                },
            },
        },
        "connectionDetails": {"type": "object", "properties": {"lastPublishedTime": _string()}},
    }


def close_objects(schema: Schema) -> Schema:
    """Add `additionalProperties: false` to every object that lists `properties` (unless it keeps unknown fields)."""
    if isinstance(schema, dict):
        for value in schema.values():
            if isinstance(value, dict):
                close_objects(value)
            elif isinstance(value, list):
                for item in value:
                    close_objects(item)
        if (
            "properties" in schema
            and isinstance(schema["properties"], dict)
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    return schema


def kind_schema(open_api: Schema, group: str, version: str, kind: str, spec_extra: dict[str, Schema]) -> Schema:
    """The JSON schema of one generated kind: the XRD's openAPIV3Schema plus Crossplane's machinery, closed."""
    schema = copy.deepcopy(open_api)
    properties = schema.setdefault("properties", {})
    spec = properties.setdefault("spec", {"type": "object"})
    spec.setdefault("properties", {}).update(copy.deepcopy(spec_extra))
    status = properties.setdefault("status", {"type": "object"})
    status.setdefault("properties", {}).update(status_machinery())
    properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"type": "object"}
    schema["type"] = "object"
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "spec"})
    return close_objects(schema)


def schemas_from_xrd(xrd: Schema, source: str = "<xrd>") -> dict[str, Schema]:
    """`{relative path: schema}` for the composite and the claim of every served version of one XRD."""
    if xrd.get("apiVersion") != XRD_API_VERSION or xrd.get("kind") != XRD_KIND:
        raise XRDError(
            f"{source}: expected {XRD_API_VERSION} {XRD_KIND}, got {xrd.get('apiVersion')} {xrd.get('kind')}"
        )
    spec = xrd.get("spec") or {}
    try:
        group = spec["group"]
        composite_kind = spec["names"]["kind"]
        versions = spec["versions"]
    except (KeyError, TypeError) as missing:
        raise XRDError(f"{source}: spec.group, spec.names.kind and spec.versions are required ({missing})") from None
    claim_kind = (spec.get("claimNames") or {}).get("kind")
    schemas: dict[str, Schema] = {}
    for entry in versions:
        if not entry.get("served", False):
            continue
        version = entry["name"]
        open_api = ((entry.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
        kinds = [(composite_kind, composite_spec_machinery())]
        if claim_kind:
            kinds.append((claim_kind, claim_spec_machinery()))
        for kind, extra in kinds:
            schemas[f"{group}/{kind.lower()}_{version}.json"] = kind_schema(open_api, group, version, kind, extra)
    return schemas


def find_xrds(root: Path = REPO_ROOT) -> list[Path]:
    """Every file under `crossplane/` that holds an XRD (by content, not by name)."""
    found = []
    for path in sorted((root / "crossplane").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == XRD_KIND:
                found.append(path)
                break
    return found


def write_schemas(xrd_paths: list[Path], output_dir: Path) -> list[Path]:
    """Generate the schemas of every XRD in `xrd_paths` into `output_dir`; stale files there are removed."""
    generated: dict[Path, str] = {}
    for path in xrd_paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == XRD_KIND:
                for relative, schema in schemas_from_xrd(doc, source=str(path)).items():
                    generated[output_dir / relative] = json.dumps(schema, indent=1, sort_keys=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in output_dir.rglob("*.json"):
        if stale not in generated:
            stale.unlink()
    for target, text in generated.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        partial.replace(target)  # atomic: a concurrent kubeconform never reads half a file
    return sorted(generated)


def schema_location(output_dir: Path) -> str:
    """The kubeconform `-schema-location` template for `output_dir`."""
    return f"{output_dir}/{SCHEMA_LOCATION_TEMPLATE}"
