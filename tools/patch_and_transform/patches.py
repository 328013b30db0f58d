"""Patches: validation, patch sets, and the value a patch writes.

Patch types: FromCompositeFieldPath, CombineFromComposite (strategy `string`, Go `fmt.Sprintf` verbs `%s %d %v %%`
and explicit indexes like `%[2]s`), ToCompositeFieldPath, PatchSet. `toFieldPath` defaults to `fromFieldPath`; only
the default `Replace` toFieldPath policy is supported. What a missing source means (`policy.fromFieldPath`) is
decided by the caller, `pipeline.run_patch_and_transform`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.fieldpath import Object, get_value
from tools.patch_and_transform.gofmt import go_sprintf
from tools.patch_and_transform.transforms import apply_transforms

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


def resolve_patch_sets(pt_input: Mapping[str, Any], patches: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
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


def patch_value(patch: Mapping[str, Any], source: Object) -> Any:
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
