"""The inputs of one run against the program's declared inputs (port of src/programs/validateProgramInputs.ts).

Every declared field present and of its type, nothing undeclared, and a size limit; same paths and
reasons as the TypeScript side, so INVALID_INPUTS reads the same wherever it is raised.
"""

from __future__ import annotations

import json
from typing import Any

from ._js import is_object
from .field_types import check_value

MAX_INPUT_BYTES = 1_048_576


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "surrogatepass"))


def validate_program_inputs(program: dict[str, Any], inputs: Any, root_path: str = "inputs") -> list[dict[str, str]]:
    if not is_object(inputs):
        return [{"path": root_path, "reason": "must be a JSON object of input fields"}]
    size = _json_bytes(inputs)
    if size > MAX_INPUT_BYTES:
        return [{"path": root_path, "reason": f"is {size} bytes of JSON; the limit is {MAX_INPUT_BYTES}"}]
    issues: list[dict[str, str]] = []
    declared: dict[str, Any] = program["inputs"]
    for name, spec in declared.items():
        if name not in inputs:
            issues.append({"path": f"{root_path}.{name}", "reason": "is required"})
        else:
            issues.extend(check_value(inputs[name], spec["type"], f"{root_path}.{name}"))
    for name in inputs:
        if name not in declared:
            names = ", ".join(declared) or "none"
            issues.append({"path": f"{root_path}.{name}", "reason": f"is not an input of this program (declared: {names})"})
    return issues
