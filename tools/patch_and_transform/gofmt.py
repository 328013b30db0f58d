"""Go's formatting, where P&T's output depends on it: fmt.Sprintf (for the verbs compositions use), %v of a value,
strconv.FormatFloat and encoding/json.Marshal."""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Sequence
from typing import Any

from tools.patch_and_transform.errors import RenderError

_VERB = re.compile(r"%(?:\[(\d+)\])?([sdv%])")


def go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): the shortest digits that round-trip, never an exponent."""
    text = format(decimal.Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_value(value: Any) -> str:
    """A scalar as Go's %v prints it (true/false, integral floats without a fraction)."""
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
        return go_value(value)

    result = _VERB.sub(substitute, fmt)
    if len(used) != len(args):
        raise RenderError(f"format {fmt!r}: {len(args) - len(used)} unused argument(s) (Go appends %!(EXTRA ...))")
    return result


def go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, map keys sorted, UTF-8 kept, and <, >, &, U+2028, U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text
