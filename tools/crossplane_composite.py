"""What Crossplane does before and after it calls a composition function, for `make render` and the tests.

The composition logic itself is our function (src/function), called in-process exactly as Crossplane calls it; this
module is only the small part around that call. Each piece names where Crossplane (v2.3, claims on
`apiextensions.crossplane.io/v1` XRDs) does the same:

* Claim -> composite: the API server applies the XRD's schema defaults and validates; the claim controller
  (`internal/controller/apiextensions/claim/syncer_ssa.go`) copies `spec`, the claim's labels and annotations except
  `*kubernetes.io`/`*k8s.io` ones, adds `crossplane.io/claim-name|namespace`, `spec.claimRef`; the composite
  reconciler labels it `crossplane.io/composite: <its name>` and points `writeConnectionSecretToRef` at the
  Composition's namespace with the composite's uid as name. Crossplane names the composite `<claim>-<random 5>`;
  here the suffix and the uid derive from the claim's namespace/name, so renders are reproducible.
* The request: the observed composite and composed resources (keyed by the annotation
  `crossplane.io/composition-resource-name`, with their connection details), the step's input, and the desired
  state of the previous step (`internal/controller/apiextensions/composite/composition_functions.go`).
* After the pipeline: composed metadata as `RenderComposedResourceMetadata` (`composition_render.go`) and
  `crossplane render` (`cmd/crank/render/render.go`, `SetComposedResourceMetadata`) set it, resources sorted by
  composition resource name as `crossplane render` prints them; the desired composite status is written back to the
  composite, where the API server prunes fields the XRD's status schema does not declare; connection details are
  published filtered by the XRD's `connectionSecretKeys`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import jsonschema
import yaml

from function.state import to_dict
from tools.repository import REPO_ROOT

APIS_DIR = REPO_ROOT / "crossplane" / "apis"
RESOURCE_NAME_ANNOTATION = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"

Object = dict[str, Any]


class CompositionRenderError(Exception):
    """A claim or composition that Crossplane would refuse; the message says why."""


@dataclass(frozen=True)
class PlatformAPI:
    """One folder under crossplane/apis: the XRD and its Composition."""

    definition: Object
    composition: Object

    @property
    def claim_kind(self) -> str:
        return self.definition["spec"]["claimNames"]["kind"]

    def schema(self, version: str) -> Mapping[str, Any]:
        for candidate in self.definition["spec"]["versions"]:
            if candidate["name"] == version and candidate.get("served"):
                return candidate["schema"]["openAPIV3Schema"]
        raise CompositionRenderError(f"{self.claim_kind}: version {version} is not served by the XRD")


def load_apis(apis_dir: Path = APIS_DIR) -> dict[str, PlatformAPI]:
    """Every API in crossplane/apis, keyed by claim kind (a private copy: callers may change it)."""
    files = sorted(apis_dir.glob("*/definition.yaml")) + sorted(apis_dir.glob("*/composition.yaml"))
    return copy.deepcopy(_parse_apis(apis_dir, tuple((str(p), p.stat().st_mtime_ns) for p in files)))


@functools.lru_cache(maxsize=8)
def _parse_apis(apis_dir: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, PlatformAPI]:
    # `stamp` (paths and mtimes) invalidates the cache on any edit.
    apis = {}
    for definition_file in sorted(apis_dir.glob("*/definition.yaml")):
        api = PlatformAPI(
            yaml.safe_load(definition_file.read_text()),
            yaml.safe_load((definition_file.parent / "composition.yaml").read_text()),
        )
        apis[api.claim_kind] = api
    return apis


def _apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server applies it to the XRD-generated CRD."""
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, child in schema.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = _apply_defaults(child, value[name])
    elif isinstance(value, list) and "items" in schema:
        return [_apply_defaults(schema["items"], item) for item in value]
    return value


def _without_reserved_k8s_keys(entries: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in entries.items() if not key.split("/")[0].endswith(("kubernetes.io", "k8s.io"))}


def _uid(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def claim_to_composite(claim: Mapping[str, Any], api: PlatformAPI) -> Object:
    """The composite Crossplane's claim controller creates for `claim`, after API-server defaulting."""
    group, _, version = claim.get("apiVersion", "").partition("/")
    spec = api.definition["spec"]
    if group != spec["group"]:
        raise CompositionRenderError(f"claim apiVersion {claim.get('apiVersion')!r} is not in group {spec['group']}")
    metadata = claim.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not name or not namespace:
        raise CompositionRenderError(f"{claim.get('kind')} claim needs metadata.name and metadata.namespace")
    spec_schema = api.schema(version)["properties"]["spec"]
    claim_spec = _apply_defaults(spec_schema, copy.deepcopy(claim.get("spec") or {}))
    try:
        jsonschema.validate(claim_spec, spec_schema)
    except jsonschema.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "spec"
        raise CompositionRenderError(f"{claim['kind']} {namespace}/{name}: spec.{where}: {error.message}") from error
    composite_name = f"{name}-{hashlib.sha256(f'{namespace}/{name}'.encode()).hexdigest()[:5]}"
    uid = _uid(composite_name)
    labels = {
        **_without_reserved_k8s_keys(metadata.get("labels") or {}),
        CLAIM_NAME_LABEL: name,
        CLAIM_NAMESPACE_LABEL: namespace,
        COMPOSITE_LABEL: composite_name,
    }
    composite_metadata: Object = {"name": composite_name, "uid": uid, "labels": labels}
    if annotations := _without_reserved_k8s_keys(metadata.get("annotations") or {}):
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
            "writeConnectionSecretToRef": {
                "name": uid,
                "namespace": api.composition["spec"].get("writeConnectionSecretsToNamespace", "crossplane-system"),
            },
        },
    }


def request(
    composite: Object,
    step: Mapping[str, Any],
    observed: Mapping[str, Object],
    connection_secrets: Mapping[str, Mapping[str, str]],
    desired: fnv1.State | None = None,
) -> fnv1.RunFunctionRequest:
    """The RunFunctionRequest Crossplane sends to one pipeline step."""
    req = fnv1.RunFunctionRequest()
    if "input" in step:
        req.input.update(step["input"])
    req.observed.composite.resource.update(composite)
    for name, observed_resource in observed.items():
        req.observed.resources[name].resource.update(observed_resource)
        for key, value in connection_secrets.get(name, {}).items():
            req.observed.resources[name].connection_details[key] = value.encode()
    if desired is not None:
        req.desired.CopyFrom(desired)
    return req


def observed_by_name(resources: list[Mapping[str, Any]]) -> dict[str, Object]:
    by_name = {}
    for observed in resources:
        name = ((observed.get("metadata") or {}).get("annotations") or {}).get(RESOURCE_NAME_ANNOTATION)
        if not name:
            raise CompositionRenderError(f"observed {observed.get('kind')} lacks annotation {RESOURCE_NAME_ANNOTATION}")
        by_name[name] = copy.deepcopy(dict(observed))
    return by_name


def composed_resources(desired: fnv1.State, composite: Object, observed: Mapping[str, Object]) -> list[Object]:
    """The desired composed resources as Crossplane applies them, sorted by composition resource name."""
    resources = []
    for name in sorted(desired.resources):
        composed = to_dict(desired.resources[name].resource)
        metadata = composed.setdefault("metadata", {})
        if name in observed:  # an existing resource keeps its name
            metadata["name"] = observed[name]["metadata"]["name"]
        elif not metadata.get("name") and not metadata.get("generateName"):
            metadata["generateName"] = f"{composite['metadata']['labels'][COMPOSITE_LABEL]}-"
        metadata.setdefault("annotations", {})[RESOURCE_NAME_ANNOTATION] = name
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
        resources.append(composed)
    return resources


def _prune(schema: Mapping[str, Any], value: Any, path: str) -> tuple[Any, list[str]]:
    """`value` as the API server stores it under a structural schema (unknown fields dropped), and what it dropped."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value, []
    if schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema:
        return value, []
    kept, dropped = {}, []
    for key, child in value.items():
        if key not in schema.get("properties", {}):
            dropped.append(f"{path}.{key}")
            continue
        kept[key], more = _prune(schema["properties"][key], child, f"{path}.{key}")
        dropped.extend(more)
    return kept, dropped


def written_status(desired: fnv1.State, composite: Object, api: PlatformAPI) -> tuple[Object, list[str]]:
    """The desired composite status as the composite stores it, and the paths its schema pruned."""
    status = to_dict(desired.composite.resource).get("status", {})
    schema = api.schema(composite["apiVersion"].partition("/")[2])["properties"].get("status", {})
    return _prune(schema, status, "status")


def published_connection_details(desired: fnv1.State, api: PlatformAPI) -> dict[str, str]:
    details = {key: value.decode() for key, value in desired.composite.connection_details.items()}
    # XRD connectionSecretKeys: "If the list is empty, all keys will be published."
    published = set(api.definition["spec"].get("connectionSecretKeys") or details)
    return {key: value for key, value in details.items() if key in published}
