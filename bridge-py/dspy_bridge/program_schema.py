"""The shape check of a normalized program, against the JSON Schema the server's types generate.

The server validates and normalizes a definition once, when a version is written; the worker only
checks that what it receives has the normalized shape (program.schema.json, written by
`npm run schema` from src/programs/definition/programSchema.ts) before DSPy builds it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import BridgeError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMA = json.loads(Path(__file__).with_name("program.schema.json").read_text("utf-8"))
_VALIDATOR = Draft202012Validator(_SCHEMA)
# The metric's shape, in the same document (its judge is a normalized program).
_METRIC_VALIDATOR = Draft202012Validator({"$schema": _SCHEMA["$schema"], "$defs": _SCHEMA["$defs"], "$ref": "#/$defs/MetricSpec"})


def format_path(root: str, parts: Any) -> str:
    """"definition" + ["forward", 1, "with"] → "definition.forward[1].with" (the server's path form)."""
    path = root
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def program_issues(program: Any, root: str = "definition") -> list[dict[str, str]]:
    """`[{path, reason}]`: the most specific problem first, then the other top-level ones."""
    return _issues(_VALIDATOR, program, root, "not a normalized program")


def metric_shape_issues(spec: Any, root: str = "metric") -> list[dict[str, str]]:
    return _issues(_METRIC_VALIDATOR, spec, root, "not a metric")


def _issues(validator: Draft202012Validator, value: Any, root: str, what: str) -> list[dict[str, str]]:
    errors = list(validator.iter_errors(value))
    if not errors:
        return []
    first = best_match(errors)
    return [_issue(first, root, what), *(_issue(e, root, what) for e in errors if e is not first)]


def _issue(error: Any, root: str, what: str) -> dict[str, str]:
    # `{"not": {"required": [key]}}` is how the schema says a key is not allowed here: point at the key.
    forbidden = error.validator_value.get("required") if error.validator == "not" and isinstance(error.validator_value, dict) else None
    if forbidden:
        kind = error.instance.get("kind") if isinstance(error.instance, dict) else None
        return {"path": format_path(root, [*error.absolute_path, forbidden[0]]), "reason": f"{what}: '{forbidden[0]}' is not taken here" + (f" (kind '{kind}')" if kind else "")}
    return {"path": format_path(root, error.absolute_path), "reason": f"{what}: {error.message}"}


def check_program(program: Any, root: str = "definition") -> dict[str, Any]:
    """The program, or INVALID_DEFINITION with every issue."""
    issues = program_issues(program, root)
    if issues:
        raise BridgeError("INVALID_DEFINITION", "validation", f"{issues[0]['path']}: {issues[0]['reason']}", False, {"issues": issues})
    return program
