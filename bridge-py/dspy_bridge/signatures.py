"""Field types and signatures of a normalized program, as DSPy types.

Signatures are built from typed fields with dspy.make_signature (never from a string DSPy would
parse). Tool arguments use the same mapping (pydantic then gives their JSON Schema, as DSPy does).
"""

from __future__ import annotations

from typing import Any, Literal

import dspy


def annotation(field_type: Any) -> Any:
    """A Python type for a field type: str, int, float, bool, dict, list[T], Literal[...]."""
    if field_type == "str":
        return str
    if field_type == "int":
        return int
    if field_type == "float":
        return float
    if field_type == "bool":
        return bool
    if field_type == "dict":
        return dict[str, Any]
    if isinstance(field_type, dict) and "list" in field_type:
        return list[annotation(field_type["list"])]
    if isinstance(field_type, dict) and "enum" in field_type:
        return Literal[tuple(_literal_value(v) for v in field_type["enum"])]
    raise ValueError(f"unknown field type {field_type!r}")


def _literal_value(value: Any) -> Any:
    # JSON has one number type: 1.0 and 1 are the same enum value, spelled as DSPy would print it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def build_signature(spec: dict[str, Any]) -> type[dspy.Signature]:
    fields: dict[str, tuple[Any, Any]] = {}
    for name, field in spec["inputs"].items():
        kwargs = {"desc": field["desc"]} if "desc" in field else {}
        fields[name] = (annotation(field["type"]), dspy.InputField(**kwargs))
    for name, field in spec["outputs"].items():
        kwargs = {"desc": field["desc"]} if "desc" in field else {}
        fields[name] = (annotation(field["type"]), dspy.OutputField(**kwargs))
    # Without instructions DSPy writes its default ("Given the fields ..., produce the fields ...").
    return dspy.make_signature(fields, spec.get("instructions"))
