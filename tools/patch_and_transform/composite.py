"""The platform APIs (XRD + Composition), the composite a claim becomes, and what Crossplane adds around a composed
resource: its metadata and the connection details read from it.

* Claim -> composite (Crossplane's claim controller, `claim/syncer_ssa.go`): the XRD's schema defaults are applied
  (as the API server does), `spec.parameters` is validated against the XRD and copied; the composite is named
  `<claim>-<suffix>` (Crossplane uses a random 5-character suffix; ours is derived from the claim's namespace/name so
  renders are reproducible). It carries the claim's labels and annotations except `*kubernetes.io`/`*k8s.io` ones,
  the labels `crossplane.io/claim-name` / `crossplane.io/claim-namespace`, and `crossplane.io/composite: <its name>`
  (added by the composite reconciler; composed resources take their name prefix from it).
* Composed metadata (Crossplane's RenderComposedResourceMetadata): `generateName: <crossplane.io/composite label>-`
  unless the template names the resource or sets its own generateName (the observed name when one is given),
  annotation `crossplane.io/composition-resource-name`, labels `crossplane.io/composite`, `crossplane.io/claim-name`,
  `crossplane.io/claim-namespace`, and a controller owner reference to the composite.
* Connection details (only from observed resources, as P&T): FromConnectionSecretKey, FromFieldPath (strings as
  is, other values as JSON), FromValue. `pipeline.render` filters them by the XRD's `connectionSecretKeys`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.fieldpath import FieldNotFound, Object, get_value

APIS_DIR = Path(__file__).resolve().parents[2] / "crossplane" / "apis"

RESOURCE_NAME_ANNOTATION = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"


def _apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Structural defaulting as the Kubernetes API server applies it to the XRD-generated CRD."""
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, child in schema.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = _apply_defaults(child, value[name])
    elif isinstance(value, list) and "items" in schema:
        return [_apply_defaults(schema["items"], item) for item in value]
    return value


@dataclass(frozen=True)
class PlatformAPI:
    """One folder under crossplane/apis: the XRD and its Composition."""

    definition: Object
    composition: Object

    @property
    def claim_kind(self) -> str:
        return self.definition["spec"]["claimNames"]["kind"]

    def served_version(self, version: str) -> Mapping[str, Any]:
        for candidate in self.definition["spec"]["versions"]:
            if candidate["name"] == version and candidate.get("served"):
                return candidate
        raise RenderError(f"{self.claim_kind}: version {version} is not served by the XRD")


def load_apis(apis_dir: Path = APIS_DIR) -> dict[str, PlatformAPI]:
    """Every API in crossplane/apis, keyed by claim kind (a private copy: callers may change it)."""
    files = sorted(apis_dir.glob("*/definition.yaml")) + sorted(apis_dir.glob("*/composition.yaml"))
    stamp = tuple((str(path), path.stat().st_mtime_ns) for path in files)
    return copy.deepcopy(_parse_apis(apis_dir, stamp))


@functools.lru_cache(maxsize=8)
def _parse_apis(apis_dir: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, PlatformAPI]:
    # Parsing the YAML is most of a render's time; `stamp` (paths and mtimes) invalidates the cache on any edit.
    apis: dict[str, PlatformAPI] = {}
    for definition_file in sorted(apis_dir.glob("*/definition.yaml")):
        definition = yaml.safe_load(definition_file.read_text())
        composition = yaml.safe_load((definition_file.parent / "composition.yaml").read_text())
        api = PlatformAPI(definition, composition)
        apis[api.claim_kind] = api
    return apis


def claim_to_composite(claim: Mapping[str, Any], api: PlatformAPI) -> Object:
    """The composite Crossplane's claim controller creates for `claim`, after API-server defaulting."""
    group, _, version = claim.get("apiVersion", "").partition("/")
    spec = api.definition["spec"]
    if group != spec["group"]:
        raise RenderError(f"claim apiVersion {claim.get('apiVersion')!r} is not in group {spec['group']}")
    metadata = claim.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not name or not namespace:
        raise RenderError(f"{claim.get('kind')} claim needs metadata.name and metadata.namespace")
    schema = api.served_version(version)["schema"]["openAPIV3Schema"]
    claim_spec = _apply_defaults(schema["properties"]["spec"], copy.deepcopy(claim.get("spec") or {}))
    try:
        jsonschema.validate(claim_spec, schema["properties"]["spec"])
    except jsonschema.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "spec"
        raise RenderError(f"{claim['kind']} {namespace}/{name}: spec.{where}: {error.message}") from error
    suffix = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:5]
    composite_name = f"{name}-{suffix}"
    labels = {
        **_without_reserved_k8s_keys(metadata.get("labels") or {}),
        CLAIM_NAME_LABEL: name,
        CLAIM_NAMESPACE_LABEL: namespace,
        # The composite reconciler labels a top-level composite with its own name.
        COMPOSITE_LABEL: composite_name,
    }
    composite_metadata: Object = {"name": composite_name, "uid": str(_uid(composite_name)), "labels": labels}
    annotations = _without_reserved_k8s_keys(metadata.get("annotations") or {})
    if annotations:
        composite_metadata["annotations"] = annotations
    return {
        "apiVersion": f"{spec['group']}/{version}",
        "kind": spec["names"]["kind"],
        "metadata": composite_metadata,
        "spec": {
            **{key: value for key, value in claim_spec.items() if key != "writeConnectionSecretToRef"},
            "claimRef": {
                "apiVersion": claim["apiVersion"],
                "kind": claim["kind"],
                "name": name,
                "namespace": namespace,
            },
            "compositionRef": {"name": api.composition["metadata"]["name"]},
            # Crossplane writes the composite's secret to the Composition's namespace, named after the XR's uid.
            "writeConnectionSecretToRef": {
                "name": str(_uid(composite_name)),
                "namespace": api.composition["spec"].get("writeConnectionSecretsToNamespace", "crossplane-system"),
            },
        },
    }


def _without_reserved_k8s_keys(entries: Mapping[str, str]) -> dict[str, str]:
    """The claim's labels or annotations as the claim controller copies them to the composite: without keys whose
    prefix ends in kubernetes.io or k8s.io (e.g. app.kubernetes.io/*, kubectl.kubernetes.io/*)."""
    return {key: value for key, value in entries.items() if not key.split("/")[0].endswith(("kubernetes.io", "k8s.io"))}


def _uid(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def composed_metadata(resource: Object, template_name: str, composite: Object, observed: Object | None) -> None:
    """What Crossplane adds to every composed resource before applying it."""
    metadata = resource.setdefault("metadata", {})
    if observed is not None:
        metadata["name"] = observed["metadata"]["name"]
    elif not metadata.get("name") and not metadata.get("generateName"):
        metadata["generateName"] = f"{composite['metadata']['labels'][COMPOSITE_LABEL]}-"
    metadata.setdefault("annotations", {})[RESOURCE_NAME_ANNOTATION] = template_name
    labels = metadata.setdefault("labels", {})
    for key in (COMPOSITE_LABEL, CLAIM_NAME_LABEL, CLAIM_NAMESPACE_LABEL):
        labels[key] = composite["metadata"]["labels"][key]
    metadata["ownerReferences"] = [
        {
            "apiVersion": composite["apiVersion"],
            "kind": composite["kind"],
            "name": composite["metadata"]["name"],
            "uid": composite["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def connection_details(template: Mapping[str, Any], observed: Object, secret: Mapping[str, str]) -> dict[str, str]:
    details: dict[str, str] = {}
    for detail in template.get("connectionDetails", []):
        kind, name = detail.get("type"), detail.get("name")
        if not name:
            raise RenderError(f"resource {template['name']!r}: a connection detail needs a name")
        # P&T's ValidateConnectionDetail: each type needs its own field.
        needed = {"FromValue": "value", "FromConnectionSecretKey": "fromConnectionSecretKey"}.get(kind, "fromFieldPath")
        if kind in ("FromValue", "FromConnectionSecretKey", "FromFieldPath") and needed not in detail:
            raise RenderError(
                f"resource {template['name']!r}: connection detail {name!r} of type {kind} needs {needed}"
            )
        if kind == "FromValue":
            details[name] = detail["value"]
        elif kind == "FromConnectionSecretKey":
            if detail["fromConnectionSecretKey"] in secret:
                details[name] = secret[detail["fromConnectionSecretKey"]]
        elif kind == "FromFieldPath":
            try:
                value = get_value(observed, detail["fromFieldPath"])
            except FieldNotFound:
                continue  # P&T: it may exist on a later reconcile
            details[name] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        else:
            raise RenderError(f"resource {template['name']!r}: connection detail type {kind!r} is not supported")
    return details
