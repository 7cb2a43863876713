"""Fields, modules and signatures of a definition (port of declarations.ts).

`Fields` maps a field name to its spec, or to None when the spec was invalid (already reported), so
its type is unknown. A `ModuleInfo` holds what is known of a module: a missing key means that part
was invalid (already reported), so checks that need it are skipped.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ._js import Seg, describe_value, is_object, js_keys, js_trim, quote, utf16_len
from .compact import parse_compact_signature
from .field_types import enum_problems, parse_field_type
from .limits import MAX_DESC_LENGTH, MAX_FIELDS_PER_SIGNATURE, MAX_INSTRUCTIONS_LENGTH, MAX_MODULES
from .dspy_names import dspy_field_name_problem, dspy_program_input_problem
from .names import name_problem

Add = Callable[[Sequence[Seg], str], None]
Fields = dict[str, "dict[str, Any] | None"]
ModuleInfo = dict[str, Any]  # optional keys: type, instructions, inputs, outputs

FIELD_KEYS = ("type", "desc", "values")
MODULE_KEYS = ("type", "signature")
SIGNATURE_KEYS = ("instructions", "inputs", "outputs")
MODULE_TYPES = ("Predict", "ChainOfThought")


def parse_fields(value: Any, segs: list[Seg], what: str, add: Add) -> Fields | None:
    if not is_object(value):
        add(segs, f"{what}s must be an object mapping field names to types, got {describe_value(value)}")
        return None
    fields: Fields = {}
    for key in js_keys(value):
        problem = name_problem(key, f"{what} name") or (dspy_program_input_problem(key) if what == "program input" else None)
        if problem:
            add([*segs, key], problem)
        fields[key] = _parse_field_spec(value[key], [*segs, key], add)
    return fields


def _parse_field_spec(value: Any, segs: list[Seg], add: Add) -> dict[str, Any] | None:
    """A field spec: a type string ("list[str]") or {type, desc?, values?}."""
    if isinstance(value, str):
        if js_trim(value) == "enum":
            add(segs, 'an enum needs values: write { "type": "enum", "values": [...] }')
            return None
        parsed = parse_field_type(value)
        if parsed.ok:
            return {"type": parsed.type}
        add(segs, parsed.reason)
        return None
    if not is_object(value):
        add(segs, f'field must be a type string like "str" or an object like {{ "type": "str" }}, got {describe_value(value)}')
        return None
    for key in js_keys(value):
        if key not in FIELD_KEYS:
            add([*segs, key], f"unknown key {quote(key)} in field (expected {', '.join(FIELD_KEYS)})")
    desc: str | None = None
    if "desc" in value:
        d = value["desc"]
        if not isinstance(d, str):
            add([*segs, "desc"], f"desc must be a string, got {describe_value(d)}")
        elif utf16_len(d) > MAX_DESC_LENGTH:
            add([*segs, "desc"], f"desc is {utf16_len(d)} characters; the limit is {MAX_DESC_LENGTH}")
        else:
            desc = d
    if "type" not in value:
        add(segs, "missing required key 'type'")
        return None
    type_text = value["type"]
    if not isinstance(type_text, str):
        add([*segs, "type"], f"type must be a string, got {describe_value(type_text)}")
        return None
    field_type: Any = None
    if js_trim(type_text) == "enum":
        if "values" in value:
            field_type = _parse_enum_values(value["values"], [*segs, "values"], add)
        else:
            add(segs, "type 'enum' requires 'values'")
    else:
        if "values" in value:
            add([*segs, "values"], f"'values' is only allowed with type 'enum', not {quote(type_text)}")
        parsed = parse_field_type(type_text)
        if parsed.ok:
            field_type = parsed.type
        else:
            add([*segs, "type"], parsed.reason)
    if field_type is None:
        return None
    return {"type": field_type} if desc is None else {"type": field_type, "desc": desc}


def _parse_enum_values(values: Any, segs: list[Seg], add: Add) -> Any:
    if not isinstance(values, list):
        add(segs, f"enum values must be an array, got {describe_value(values)}")
        return None
    problems = enum_problems(values)
    for index, reason in problems:
        add(segs if index is None else [*segs, index], reason)
    return None if problems else {"enum": list(values)}


def parse_modules(value: Any, add: Add) -> dict[str, ModuleInfo] | None:
    if not is_object(value):
        add(["modules"], f"modules must be an object mapping module names to modules, got {describe_value(value)}")
        return None
    names = js_keys(value)
    if len(names) == 0:
        add(["modules"], "at least one module is required")
    if len(names) > MAX_MODULES:
        add(["modules"], f"{len(names)} modules; the limit is {MAX_MODULES}")
    modules: dict[str, ModuleInfo] = {}
    for name in names:
        problem = name_problem(name, "module name", "module")
        if problem:
            add(["modules", name], problem)
        modules[name] = _parse_module(value[name], ["modules", name], add)
    return modules


def _parse_module(value: Any, segs: list[Seg], add: Add) -> ModuleInfo:
    if not is_object(value):
        add(
            segs,
            'module must be an object like { "type": "Predict", "signature": "question -> answer" }, '
            f"got {describe_value(value)}",
        )
        return {}
    for key in js_keys(value):
        if key not in MODULE_KEYS:
            add([*segs, key], f"unknown key {quote(key)} in module (expected type, signature)")
    module_type: str | None = None
    if "type" not in value:
        add(segs, "missing required key 'type'")
    else:
        t = value["type"]
        if isinstance(t, str) and t in MODULE_TYPES:
            module_type = t
        else:
            shown = quote(t) if isinstance(t, str) else describe_value(t)
            add([*segs, "type"], f"unknown module type {shown} (expected Predict or ChainOfThought)")
    if "signature" not in value:
        add(segs, "missing required key 'signature'")
        return {} if module_type is None else {"type": module_type}
    info = _parse_signature(value["signature"], [*segs, "signature"], module_type, add)
    if module_type is not None:
        info["type"] = module_type
    return info


def _parse_signature(value: Any, segs: list[Seg], module_type: str | None, add: Add) -> ModuleInfo:
    sig: ModuleInfo = {}
    if isinstance(value, str):
        parsed = parse_compact_signature(value)
        if not parsed.ok:
            for reason in parsed.reasons:
                add(segs, reason)
            return sig
        sig["inputs"] = {name: {"type": t} for name, t in parsed.inputs}
        sig["outputs"] = {name: {"type": t} for name, t in parsed.outputs}

        def field_segs(side: str, name: str) -> list[Seg]:
            return segs

    elif is_object(value):
        for key in js_keys(value):
            if key not in SIGNATURE_KEYS:
                add([*segs, key], f"unknown key {quote(key)} in signature (expected {', '.join(SIGNATURE_KEYS)})")
        if "instructions" in value:
            text = value["instructions"]
            if not isinstance(text, str):
                add([*segs, "instructions"], f"instructions must be a string, got {describe_value(text)}")
            elif utf16_len(text) > MAX_INSTRUCTIONS_LENGTH:
                add(
                    [*segs, "instructions"],
                    f"instructions are {utf16_len(text)} characters; the limit is {MAX_INSTRUCTIONS_LENGTH}",
                )
            else:
                sig["instructions"] = text
        for side in ("inputs", "outputs"):
            if side not in value:
                add(segs, f"missing required key '{side}'")
                continue
            fields = parse_fields(value[side], [*segs, side], side[:-1], add)
            if fields is not None and len(fields) == 0:
                add([*segs, side], f"a signature needs at least one {side[:-1]} field")
            if fields is not None:
                sig[side] = fields

        def field_segs(side: str, name: str) -> list[Seg]:
            return [*segs, side, name]

    else:
        add(
            segs,
            "signature must be a compact string like 'question -> answer' or an object with inputs and outputs, "
            f"got {describe_value(value)}",
        )
        return sig

    total = len(sig.get("inputs", {})) + len(sig.get("outputs", {}))
    if total > MAX_FIELDS_PER_SIGNATURE:
        add(segs, f"signature declares {total} fields; the limit is {MAX_FIELDS_PER_SIGNATURE}")
    inputs = sig.get("inputs")
    for name in sig.get("outputs", {}):
        if inputs is not None and name in inputs:
            add(field_segs("outputs", name), f"field {quote(name)} is declared as both an input and an output")
    if module_type == "ChainOfThought":
        for side in ("inputs", "outputs"):
            if side in sig and "reasoning" in sig[side]:
                add(field_segs(side, "reasoning"), "'reasoning' is reserved: ChainOfThought adds its own 'reasoning' output")
    for side in ("inputs", "outputs"):
        for name in sig.get(side, {}):
            problem = dspy_field_name_problem(name, side)
            if problem:
                add(field_segs(side, name), problem)
    return sig
