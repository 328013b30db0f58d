"""Render our platform.notejam.io claims offline into the AWS managed resources they compose.

`crank render` and function-patch-and-transform cannot be installed here, so this module evaluates what our
Compositions use, the way Crossplane v2 (claims + `apiextensions.crossplane.io/v1` XRDs) and
function-patch-and-transform v0.10.8 do it. Anything outside that subset raises `RenderError`: an unknown patch,
transform, policy or function is never silently skipped.

What is evaluated, and where the behaviour comes from:

* Claim -> composite (Crossplane's claim controller, `claim/syncer_ssa.go`): the XRD's schema defaults are applied
  (as the API server does), `spec.parameters` is validated against the XRD and copied; the composite is named
  `<claim>-<suffix>` (Crossplane uses a random 5-character suffix; ours is derived from the claim's namespace/name so
  renders are reproducible). It carries the claim's labels and annotations except `*kubernetes.io`/`*k8s.io` ones,
  the labels `crossplane.io/claim-name` / `crossplane.io/claim-namespace`, and `crossplane.io/composite: <its name>`
  (added by the composite reconciler; composed resources take their name prefix from it).
* Pipeline: steps run in order. `function-patch-and-transform` takes a `pt.fn.crossplane.io/v1beta1 Resources`
  input; `function-auto-ready` changes no resource (it only marks observed-Ready ones ready).
* Patch types: FromCompositeFieldPath, CombineFromComposite (strategy `string`, Go `fmt.Sprintf` verbs `%s %d %v
  %%` and explicit indexes like `%[2]s`), ToCompositeFieldPath, PatchSet. `toFieldPath` defaults to
  `fromFieldPath`; only the default `Replace` toFieldPath policy is supported.
* `policy.fromFieldPath`: `Optional` (default) skips a patch whose source is missing; `Required` on a patch to a
  composed resource that does not exist yet leaves that resource out of the desired state, as P&T does; on one that
  exists only that patch is skipped (with a warning), so the resource is never deleted. Any other patch error is
  fatal (P&T returns a fatal result).
* Transforms: map (string input only), string (Format, Convert ToUpper/ToLower/ToJson/ToBase64, Join with a
  separator of at most one character), convert (string, int/int64, float64, bool in the pairs P&T supports with the
  default format) and math (Multiply, ClampMin, ClampMax). As in P&T's validation, a string or math transform must
  name its `type` (the schema's `default` is never applied to function input).
* Connection details (only from observed resources, as P&T): FromConnectionSecretKey, FromFieldPath (strings as
  is, other values as JSON), FromValue; then filtered by the XRD's `connectionSecretKeys` (an empty or absent list
  publishes every key), which is what reaches the claim's Secret.
* Composed metadata (Crossplane's RenderComposedResourceMetadata): `generateName: <crossplane.io/composite label>-`
  unless the template names the resource or sets its own generateName (the observed name when one is given),
  annotation `crossplane.io/composition-resource-name`, labels `crossplane.io/composite`, `crossplane.io/claim-name`,
  `crossplane.io/claim-namespace`, and a controller owner reference to the composite.
* Reconciles: Crossplane writes the desired composite status back to the composite (the API server prunes fields
  the XRD's status schema does not declare; `render` does too, with a warning) and calls the pipeline again. When
  a pass changes the status, `render` runs a second pass, so an observed `status.atProvider.arn` reaches another
  resource through the composite status, as it does in a cluster after two reconciles.

    python -m tools.render --help
"""

from __future__ import annotations

import argparse
import base64
import copy
import decimal
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
APIS_DIR = REPO_ROOT / "crossplane" / "apis"
OVERLAYS_DIR = REPO_ROOT / "overlays"
PLATFORM_GROUP = "platform.notejam.io"

PT_FUNCTION = "function-patch-and-transform"
AUTO_READY_FUNCTION = "function-auto-ready"
PT_INPUT_API_VERSION = "pt.fn.crossplane.io/v1beta1"

RESOURCE_NAME_ANNOTATION = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"

Object = dict[str, Any]


class RenderError(Exception):
    """The claim or composition cannot be rendered; the message says which resource, patch and why."""


class FieldNotFound(RenderError):
    """A field path does not exist in an object (P&T's fieldpath.IsNotFound)."""


@dataclass
class Rendering:
    """Everything one render of a claim produced."""

    composite: Object
    resources: list[Object]
    connection_details: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --- field paths (crossplane-runtime fieldpath syntax) ---------------------------------------------------------


def parse_field_path(path: str) -> list[str | int]:
    """Split `spec.rule[0].tags[crossplane.io/name]` into ['spec', 'rule', 0, 'tags', 'crossplane.io/name']."""
    segments: list[str | int] = []
    buf = ""
    i = 0
    after_bracket = False
    while i < len(path):
        char = path[i]
        if char == ".":
            if not buf and not after_bracket:
                raise RenderError(f"invalid field path {path!r}: empty segment")
            if buf:
                segments.append(buf)
            buf, after_bracket = "", False
        elif char == "[":
            if buf:
                segments.append(buf)
                buf = ""
            end = path.find("]", i)
            if end == -1:
                raise RenderError(f"invalid field path {path!r}: unclosed '['")
            inner = path[i + 1 : end]
            if inner == "*":
                raise RenderError(f"field path {path!r}: wildcards are not supported by tools.render")
            if not inner:
                raise RenderError(f"invalid field path {path!r}: empty '[]'")
            segments.append(int(inner) if inner.isdigit() else inner)
            i, after_bracket = end, True
        else:
            buf += char
        i += 1
    if buf:
        segments.append(buf)
    if not segments:
        raise RenderError(f"invalid field path {path!r}: empty")
    return segments


def get_value(obj: Any, path: str) -> Any:
    """The value at `path`; FieldNotFound when any segment is missing."""
    current = obj
    for segment in parse_field_path(path):
        if isinstance(segment, int):
            if not isinstance(current, list) or segment >= len(current):
                raise FieldNotFound(f"{path}: no element {segment}")
            current = current[segment]
        else:
            if not isinstance(current, dict) or segment not in current:
                raise FieldNotFound(f"{path}: no field {segment!r}")
            current = current[segment]
    return current


def set_value(obj: Object, path: str, value: Any) -> None:
    """Set `path` to a copy of `value`, creating missing objects and growing arrays on the way (Replace policy);
    an existing value of the wrong shape on the way is an error, as in crossplane-runtime's fieldpath."""
    segments = parse_field_path(path)
    current: Any = obj
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        following = None if last else segments[position + 1]
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(segment, int):
            if not isinstance(current, list):
                raise RenderError(f"cannot set {path}: {segment} indexes a non-array")
            while len(current) <= segment:
                current.append(None)
            if last:
                current[segment] = copy.deepcopy(value)
            elif current[segment] is None:
                current[segment] = empty
            current = current[segment]
        else:
            if not isinstance(current, dict):
                raise RenderError(f"cannot set {path}: {segment!r} is a field of a non-object")
            if last:
                current[segment] = copy.deepcopy(value)
            elif current.get(segment) is None:
                current[segment] = empty
            current = current[segment]


# --- Go formatting (fmt.Sprintf for the verbs compositions use) -------------------------------------------------

_VERB = re.compile(r"%(?:\[(\d+)\])?([sdv%])")


def _go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): the shortest digits that round-trip, never an exponent."""
    text = format(decimal.Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _go_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict | list):
        raise RenderError(f"%v of {type(value).__name__} prints Go's map/slice syntax; use a ToJson transform")
    return str(value)


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """Go's fmt.Sprintf for `%s`, `%d`, `%v`, `%%` and `%[n]s`.

    Go prints `%!s(int64=5)` into the result when a verb and a value's type disagree, or `%!(EXTRA ...)` for unused
    arguments; a composition never wants that text in a resource, so this raises instead.
    """
    next_arg = 0
    used: set[int] = set()

    def substitute(match: re.Match[str]) -> str:
        nonlocal next_arg
        index_text, verb = match.groups()
        if verb == "%":
            return "%"
        index = int(index_text) - 1 if index_text else next_arg
        next_arg = index + 1
        if index < 0 or index >= len(args):
            raise RenderError(f"format {fmt!r}: missing argument {index + 1} (Go prints %!{verb}(MISSING))")
        used.add(index)
        value = args[index]
        if verb == "s" and not isinstance(value, str):
            raise RenderError(f"format {fmt!r}: %s of {type(value).__name__} {value!r} (Go prints %!s(...))")
        if verb == "d" and (isinstance(value, bool) or not isinstance(value, int)):
            raise RenderError(f"format {fmt!r}: %d of {type(value).__name__} {value!r} (Go prints %!d(...))")
        return _go_value(value)

    result = _VERB.sub(substitute, fmt)
    if len(used) != len(args):
        raise RenderError(f"format {fmt!r}: {len(args) - len(used)} unused argument(s) (Go appends %!(EXTRA ...))")
    return result


# --- transforms ------------------------------------------------------------------------------------------------


def _transform_map(config: Mapping[str, Any], value: Any) -> Any:
    if not isinstance(value, str):
        raise RenderError(f"type {type(value).__name__} is not supported for map transform (input {value!r})")
    if value not in config:
        raise RenderError(f"key {value} is not found in map")
    return copy.deepcopy(config[value])


def _go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, map keys sorted, UTF-8 kept, and <, >, &, U+2028, U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _transform_string(config: Mapping[str, Any], value: Any) -> str:
    # P&T's ValidateStringTransform: function input gets no schema defaults, so the type must be named.
    kind = config.get("type")
    if not kind:
        raise RenderError("string transform type is required")
    if kind == "Format":
        if "fmt" not in config:
            raise RenderError("string transform of type Format fmt is not set")
        return go_sprintf(config["fmt"], [value])
    if kind == "Convert":
        conversion = config.get("convert")
        if conversion == "ToUpper":
            return _go_value(value).upper()
        if conversion == "ToLower":
            return _go_value(value).lower()
        if conversion == "ToJson":
            return _go_json(value)
        if conversion == "ToBase64":
            return base64.b64encode(_go_value(value).encode()).decode()
        raise RenderError(f"string convert {conversion!r} is not supported by tools.render")
    if kind == "Join":
        if not isinstance(value, list):
            raise RenderError("could not parse input array for string Join transform")
        separator = config["join"]["separator"]
        if len(separator) > 1:
            # Some P&T releases cut only the last byte of the trailing separator; which behaviour v0.10.8 has is
            # not verified, so a longer separator is refused rather than guessed.
            raise RenderError(f"Join with separator {separator!r}: only separators of at most one character")
        return separator.join(_go_value(item) for item in value)
    raise RenderError(f"string transform type {kind!r} is not supported by tools.render")


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    raise RenderError(f"invalid input type {type(value).__name__} for convert transform")


def _to_bool(text: str) -> bool:
    # strconv.ParseBool
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise RenderError(f"cannot convert {text!r} to bool")


def _to_int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError as error:
        raise RenderError(f"cannot convert {text!r} to int64") from error


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError as error:
        raise RenderError(f"cannot convert {text!r} to float64") from error


_CONVERSIONS: dict[tuple[str, str], Any] = {
    ("string", "int64"): _to_int,
    ("string", "bool"): _to_bool,
    ("string", "float64"): _to_float,
    ("int64", "string"): str,
    ("int64", "float64"): float,
    ("int64", "bool"): lambda value: value == 1,
    ("bool", "string"): _go_value,
    ("bool", "int64"): int,
    ("bool", "float64"): float,
    ("float64", "string"): _go_float,
    ("float64", "int64"): int,
    ("float64", "bool"): lambda value: value == 1.0,
}


def _transform_convert(config: Mapping[str, Any], value: Any) -> Any:
    if config.get("format", "none") != "none":
        raise RenderError(f"convert format {config['format']!r} is not supported by tools.render")
    target = {"int": "int64"}.get(config["toType"], config["toType"])
    source = _go_type(value)
    if source == target:
        return value
    conversion = _CONVERSIONS.get((source, target))
    if conversion is None:
        raise RenderError(f"conversion from {source} to {target} is not supported")
    return conversion(value)


def _transform_math(config: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RenderError(f"input is required to be a number for math transformer, got {type(value).__name__}")
    kind = config.get("type")
    if not kind:
        raise RenderError("math transform type is required")  # P&T's ValidateMathTransform
    if kind == "Multiply":
        return value * config["multiply"]
    if kind == "ClampMin":
        return config["clampMin"] if int(value) < config["clampMin"] else value
    if kind == "ClampMax":
        return config["clampMax"] if int(value) > config["clampMax"] else value
    raise RenderError(f"type {kind} is not supported for math transform type")


_TRANSFORMS = {
    "map": _transform_map,
    "string": _transform_string,
    "convert": _transform_convert,
    "math": _transform_math,
}


def apply_transforms(transforms: Sequence[Mapping[str, Any]], value: Any) -> Any:
    """Run a patch's transforms in order, naming the failing one."""
    for index, transform in enumerate(transforms):
        kind = transform.get("type")
        handler = _TRANSFORMS.get(kind)
        if handler is None:
            raise RenderError(f"transform at index {index}: type {kind!r} is not supported by tools.render")
        if kind not in transform:
            raise RenderError(f"transform at index {index}: given transform type {kind} requires configuration")
        try:
            value = handler(transform[kind], value)
        except RenderError as error:
            raise RenderError(f"transform at index {index} ({kind}): {error}") from error
    return value


# --- patches ---------------------------------------------------------------------------------------------------

TO_COMPOSED = {"FromCompositeFieldPath", "CombineFromComposite"}
FROM_COMPOSED = {"ToCompositeFieldPath"}


def _validate_patch(patch: Mapping[str, Any]) -> None:
    """The checks P&T's ValidateResources makes, for the patch types we evaluate."""
    kind = patch.get("type", "FromCompositeFieldPath")
    if kind in ("FromCompositeFieldPath", "ToCompositeFieldPath") and not patch.get("fromFieldPath"):
        raise RenderError(f"fromFieldPath is required by type {kind}")
    if kind == "CombineFromComposite":
        combine = patch.get("combine") or {}
        if not combine.get("variables"):
            raise RenderError("combine.variables is required by type CombineFromComposite")
        if not patch.get("toFieldPath"):
            raise RenderError("toFieldPath is required by type CombineFromComposite")
    if kind == "PatchSet" and not patch.get("patchSetName"):
        raise RenderError("patchSetName is required by type PatchSet")
    if kind not in TO_COMPOSED | FROM_COMPOSED | {"PatchSet"}:
        raise RenderError(f"patch type {kind!r} is not supported by tools.render")
    policy = patch.get("policy") or {}
    if policy.get("fromFieldPath", "Optional") not in ("Optional", "Required"):
        raise RenderError(f"invalid fromFieldPath policy {policy['fromFieldPath']!r}")
    if policy.get("toFieldPath", "Replace") != "Replace":
        raise RenderError(f"toFieldPath policy {policy['toFieldPath']!r} is not supported by tools.render")


def _resolve_patch_sets(pt_input: Mapping[str, Any], patches: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    sets = {patch_set["name"]: patch_set.get("patches", []) for patch_set in pt_input.get("patchSets", [])}
    resolved: list[Mapping[str, Any]] = []
    for patch in patches:
        _validate_patch(patch)
        if patch.get("type") != "PatchSet":
            resolved.append(patch)
            continue
        name = patch["patchSetName"]
        if name not in sets:
            raise RenderError(f"cannot find PatchSet by name {name}")
        for inner in sets[name]:
            _validate_patch(inner)
            if inner.get("type") == "PatchSet":
                raise RenderError("a patch in a PatchSet cannot be of type PatchSet")
            resolved.append(inner)
    return resolved


def _patch_value(patch: Mapping[str, Any], source: Object) -> Any:
    """The value a patch writes: read (or combine) from `source`, then transformed."""
    if patch.get("type") == "CombineFromComposite":
        combine = patch["combine"]
        if combine.get("strategy") != "string":
            raise RenderError(f"combine strategy {combine.get('strategy')} is not supported")
        values = [get_value(source, variable["fromFieldPath"]) for variable in combine["variables"]]
        value: Any = go_sprintf(combine["string"]["fmt"], values)
    else:
        value = get_value(source, patch["fromFieldPath"])
    return apply_transforms(patch.get("transforms", []), value)


# --- claim -> composite ----------------------------------------------------------------------------------------


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


# --- the pipeline ----------------------------------------------------------------------------------------------


def _composed_metadata(resource: Object, template_name: str, composite: Object, observed: Object | None) -> None:
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


def _connection_details(template: Mapping[str, Any], observed: Object, secret: Mapping[str, str]) -> dict[str, str]:
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


def run_patch_and_transform(
    pt_input: Mapping[str, Any],
    composite: Object,
    desired_composite: Object,
    desired: dict[str, Object],
    observed: Mapping[str, Object],
    connection_secrets: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, str], list[str]]:
    """One call of function-patch-and-transform: fills `desired` and `desired_composite`, returns details."""
    if pt_input.get("apiVersion") != PT_INPUT_API_VERSION or pt_input.get("kind") != "Resources":
        raise RenderError(
            f"pipeline input must be {PT_INPUT_API_VERSION} Resources, got "
            f"{pt_input.get('apiVersion')} {pt_input.get('kind')}"
        )
    details: dict[str, str] = {}
    warnings: list[str] = []
    seen: set[str] = set()
    for template in pt_input.get("resources", []):
        name = template.get("name")
        if not name:
            raise RenderError("every resource of a patch-and-transform input needs a name")
        if name in seen:
            raise RenderError(f"resource name {name!r} is used twice")
        seen.add(name)
        if "base" not in template:
            raise RenderError(f"composed resource {name!r} has no base template")
        resource = copy.deepcopy(template["base"])
        observed_resource = observed.get(name)
        if observed_resource is not None:
            details.update(_connection_details(template, observed_resource, connection_secrets.get(name, {})))
        keep = True
        for index, patch in enumerate(_resolve_patch_sets(pt_input, template.get("patches", []))):
            kind = patch.get("type", "FromCompositeFieldPath")
            where = f"resource {name!r} {kind} patch at index {index}"
            if kind in FROM_COMPOSED and observed_resource is None:
                continue  # nothing observed to patch from yet
            source = composite if kind in TO_COMPOSED else observed_resource
            target = resource if kind in TO_COMPOSED else desired_composite
            try:
                value = _patch_value(patch, source)
            except FieldNotFound as missing:
                required = (patch.get("policy") or {}).get("fromFieldPath") == "Required"
                if required and kind in TO_COMPOSED and observed_resource is None:
                    warnings.append(f"not adding new composed resource {name!r}: {where} is Required: {missing}")
                    keep = False
                    break
                if required:
                    # P&T keeps an existing resource (dropping it would delete it) and skips only this patch.
                    warnings.append(f"{where}: ignoring 'policy.fromFieldPath: Required' because the target exists")
                continue
            except RenderError as error:
                raise RenderError(f"cannot render {where}: {error}") from error
            to_path = patch.get("toFieldPath") or patch["fromFieldPath"]
            try:
                set_value(target, to_path, value)
            except RenderError as error:
                raise RenderError(f"cannot render {where}: {error}") from error
        if keep:
            desired[name] = resource
    return details, warnings


def _run_pipeline(
    api: PlatformAPI,
    composite: Object,
    observed: Mapping[str, Object],
    connection_secrets: Mapping[str, Mapping[str, str]],
) -> tuple[Object, dict[str, Object], dict[str, str], list[str]]:
    composition = api.composition
    if composition["spec"].get("mode") != "Pipeline":
        raise RenderError(f"composition {composition['metadata']['name']}: only mode Pipeline is supported")
    desired_composite: Object = {"apiVersion": composite["apiVersion"], "kind": composite["kind"]}
    desired: dict[str, Object] = {}
    details: dict[str, str] = {}
    warnings: list[str] = []
    for step in composition["spec"]["pipeline"]:
        function = step["functionRef"]["name"]
        if function == PT_FUNCTION:
            step_details, step_warnings = run_patch_and_transform(
                step.get("input", {}), composite, desired_composite, desired, observed, connection_secrets
            )
            details.update(step_details)
            warnings.extend(step_warnings)
        elif function != AUTO_READY_FUNCTION:
            raise RenderError(f"step {step.get('step')!r}: function {function!r} is not supported by tools.render")
    return desired_composite, desired, details, warnings


def _prune(schema: Mapping[str, Any], value: Any, path: str) -> tuple[Any, list[str]]:
    """`value` as a structural schema keeps it (the API server drops unknown object fields), and the dropped paths."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value, []
    if schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema:
        return value, []
    properties = schema.get("properties", {})
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, child in value.items():
        if key not in properties:
            dropped.append(f"{path}.{key}")
            continue
        kept[key], more = _prune(properties[key], child, f"{path}.{key}")
        dropped.extend(more)
    return kept, dropped


def render(
    claim: Mapping[str, Any],
    observed: Sequence[Mapping[str, Any]] | None = None,
    connection_secrets: Mapping[str, Mapping[str, str]] | None = None,
    apis: Mapping[str, PlatformAPI] | None = None,
) -> Rendering:
    """Render a claim. `observed` are composed resources as they exist (matched by composition-resource-name);
    `connection_secrets` maps a composition resource name to the keys of its observed connection secret."""
    apis = load_apis() if apis is None else apis
    api = apis.get(claim.get("kind", ""))
    if api is None:
        raise RenderError(f"no platform API offers claim kind {claim.get('kind')!r} (known: {sorted(apis)})")
    by_name: dict[str, Object] = {}
    for resource in observed or []:
        resource_name = ((resource.get("metadata") or {}).get("annotations") or {}).get(RESOURCE_NAME_ANNOTATION)
        if not resource_name:
            raise RenderError(f"observed {resource.get('kind')} lacks annotation {RESOURCE_NAME_ANNOTATION}")
        by_name[resource_name] = copy.deepcopy(dict(resource))
    composite = claim_to_composite(claim, api)
    desired_composite, desired, details, warnings = _run_pipeline(api, composite, by_name, connection_secrets or {})
    version = composite["apiVersion"].partition("/")[2]
    status_schema = api.served_version(version)["schema"]["openAPIV3Schema"]["properties"].get("status", {})
    written, pruned = _prune(status_schema, desired_composite.get("status", {}), "status")
    status = {**composite.get("status", {}), **written}
    if status != composite.get("status", {}):
        # The next reconcile sees the status this one wrote. ToComposite patches read only the (fixed) observed
        # resources, so the second pass is already the fixed point.
        composite["status"] = status
        desired_composite, desired, details, warnings = _run_pipeline(api, composite, by_name, connection_secrets or {})
    warnings.extend(
        f"{path} is not in the XRD's schema: the API server prunes it from the composite" for path in pruned
    )
    resources = []
    for template_name, resource in desired.items():
        _composed_metadata(resource, template_name, composite, by_name.get(template_name))
        resources.append(resource)
    # XRD connectionSecretKeys: "If the list is empty, all keys will be published."
    published = set(api.definition["spec"].get("connectionSecretKeys") or details)
    return Rendering(
        composite=composite,
        resources=resources,
        connection_details={key: value for key, value in details.items() if key in published},
        warnings=warnings,
    )


PLACEHOLDER_ACCOUNT = "000000000000"


def assume_created(resources: Sequence[Object], account: str = PLACEHOLDER_ACCOUNT) -> list[Object]:
    """`resources` as the cluster would show them once the providers created them: named, with a placeholder
    `status.atProvider.arn` of arn:aws:<service>:<region>:<account>:<kind>/<composition resource name>."""
    observed = []
    for index, resource in enumerate(resources):
        created = copy.deepcopy(dict(resource))
        metadata = created["metadata"]
        metadata["name"] = f"{metadata.pop('generateName', 'composed-')}{index:05d}"
        service = created["apiVersion"].split(".")[0]
        region = created.get("spec", {}).get("forProvider", {}).get("region", "")
        name = metadata["annotations"][RESOURCE_NAME_ANNOTATION]
        arn = f"arn:aws:{service}:{region}:{account}:{created['kind'].lower()}/{name}"
        created["status"] = {"atProvider": {"arn": arn}}
        observed.append(created)
    return observed


def render_settled(
    claim: Mapping[str, Any],
    connection_secrets: Mapping[str, Mapping[str, str]] | None = None,
    account: str = PLACEHOLDER_ACCOUNT,
    created: Callable[[Sequence[Object], str], list[Object]] = assume_created,
) -> Rendering:
    """Render as after enough reconciles: every rendered resource is assumed created (`created`), which lets
    resources waiting for an ARN appear, until nothing new appears."""
    rendering = render(claim)
    while True:
        again = render(claim, created(rendering.resources, account), connection_secrets)
        if len(again.resources) == len(rendering.resources):
            return again
        rendering = again


def render_claim(claim: dict, observed: list[dict] | None = None) -> list[dict]:
    """The composed resources of `claim` (public API for other tests)."""
    return render(claim, observed).resources


# --- command line ----------------------------------------------------------------------------------------------


def example_claims(apis_dir: Path = APIS_DIR) -> list[Object]:
    """The example claims of every API: the API contract the overlays copy."""
    claims = []
    for path in sorted(apis_dir.glob("*/examples/*.yaml")):
        claims.extend(doc for doc in yaml.safe_load_all(path.read_text()) if is_claim(doc))
    return claims


def is_claim(document: Any) -> bool:
    return isinstance(document, dict) and document.get("apiVersion", "").startswith(f"{PLATFORM_GROUP}/")


def overlay_claims(overlays_dir: Path = OVERLAYS_DIR) -> dict[str, list[Object]]:
    """Each overlay's claims, built with kustomize; empty when no overlay exists yet."""
    kustomize = os.environ.get("KUSTOMIZE", str(REPO_ROOT / ".tools" / "bin" / "kustomize"))
    claims: dict[str, list[Object]] = {}
    for overlay in sorted(overlays_dir.glob("*/kustomization.yaml")):
        built = subprocess.run(  # noqa: S603 - a fixed tool on our own paths
            [kustomize, "build", str(overlay.parent)], check=True, capture_output=True, text=True
        ).stdout
        claims[overlay.parent.name] = [doc for doc in yaml.safe_load_all(built) if is_claim(doc)]
    return claims


def _dump(documents: Sequence[Object]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render",
        description="Render platform.notejam.io claims into their composed AWS resources (offline).",
        epilog="With no CLAIM files, renders every overlay's claims (overlays/<env>, built with kustomize); "
        "without overlays, the example claims in crossplane/apis/*/examples.",
    )
    parser.add_argument("claims", nargs="*", type=Path, metavar="CLAIM.yaml", help="claim manifests to render")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--observed",
        type=Path,
        metavar="FILE",
        help="YAML stream of observed composed resources (like crank --observed-resources)",
    )
    source.add_argument(
        "--assume-created",
        action="store_true",
        help="show the end state: pretend AWS created every resource and reported a placeholder ARN "
        f"(account {PLACEHOLDER_ACCOUNT}), so the resources that wait for an ARN appear too",
    )
    args = parser.parse_args(argv)
    observed = list(yaml.safe_load_all(args.observed.read_text())) if args.observed else None
    if args.claims:
        groups = {
            "claims": [doc for path in args.claims for doc in yaml.safe_load_all(path.read_text()) if is_claim(doc)]
        }
    else:
        groups = overlay_claims() or {"examples": example_claims()}
    try:
        for environment, claims in groups.items():
            for claim in claims:
                rendering = render_settled(claim) if args.assume_created else render(claim, observed)
                meta = claim["metadata"]
                print(f"# environment: {environment}; {claim['kind']} {meta['namespace']}/{meta['name']}")
                for warning in rendering.warnings:
                    print(f"# warning: {warning}")
                print(_dump([rendering.composite, *rendering.resources]), end="")
                print("---")
    except RenderError as error:
        print(f"render failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
