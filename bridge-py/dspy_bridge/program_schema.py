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
_VALIDATOR = Draft202012Validator(json.loads(Path(__file__).with_name("program.schema.json").read_text("utf-8")))


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
    errors = list(_VALIDATOR.iter_errors(program))
    if not errors:
        return []
    first = best_match(errors)
    issues = [{"path": format_path(root, first.absolute_path), "reason": f"not a normalized program: {first.message}"}]
    for error in errors:
        if error is not first:
            issues.append({"path": format_path(root, error.absolute_path), "reason": f"not a normalized program: {error.message}"})
    return issues


def check_program(program: Any, root: str = "definition") -> dict[str, Any]:
    """The program, or INVALID_DEFINITION with every issue."""
    issues = program_issues(program, root)
    if issues:
        raise BridgeError("INVALID_DEFINITION", "validation", f"{issues[0]['path']}: {issues[0]['reason']}", False, {"issues": issues})
    return program
