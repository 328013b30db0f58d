"""Field paths in crossplane-runtime's fieldpath syntax: `spec.rule[0].tags[crossplane.io/name]`."""

from __future__ import annotations

import copy
from typing import Any

from tools.patch_and_transform.errors import RenderError

Object = dict[str, Any]


class FieldNotFound(RenderError):
    """A field path does not exist in an object (P&T's fieldpath.IsNotFound)."""


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
