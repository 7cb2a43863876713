"""JavaScript semantics the TypeScript validator relies on, so messages and paths match it exactly.

The definition arrives as JSON that TypeScript already validated with the same rules; to report the
same `{path, reason}` for the same input, Python must format numbers, strings, key order and string
lengths the way JavaScript does (`String(n)`, `JSON.stringify`, `Object.keys`, UTF-16 `.length`).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, Iterable, Sequence

Seg = str | int

# JavaScript's `\s` (and what String.prototype.trim removes): WhiteSpace + LineTerminator.
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile("[\u0000-\u001f\u007f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def js_trim(text: str) -> str:
    return text.strip(JS_SPACE)


def is_js_space(ch: str) -> bool:
    return ch != "" and ch in JS_SPACE


def utf16_len(text: str) -> int:
    """JavaScript's `.length`: astral characters count twice."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def utf16_slice(text: str, end: int) -> str:
    """`text.slice(0, end)` in UTF-16 units (may split a surrogate pair, as JavaScript does)."""
    if utf16_len(text) <= end:
        return text
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * end]
    return units.decode("utf-16-le", "surrogatepass")


def is_object(value: Any) -> bool:
    return isinstance(value, dict)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    if not is_number(value):
        return False
    if isinstance(value, int):
        return _int_fits_double(value)
    return math.isfinite(value)


def is_integer_number(value: Any) -> bool:
    """`Number.isInteger`."""
    if not is_number(value):
        return False
    if isinstance(value, int):
        return _int_fits_double(value)
    return math.isfinite(value) and value.is_integer()


def _int_fits_double(value: int) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def js_typeof(value: Any) -> str:
    if value is None:
        return "object"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def js_strict_equal(a: Any, b: Any) -> bool:
    """`a === b` for JSON primitives (1 === 1.0, but 1 !== true)."""
    if js_typeof(a) != js_typeof(b):
        return False
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return a is b
    return a == b


def js_number_str(value: int | float) -> str:
    """`String(n)` for a JavaScript number."""
    if isinstance(value, int):
        if abs(value) < 10**21:
            return str(value)
        try:
            value = float(value)
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest round-trip digits, as ECMAScript's Number::toString does.
    digits_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()[1:]
    digits = "".join(str(d) for d in digits_tuple)
    k = len(digits)
    n = k + int(exponent)  # value = 0.digits × 10^n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def js_json_string(text: str) -> str:
    """`JSON.stringify(text)`: like json.dumps without ASCII escaping, lone surrogates escaped."""
    out = json.dumps(text, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def js_keys(obj: dict) -> list[str]:
    """`Object.keys`: array-index keys first in ascending order, then the rest in insertion order."""
    index_keys: list[tuple[int, str]] = []
    other: list[str] = []
    for key in obj:
        if _ARRAY_INDEX.fullmatch(key) and int(key) < 2**32 - 1:
            index_keys.append((int(key), key))
        else:
            other.append(key)
    if not index_keys:
        return other
    index_keys.sort()
    return [k for _, k in index_keys] + other


def json_byte_length(value: Any) -> int:
    """`Buffer.byteLength(JSON.stringify(value))` for JSON-shaped data (depth already bounded by the caller)."""
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if is_number(value):
        return len(js_number_str(value)) if is_finite_number(value) else 4
    if isinstance(value, str):
        return len(js_json_string(value).encode("utf-8"))
    if isinstance(value, list):
        return 2 + max(0, len(value) - 1) + sum(json_byte_length(v) for v in value)
    if isinstance(value, dict):
        total = 2 + max(0, len(value) - 1)
        for key, item in value.items():
            total += len(js_json_string(key).encode("utf-8")) + 1 + json_byte_length(item)
        return total
    return 4  # not JSON: JSON.stringify would drop or null it


def format_path(root: str, segs: Sequence[Seg]) -> str:
    """"definition" + ["forward", 1, "with", "my-key"] → 'definition.forward[1].with["my-key"]'."""
    path = root
    for seg in segs:
        if isinstance(seg, int):
            path += f"[{seg}]"
        elif _IDENTIFIER.fullmatch(seg):
            path += f".{seg}"
        else:
            path += f"[{js_json_string(seg)}]"
    return path


def quote(text: str, max_len: int = 60) -> str:
    """A user string for a message: single-quoted, truncated, control characters escaped."""
    short = utf16_slice(text, max_len) + "…" if utf16_len(text) > max_len else text
    return "'" + _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", short) + "'"


def describe_value(value: Any) -> str:
    """"string 'abc'", "number 1.5", "boolean true", "null", "array", "object", …"""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if is_number(value):
        return f"number {js_number_str(value)}"
    if isinstance(value, str):
        return f"string {quote(value)}"
    return "object"


def format_list(items: Iterable[str]) -> str:
    everything = list(items)
    return ", ".join(everything) if everything else "none"
