"""Patch transforms: map (string input only), string (Format, Convert ToUpper/ToLower/ToJson/ToBase64, Join with a
separator of at most one character), convert (string, int/int64, float64, bool in the pairs P&T supports with the
default format) and math (Multiply, ClampMin, ClampMax). As in P&T's validation, a string or math transform must
name its `type` (the schema's `default` is never applied to function input)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.gofmt import go_float, go_json, go_sprintf, go_value


def _transform_map(config: Mapping[str, Any], value: Any) -> Any:
    if not isinstance(value, str):
        raise RenderError(f"type {type(value).__name__} is not supported for map transform (input {value!r})")
    if value not in config:
        raise RenderError(f"key {value} is not found in map")
    return copy.deepcopy(config[value])


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
            return go_value(value).upper()
        if conversion == "ToLower":
            return go_value(value).lower()
        if conversion == "ToJson":
            return go_json(value)
        if conversion == "ToBase64":
            return base64.b64encode(go_value(value).encode()).decode()
        raise RenderError(f"string convert {conversion!r} is not supported by tools.render")
    if kind == "Join":
        if not isinstance(value, list):
            raise RenderError("could not parse input array for string Join transform")
        separator = config["join"]["separator"]
        if len(separator) > 1:
            # Some P&T releases cut only the last byte of the trailing separator; which behaviour v0.10.8 has is
            # not verified, so a longer separator is refused rather than guessed.
            raise RenderError(f"Join with separator {separator!r}: only separators of at most one character")
        return separator.join(go_value(item) for item in value)
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
    ("bool", "string"): go_value,
    ("bool", "int64"): int,
    ("bool", "float64"): float,
    ("float64", "string"): go_float,
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
