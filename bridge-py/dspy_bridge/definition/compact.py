"""DSPy's compact signature form "context: list[str], question -> answer" (port of compactSignature.ts).

Parsed by hand with the same grammar as the TypeScript side; never handed to DSPy's own string
parser, so nothing in a definition is ever evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._js import js_trim, quote
from .field_types import FieldType, parse_field_type
from .names import name_problem


@dataclass
class CompactParse:
    ok: bool
    inputs: list[tuple[str, FieldType]] = field(default_factory=list)
    outputs: list[tuple[str, FieldType]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def parse_compact_signature(text: str) -> CompactParse:
    """A field without a type is str; types may use DSPy/Python spellings (List[...], dict[...], Literal[...])."""
    sides = split_top_level(text, "->")
    if len(sides) != 2:
        if len(sides) == 1 and "->" in text:
            return CompactParse(False, reasons=[f"compact signature {quote(text)} has unbalanced brackets or quotes"])
        if len(sides) == 1:
            reason = f"compact signature {quote(text)} has no '->' (expected 'inputs -> outputs', e.g. 'question -> answer')"
        else:
            reason = f"compact signature {quote(text)} has {len(sides) - 1} '->'; expected exactly one"
        return CompactParse(False, reasons=[reason])
    reasons: list[str] = []
    inputs = _parse_side(text, sides[0], "input", reasons)
    outputs = _parse_side(text, sides[1], "output", reasons)
    if reasons:
        return CompactParse(False, reasons=reasons)
    return CompactParse(True, inputs=inputs, outputs=outputs)


def _parse_side(text: str, side: str, kind: str, reasons: list[str]) -> list[tuple[str, FieldType]]:
    if js_trim(side) == "":
        where = "before" if kind == "input" else "after"
        reasons.append(f"compact signature {quote(text)} has no {kind} fields {where} '->'")
        return []
    fields: list[tuple[str, FieldType]] = []
    seen: set[str] = set()
    for raw in split_top_level(side, ","):
        fragment = js_trim(raw)
        if fragment == "":
            reasons.append(f"empty {kind} field in {quote(js_trim(side))}")
            continue
        colon = fragment.find(":")
        name = js_trim(fragment if colon < 0 else fragment[:colon])
        type_text = "str" if colon < 0 else js_trim(fragment[colon + 1 :])
        problem = name_problem(name, f"{kind} field name")
        if problem:
            reasons.append(f"field {quote(fragment)}: {problem}")
        if name in seen:
            reasons.append(f"duplicate {kind} field {quote(name)}")
        seen.add(name)
        if type_text == "":
            reasons.append(f"field {quote(fragment)}: missing type after ':'")
            continue
        parsed = parse_field_type(type_text, "python")
        if parsed.ok:
            fields.append((name, parsed.type))
        else:
            reasons.append(f"field {quote(fragment)}: {parsed.reason}")
    return fields


def split_top_level(text: str, separator: str) -> list[str]:
    """Splits on `separator` outside brackets and quotes, so "dict[str, Any]" and "Literal['a,b']" stay whole."""
    parts: list[str] = []
    depth = 0
    quote_char = ""
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if quote_char:
            if c == "\\":
                i += 1
            elif c == quote_char:
                quote_char = ""
        elif c in ("'", '"'):
            quote_char = c
        elif c in "[({":
            depth += 1
        elif c in "])}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator) - 1
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts
