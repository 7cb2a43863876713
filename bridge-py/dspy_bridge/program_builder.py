"""Builds a dspy.Module from a normalized program (program.schema.json), and runs its forward steps.

Each module of the program is an attribute of the built module, named as in the definition and
built by its type's builder (modules.py), so named_predictors() gives stable names (dspy 3.4.1):
a Predict module `answer` is "answer", a ChainOfThought module `generate` is "generate.predict",
a BestOfN `best` wrapping a ChainOfThought is "best.module.predict" (the catalog's `predictors`).
"""

from __future__ import annotations

from typing import Any

import dspy

from .errors import BridgeError
from .forward import run_steps
from .modules import build_module
from .run_context import CURRENT_STEP, RUN_CONTEXT, Budget, RunContext

__all__ = ["CURRENT_STEP", "DefinedProgram", "ProgramBuilder"]


class DefinedProgram(dspy.Module):
    """Base of built programs; `forward` interprets the program's steps (forward.py)."""

    def __init__(self, program: dict[str, Any]) -> None:
        super().__init__()
        # Plain data (no Parameters inside), so named_parameters() and dump_state() ignore it.
        self._program = program
        for name, module in program["modules"].items():
            setattr(self, name, build_module(name, module))

    def forward(self, **inputs: Any) -> dspy.Prediction:
        ctx = RUN_CONTEXT.get()
        token = RUN_CONTEXT.set(_own_run(ctx)) if ctx is not None and ctx.budget_per_call else None
        try:
            prediction = run_steps(self._program["forward"], {"input": inputs}, lambda name: getattr(self, name))
        finally:
            if token is not None:
                RUN_CONTEXT.reset(token)
        if prediction is None:
            raise BridgeError("DSPY_ERROR", "dspy", "the program ended without a return step")
        return prediction


def _own_run(job: RunContext) -> RunContext:
    """A program call inside evaluate / compile: the job's context with a fresh budget (see budget_per_call)."""
    return RunContext(budget=Budget(), programs=job.programs, depth=job.depth, secrets=job.secrets, corpora=job.corpora)


class ProgramBuilder:
    """Builds programs from normalized programs (checked by program_schema.check_program)."""

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
