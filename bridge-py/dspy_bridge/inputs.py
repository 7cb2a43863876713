"""A run's inputs (and an optimizer's examples) against the program's inputs schema.

The rule is the server's (src/programs/validateProgramInputs.ts), sent as a JSON Schema with the
program (`inputs_schema` of define_program): the worker checks it again for callers that are not the
server, without a copy of the rule.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from .program_schema import format_path

MAX_INPUT_BYTES = 1_048_576

# Validators by schema object: a program's inputs schema is one object for as long as it is defined,
# and building a validator costs more than checking a run's inputs with it.
_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}
_VALIDATORS_KEPT = 512


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    kept = _VALIDATORS.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    if len(_VALIDATORS) >= _VALIDATORS_KEPT:
        _VALIDATORS.pop(next(iter(_VALIDATORS)))
    validator = Draft202012Validator(schema)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "surrogatepass"))


def input_issues(schema: dict[str, Any] | None, inputs: Any, root: str = "inputs") -> list[dict[str, str]]:
    if not isinstance(inputs, dict):
        return [{"path": root, "reason": "must be a JSON object of input fields"}]
    size = _json_bytes(inputs)
    if size > MAX_INPUT_BYTES:
        return [{"path": root, "reason": f"is {size} bytes of JSON; the limit is {MAX_INPUT_BYTES}"}]
    if schema is None:
        return []
    issues = []
    for error in _validator(schema).iter_errors(inputs):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            issues.append({"path": format_path(root, [*path, missing]), "reason": "is required"})
        elif error.validator == "additionalProperties":
            for name in sorted(set(inputs) - set(schema.get("properties", {}))):
                issues.append({"path": format_path(root, [*path, name]), "reason": f"is not an input of this program (declared: {', '.join(schema.get('properties', {})) or 'none'})"})
        else:
            issues.append({"path": format_path(root, path), "reason": error.message})
    return sorted(issues, key=lambda i: i["path"])
