"""Field names DSPy itself cannot take (Python-side only; the TypeScript validator does not know them).

Found by building and running Predict and ChainOfThought with each name on DSPy 3.4.1:
- on either side, names that clash with dspy.Signature's own class attributes or pydantic's
  BaseModel methods fail when the signature is built (`instructions`, `fields`, `model_dump`, ...);
- as inputs, names that dspy.Predict pops from its keyword arguments before formatting the prompt
  (`config`, `lm`, `demos`, ...) would silently vanish or crash the call;
- as module inputs and as program inputs, `self` and `instance` clash with the parameters of
  dspy.Module.__call__ and of DSPy's callback wrapper, which receive every input as a keyword.
A definition using them is rejected as INVALID_DEFINITION at the field's path, like any other issue.
"""

from __future__ import annotations

from typing import Any

import pydantic

from ._js import format_path, quote
from .compact import parse_compact_signature

RESERVED_ANY = frozenset(
    {"signature", "instructions", "fields", "input_fields", "output_fields"}
    | {name for name in dir(pydantic.BaseModel) if name.startswith("model_")}
)
CALL_PARAMETERS = frozenset({"self", "instance"})
RESERVED_INPUT = frozenset({"config", "lm", "demos", "new_signature", "completions", "prediction"}) | CALL_PARAMETERS


def dspy_field_name_issues(definition: dict[str, Any], root_path: str = "definition") -> list[dict[str, str]]:
    """Issues for a definition the TypeScript rules accepted (so its shape is known to be valid)."""
    issues: list[dict[str, str]] = []
    for name in definition["inputs"]:
        if name in CALL_PARAMETERS:
            issues.append({
                "path": format_path(root_path, ["inputs", name]),
                "reason": f"program input name {quote(name)} is reserved by DSPy (a parameter of dspy.Module.__call__); rename the input",
            })
    for module_name, module in definition["modules"].items():
        signature = module["signature"]
        segs: list[str | int] = ["modules", module_name, "signature"]
        if isinstance(signature, str):
            parsed = parse_compact_signature(signature)
            sides = {"inputs": [n for n, _ in parsed.inputs], "outputs": [n for n, _ in parsed.outputs]}
            at = lambda side, name: format_path(root_path, segs)  # noqa: E731 - compact form has one path
        else:
            sides = {"inputs": list(signature["inputs"]), "outputs": list(signature["outputs"])}
            at = lambda side, name: format_path(root_path, [*segs, side, name])  # noqa: E731
        for side, names in sides.items():
            for name in names:
                reason = _reserved(name, side)
                if reason:
                    issues.append({"path": at(side, name), "reason": reason})
    return issues


def _reserved(name: str, side: str) -> str | None:
    if name in RESERVED_ANY:
        return f"field name {quote(name)} is reserved by DSPy (it clashes with dspy.Signature); rename the field"
    if side == "inputs" and name in CALL_PARAMETERS:
        return f"input field name {quote(name)} is reserved by DSPy (a parameter of dspy.Module.__call__); rename the field"
    if side == "inputs" and name in RESERVED_INPUT:
        return f"input field name {quote(name)} is reserved by DSPy (dspy.Predict takes it as an option); rename the field"
    return None
