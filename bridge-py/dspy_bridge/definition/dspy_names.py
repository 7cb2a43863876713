"""Field names DSPy itself cannot take (port of dspyNames.ts; both sides reject them, same paths and reasons).

Found by building and running Predict and ChainOfThought with each name on DSPy 3.4.1 / pydantic 2.14:
- on either side, names that clash with dspy.Signature's own class attributes or with pydantic
  BaseModel's `model_*` members fail when the signature is built (`instructions`, `fields`,
  `model_dump`, ...; other `model_*` names such as `model_name` work);
- as inputs, names that dspy.Predict pops from its keyword arguments before formatting the prompt
  (`config`, `lm`, `demos`, ...) would silently vanish or crash the call;
- as module inputs and as program inputs, `self` and `instance` clash with the parameters of
  dspy.Module.__call__ and of DSPy's callback wrapper, which receive every input as a keyword.
The lists are fixed (not read from pydantic at run time) so both sides agree; tests/test_definition.py
checks that they still cover the installed pydantic.
"""

from __future__ import annotations

from ._js import quote

PYDANTIC_MEMBERS = frozenset(
    (
        "model_computed_fields model_config model_construct model_copy model_dump model_dump_json model_extra model_fields "
        "model_fields_set model_json_schema model_parametrized_name model_post_init model_rebuild model_validate "
        "model_validate_json model_validate_strings"
    ).split()
)
RESERVED_ANY = frozenset({"signature", "instructions", "fields", "input_fields", "output_fields"}) | PYDANTIC_MEMBERS
CALL_PARAMETERS = frozenset({"self", "instance"})
RESERVED_INPUT = frozenset({"config", "lm", "demos", "new_signature", "completions", "prediction"})


def dspy_field_name_problem(name: str, side: str) -> str | None:
    """Why DSPy cannot take `name` as a field on `side` ("inputs" / "outputs") of a module's signature."""
    if name in RESERVED_ANY:
        return f"field name {quote(name)} is reserved by DSPy (it clashes with dspy.Signature); rename the field"
    if side == "inputs" and name in CALL_PARAMETERS:
        return f"input field name {quote(name)} is reserved by DSPy (a parameter of dspy.Module.__call__); rename the field"
    if side == "inputs" and name in RESERVED_INPUT:
        return f"input field name {quote(name)} is reserved by DSPy (dspy.Predict takes it as an option); rename the field"
    return None


def dspy_program_input_problem(name: str) -> str | None:
    """Why DSPy cannot take `name` as a program input (a keyword argument of the program's __call__)."""
    if name in CALL_PARAMETERS:
        return f"program input name {quote(name)} is reserved by DSPy (a parameter of dspy.Module.__call__); rename the input"
    return None
