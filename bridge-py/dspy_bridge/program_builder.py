"""Builds a dspy.Module from a normalized program definition, and interprets its forward steps.

The program is data: signatures are built from typed fields with dspy.make_signature (never from a
string DSPy would parse), and forward() walks the steps; nothing is evaluated.

Each module of the definition is an attribute of the built module, named as in the definition, so
named_predictors() gives stable names (dspy 3.4.1): a Predict module `answer` is "answer", a
ChainOfThought module `generate` is "generate.predict" (ChainOfThought holds its Predict as `.predict`).
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from typing import Any, Literal

import dspy

from .errors import BridgeError

# The forward step being run, read by the tracer (tracing.py) when DSPy reports the module call.
CURRENT_STEP: ContextVar[str | None] = ContextVar("dspy_bridge_current_step", default=None)

MODULE_CLASSES: dict[str, type[dspy.Module]] = {"Predict": dspy.Predict, "ChainOfThought": dspy.ChainOfThought}


def annotation(field_type: Any) -> Any:
    """A Python type for a definition field type: str, int, float, bool, dict, list[T], Literal[...]."""
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


class DefinedProgram(dspy.Module):
    """Base of built programs; `forward` interprets the definition's steps."""

    def __init__(self, program: dict[str, Any]) -> None:
        super().__init__()
        # Plain data (no Parameters inside), so named_parameters() and dump_state() ignore it.
        self._program = program
        for name, module in program["modules"].items():
            setattr(self, name, MODULE_CLASSES[module["type"]](build_signature(module["signature"])))

    def forward(self, **inputs: Any) -> dspy.Prediction:
        results: dict[str, Any] = {}
        for step in self._program["forward"]:
            if "return" in step:
                prediction = dspy.Prediction()
                # Item assignment, not Prediction(**outputs): an output named "base" would be taken
                # as Example's `base` argument.
                for name, binding in step["return"].items():
                    prediction[name] = self._resolve(binding, inputs, results)
                return prediction
            kwargs = {name: self._resolve(binding, inputs, results) for name, binding in step["with"].items()}
            token = CURRENT_STEP.set(step["as"])
            try:
                results[step["as"]] = getattr(self, step["call"])(**kwargs)
            finally:
                CURRENT_STEP.reset(token)
        raise BridgeError("DSPY_ERROR", "dspy", "the program ended without a return step")

    @staticmethod
    def _resolve(binding: dict[str, Any], inputs: dict[str, Any], results: dict[str, Any]) -> Any:
        if "literal" in binding:
            # A fresh copy per run: a module must not be able to change the definition's literal.
            return copy.deepcopy(binding["literal"])
        step, field = binding["ref"]["step"], binding["ref"]["field"]
        if step == "input":
            if field not in inputs:
                raise BridgeError("INVALID_INPUTS", "validation", f"inputs.{field}: is required")
            return inputs[field]
        prediction = results[step]
        if field not in prediction:
            raise BridgeError("DSPY_ERROR", "dspy", f"step '{step}' produced no field '{field}'")
        return prediction[field]


class ProgramBuilder:
    """Builds programs from normalized definitions (see definition.validate_definition)."""

    @staticmethod
    def build(program: dict[str, Any]) -> DefinedProgram:
        # A subclass per program keeps its class name informative in DSPy's logs and reprs.
        cls = type("Program", (DefinedProgram,), {"__doc__": "A program built from a definition."})
        return cls(program)

    @staticmethod
    def modules(program_module: DefinedProgram) -> dict[int, tuple[str, str]]:
        """id(submodule) → (module name, module type), for the tracer."""
        return {
            id(getattr(program_module, name)): (name, spec["type"])
            for name, spec in program_module._program["modules"].items()
        }
