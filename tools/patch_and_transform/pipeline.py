"""The composition pipeline and `render`, the entry point: a claim (and optionally its observed composed resources)
in, the composite and the composed resources Crossplane would apply out.

* Pipeline: steps run in order. `function-patch-and-transform` takes a `pt.fn.crossplane.io/v1beta1 Resources`
  input; `function-auto-ready` changes no resource (it only marks observed-Ready ones ready).
* `policy.fromFieldPath`: `Optional` (default) skips a patch whose source is missing; `Required` on a patch to a
  composed resource that does not exist yet leaves that resource out of the desired state, as P&T does; on one that
  exists only that patch is skipped (with a warning), so the resource is never deleted. Any other patch error is
  fatal (P&T returns a fatal result).
* Connection details are filtered by the XRD's `connectionSecretKeys` (an empty or absent list publishes every
  key), which is what reaches the claim's Secret.
* Reconciles: Crossplane writes the desired composite status back to the composite (the API server prunes fields
  the XRD's status schema does not declare; `render` does too, with a warning) and calls the pipeline again. When
  a pass changes the status, `render` runs a second pass, so an observed `status.atProvider.arn` reaches another
  resource through the composite status, as it does in a cluster after two reconciles.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.patch_and_transform.composite import (
    RESOURCE_NAME_ANNOTATION,
    PlatformAPI,
    claim_to_composite,
    composed_metadata,
    connection_details,
    load_apis,
)
from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.fieldpath import FieldNotFound, Object, set_value
from tools.patch_and_transform.patches import FROM_COMPOSED, TO_COMPOSED, patch_value, resolve_patch_sets

PT_FUNCTION = "function-patch-and-transform"
AUTO_READY_FUNCTION = "function-auto-ready"
PT_INPUT_API_VERSION = "pt.fn.crossplane.io/v1beta1"


@dataclass
class Rendering:
    """Everything one render of a claim produced."""

    composite: Object
    resources: list[Object]
    connection_details: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
            details.update(connection_details(template, observed_resource, connection_secrets.get(name, {})))
        keep = True
        for index, patch in enumerate(resolve_patch_sets(pt_input, template.get("patches", []))):
            kind = patch.get("type", "FromCompositeFieldPath")
            where = f"resource {name!r} {kind} patch at index {index}"
            if kind in FROM_COMPOSED and observed_resource is None:
                continue  # nothing observed to patch from yet
            source = composite if kind in TO_COMPOSED else observed_resource
            target = resource if kind in TO_COMPOSED else desired_composite
            try:
                value = patch_value(patch, source)
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
    if written:
        # A new composite has no status; the next reconcile sees the one this pass wrote. ToComposite patches read
        # only the (fixed) observed resources, so the second pass is already the fixed point.
        composite["status"] = written
        desired_composite, desired, details, warnings = _run_pipeline(api, composite, by_name, connection_secrets or {})
    warnings.extend(
        f"{path} is not in the XRD's schema: the API server prunes it from the composite" for path in pruned
    )
    resources = []
    for template_name, resource in desired.items():
        composed_metadata(resource, template_name, composite, by_name.get(template_name))
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
