"""Field types (port of fieldTypes.ts).

A field type is JSON, exactly as the TypeScript side normalizes it:
"str" | "int" | "float" | "bool" | "dict" | {"list": T} | {"enum": [values]}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ._js import (
    Seg,
    describe_value,
    format_path,
    is_finite_number,
    is_integer_number,
    is_js_space,
    is_number,
    is_object,
    js_number_str,
    js_strict_equal,
    js_trim,
    js_typeof,
    quote,
)
from .limits import MAX_ENUM_VALUES, MAX_LIST_NESTING

FieldType = Any  # str | {"list": FieldType} | {"enum": list}

EXPECTED_TYPES = "expected str, int, float, bool, dict, list[T] or enum"
EXPECTED_PYTHON_TYPES = "expected str, int, float, bool, dict, list[T] or Literal[...]"
SCALARS = ("str", "int", "float", "bool", "dict")

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass
class TypeParse:
    ok: bool
    type: FieldType = None
    reason: str = ""


def is_list_type(t: FieldType) -> bool:
    return isinstance(t, dict) and "list" in t


def is_enum_type(t: FieldType) -> bool:
    return isinstance(t, dict) and "enum" in t and isinstance(t["enum"], list)


def _js_string(value: Any) -> str:
    """`String(v)` for enum values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return js_number_str(value)
    return str(value)


def format_field_type(t: FieldType) -> str:
    """"str", "list[list[int]]", "enum[a, b]" — for messages."""
    if isinstance(t, str):
        return t
    if is_list_type(t):
        return f"list[{format_field_type(t['list'])}]"
    if is_enum_type(t):
        return f"enum[{', '.join(_js_string(v) for v in t['enum'])}]"
    return "unknown"


def types_equal(a: FieldType, b: FieldType) -> bool:
    """Structural equality; enum value order does not matter."""
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if is_list_type(a) and is_list_type(b):
        return types_equal(a["list"], b["list"])
    if is_enum_type(a) and is_enum_type(b):
        return len(a["enum"]) == len(b["enum"]) and all(
            any(js_strict_equal(v, w) for w in b["enum"]) for v in a["enum"]
        )
    return False


def format_value(value: Any) -> str:
    """'a' for strings, 1 / true for numbers and booleans, a description otherwise."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool) or is_number(value):
        return _js_string(value)
    return describe_value(value)


def enum_problems(values: Sequence[Any]) -> list[tuple[int | None, str]]:
    """Problems with a list of enum values as (index or None, reason)."""
    problems: list[tuple[int | None, str]] = []
    if len(values) == 0:
        problems.append((None, "enum needs at least one value"))
    if len(values) > MAX_ENUM_VALUES:
        problems.append((None, f"enum has {len(values)} values; the limit is {MAX_ENUM_VALUES}"))
    kind: str | None = None
    seen: list[Any] = []
    for index, value in enumerate(values):
        valid = isinstance(value, (str, bool)) or is_finite_number(value)
        if not valid:
            problems.append((index, f"enum value must be a string, number or boolean, got {describe_value(value)}"))
        elif kind is not None and js_typeof(value) != kind:
            problems.append(
                (
                    index,
                    f"enum value {format_value(value)} is a {js_typeof(value)} but the first value is a {kind}; "
                    "all values must be of one kind",
                )
            )
        elif any(js_strict_equal(value, s) for s in seen):
            problems.append((index, f"duplicate enum value {format_value(value)}"))
        else:
            if kind is None:
                kind = js_typeof(value)
            seen.append(value)
    return problems


def parse_field_type(text: str, dialect: str = "json") -> TypeParse:
    """Parses a type string. "json" is the definition grammar; "python" adds DSPy's spellings
    for compact signatures: List[T], dict[...]/Dict[...], Literal[...]."""
    parser = _TypeParser(text, dialect == "python")
    parsed = parser.type(0)
    parser.skip_space()
    if parsed is not None and parser.at_end():
        return TypeParse(True, parsed)
    expected = EXPECTED_PYTHON_TYPES if dialect == "python" else EXPECTED_TYPES
    return TypeParse(False, reason=parser.problem or f"unknown field type {quote(js_trim(text))} ({expected})")


class _TypeParser:
    def __init__(self, src: str, python: bool) -> None:
        self.src = src
        self.python = python
        self.pos = 0
        # A more specific reason than "unknown field type", when there is one.
        self.problem: str | None = None

    def at_end(self) -> bool:
        return self.pos == len(self.src)

    def char(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.src) and is_js_space(self.src[self.pos]):
            self.pos += 1

    def eat(self, ch: str) -> bool:
        self.skip_space()
        if self.char() != ch:
            return False
        self.pos += 1
        return True

    def word(self) -> str:
        self.skip_space()
        match = _WORD.match(self.src, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group()

    def type(self, list_depth: int) -> FieldType | None:
        word = self.word()
        if word in ("str", "int", "float", "bool"):
            return word
        if word in ("dict", "Dict"):
            if word == "Dict" and not self.python:
                return None
            if self.python and self.eat("["):
                return "dict" if self.skip_to_close() else None
            return "dict"
        if word in ("list", "List"):
            if (word == "List" and not self.python) or not self.eat("["):
                return None
            if list_depth + 1 > MAX_LIST_NESTING:
                self.problem = (
                    f"field type {quote(js_trim(self.src))} nests lists deeper than {MAX_LIST_NESTING} levels"
                )
                return None
            inner = self.type(list_depth + 1)
            return {"list": inner} if inner is not None and self.eat("]") else None
        if word == "Literal":
            return self.literal() if self.python and self.eat("[") else None
        return None

    def skip_to_close(self) -> bool:
        """Skips the arguments of dict[...] (any content, brackets balanced, quotes respected)."""
        depth = 1
        quote_char = ""
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if quote_char:
                if c == "\\":
                    self.pos += 1
                elif c == quote_char:
                    quote_char = ""
            elif c in ("'", '"'):
                quote_char = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return True
            self.pos += 1
        return False

    def literal(self) -> FieldType | None:
        values: list[Any] = []
        while not self.eat("]"):
            value = self.literal_value()
            if value is None:
                return None
            values.append(value)
            if not self.eat(","):
                if not self.eat("]"):
                    return None
                break
        problems = enum_problems(values)
        if problems:
            self.problem = f"Literal: {problems[0][1]}"
            return None
        return {"enum": values}

    def literal_value(self) -> Any:
        self.skip_space()
        opening = self.char()
        if opening in ("'", '"'):
            return self.quoted(opening)
        number = _NUMBER.match(self.src, self.pos)
        if number:
            self.pos = number.end()
            return _js_number(number.group())
        word = self.word()
        if word == "True":
            return True
        if word == "False":
            return False
        return None

    def quoted(self, close: str) -> str | None:
        escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
        out = ""
        self.pos += 1
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == close:
                self.pos += 1
                return out
            if c == "\\" and self.pos + 1 < len(self.src):
                self.pos += 1
                nxt = self.src[self.pos]
                out += escapes.get(nxt, "\\" + nxt)
            else:
                out += c
            self.pos += 1
        return None


def _js_number(text: str) -> int | float:
    """`Number(text)`; integral values become ints so Literal[1] stays Literal[1] in Python."""
    value = float(text)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def infer_literal_type(value: Any, list_depth: int = 0) -> TypeParse:
    """Infers the type of a literal (used for return bindings); empty lists are list[str]."""
    if isinstance(value, str):
        return TypeParse(True, "str")
    if isinstance(value, bool):
        return TypeParse(True, "bool")
    if is_number(value):
        if not is_finite_number(value):
            return TypeParse(False, reason=f"cannot use {describe_value(value)} as a literal")
        return TypeParse(True, "int" if is_integer_number(value) else "float")
    if is_object(value):
        return TypeParse(True, "dict")
    if not isinstance(value, list):
        return TypeParse(False, reason=f"cannot infer a field type from {describe_value(value)}")
    if list_depth + 1 > MAX_LIST_NESTING:
        return TypeParse(False, reason=f"list literal nests deeper than {MAX_LIST_NESTING} levels")
    element: FieldType = "str"
    for i, item in enumerate(value):
        inferred = infer_literal_type(item, list_depth + 1)
        if not inferred.ok:
            return TypeParse(False, reason=f"element [{i}]: {inferred.reason}")
        if i == 0 or types_equal(element, inferred.type):
            element = inferred.type
        elif element in ("int", "float") and inferred.type in ("int", "float"):
            element = "float"
        else:
            return TypeParse(
                False,
                reason=f"list literal mixes {format_field_type(element)} and {format_field_type(inferred.type)} elements",
            )
    return TypeParse(True, {"list": element})


Add = Callable[[Sequence[Seg], str], None]


def check_value(value: Any, t: FieldType, path: str) -> list[dict[str, str]]:
    """Checks a JSON value against a field type; paths of nested problems extend `path` with [i]."""
    issues: list[dict[str, str]] = []
    collect_value_issues(value, t, [], lambda segs, reason: issues.append({"path": format_path(path, segs), "reason": reason}))
    return issues


def collect_value_issues(value: Any, t: FieldType, segs: Sequence[Seg], add: Add) -> None:
    def expected(ok: bool) -> None:
        if not ok:
            add(segs, f"expected {format_field_type(t)}, got {describe_value(value)}")

    if t == "str":
        return expected(isinstance(value, str))
    if t == "int":
        return expected(is_integer_number(value))
    if t == "float":
        return expected(is_finite_number(value))
    if t == "bool":
        return expected(isinstance(value, bool))
    if t == "dict":
        return expected(is_object(value))
    if is_list_type(t):
        if not isinstance(value, list):
            return expected(False)
        for i, item in enumerate(value):
            collect_value_issues(item, t["list"], [*segs, i], add)
    elif is_enum_type(t):
        if not any(js_strict_equal(v, value) for v in t["enum"]):
            add(segs, f"expected one of {', '.join(format_value(v) for v in t['enum'])}, got {format_value(value)}")
    else:
        add(segs, f"unknown field type {describe_value(t)}")
