"""Validates a program definition completely (port of validateProgramDefinition.ts).

Returns every issue, in document order, with the same paths and reasons as the TypeScript side;
never raises. On success, returns the normalized program (plain JSON, same shape as TypeScript's
NormalizedProgram).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Sequence

from ._js import Seg, describe_value, format_path, is_object, js_keys, json_byte_length, quote
from .declarations import Fields, parse_fields, parse_modules
from .forward import parse_forward
from .limits import MAX_BYTES, MAX_DEPTH, MAX_FIELDS_PER_SIGNATURE

ROOT_KEYS = ("inputs", "modules", "forward", "description")


@dataclass
class ValidationResult:
    ok: bool
    program: dict[str, Any] | None = None
    issues: list[dict[str, str]] = field(default_factory=list)


def validate_program_definition(definition: Any, root_path: str = "definition") -> ValidationResult:
    raw: list[tuple[list[Seg], str]] = []

    def add(segs: Sequence[Seg], reason: str) -> None:
        raw.append((list(segs), reason))

    program: dict[str, Any] | None = None
    try:
        program = _validate_root(definition, add)
    except Exception as err:  # keep the no-raise promise, as the TypeScript side does
        add([], f"internal error while validating the definition: {err}")
    if not raw and program is not None:
        return ValidationResult(True, program=program)
    if not raw:
        add([], "internal error: the definition was neither accepted nor rejected")
    ordered = _in_document_order(definition, raw)
    return ValidationResult(False, issues=[{"path": format_path(root_path, segs), "reason": reason} for segs, reason in ordered])


def _validate_root(definition: Any, add) -> dict[str, Any] | None:
    if not _within_shape_limits(definition, add):
        return None
    size = json_byte_length(definition)
    if size > MAX_BYTES:
        add([], f"definition is {size} bytes; the limit is {MAX_BYTES}")
        return None
    if not is_object(definition):
        add([], f"definition must be a JSON object, got {describe_value(definition)}")
        return None
    for key in js_keys(definition):
        if key not in ROOT_KEYS:
            add([key], f"unknown key {quote(key)} (expected {', '.join(ROOT_KEYS)})")
    for key in ("inputs", "modules", "forward"):
        if key not in definition:
            add([], f"missing required key '{key}'")
    if "description" in definition and not isinstance(definition["description"], str):
        add(["description"], f"description must be a string, got {describe_value(definition['description'])}")
    inputs = parse_fields(definition["inputs"], ["inputs"], "program input", add) if "inputs" in definition else None
    if inputs is not None and len(inputs) > MAX_FIELDS_PER_SIGNATURE:
        add(["inputs"], f"{len(inputs)} program inputs; the limit is {MAX_FIELDS_PER_SIGNATURE}")
    modules = parse_modules(definition["modules"], add) if "modules" in definition else None
    forward = parse_forward(definition["forward"], inputs, modules, add) if "forward" in definition else None
    if inputs is None or modules is None or forward is None:
        return None

    program: dict[str, Any] = {"inputs": _to_record(inputs), "outputs": forward["outputs"], "modules": {}, "forward": forward["steps"]}
    for name, m in modules.items():
        if "type" not in m or m.get("inputs") is None or m.get("outputs") is None:
            continue
        signature: dict[str, Any] = {}
        if "instructions" in m:
            signature["instructions"] = m["instructions"]
        signature["inputs"] = _to_record(m["inputs"])
        signature["outputs"] = _to_record(m["outputs"])
        program["modules"][name] = {"type": m["type"], "signature": signature}
    # The parts share FieldType objects; hand out an unaliased copy.
    return copy.deepcopy(program)


def _within_shape_limits(definition: Any, add) -> bool:
    """Iterative walk (no recursion) bounding depth and size, so absurdly deep input cannot overflow."""
    stack: list[tuple[Any, list[Seg]]] = [(definition, [])]
    nodes = 0
    while stack:
        value, segs = stack.pop()
        if len(segs) > MAX_DEPTH:
            add(segs, f"definition nests deeper than {MAX_DEPTH} levels")
            return False
        if isinstance(value, list):
            keys: list[Seg] = list(range(min(len(value), MAX_BYTES + 1)))
        elif isinstance(value, dict):
            keys = list(js_keys(value))
        else:
            continue
        nodes += len(keys)
        # Every JSON value takes at least one byte, so more values than MAX_BYTES is over the limit.
        if nodes > MAX_BYTES:
            add([], f"definition has more than {MAX_BYTES} values; the limit is {MAX_BYTES} bytes")
            return False
        for key in reversed(keys):
            stack.append((value[key], [*segs, key]))
    return True


def _to_record(fields: Fields) -> dict[str, Any]:
    return {name: spec for name, spec in fields.items() if spec is not None}


def _in_document_order(root: Any, issues: list[tuple[list[Seg], str]]) -> list[tuple[list[Seg], str]]:
    """Stable sort by where each issue's path sits in the document (key order, then array index)."""
    try:
        key_index: dict[int, dict[str, int]] = {}
        keyed = [(_position(root, segs, key_index), n) for n, (segs, _) in enumerate(issues)]
        order = sorted(range(len(issues)), key=lambda n: keyed[n])
        return [issues[n] for n in order]
    except Exception:
        return issues


def _position(root: Any, segs: list[Seg], key_index: dict[int, dict[str, int]]) -> list[int]:
    pos: list[int] = []
    node = root
    for seg in segs:
        if isinstance(seg, int):
            pos.append(seg)
            node = node[seg] if isinstance(node, list) and 0 <= seg < len(node) else None
        elif is_object(node):
            index = key_index.get(id(node))
            if index is None:
                index = key_index[id(node)] = {key: i for i, key in enumerate(js_keys(node))}
            pos.append(index.get(seg, -1))
            node = node.get(seg)
        else:
            pos.append(-1)
            node = None
    return pos
