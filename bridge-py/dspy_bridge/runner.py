"""The `run` command: one program, one LM, one set of inputs → outputs, trace and usage.

The LM and the tracer are applied with dspy.context (a contextvar, so per thread and per request);
nothing is configured globally. DSPy's own history and trace lists are disabled/isolated per run:
the tracer records what is needed, and a long-lived worker must not accumulate prompts. A cancelled
run stops before its next module or LM call (an LM call already sent runs to its end).
"""

from __future__ import annotations

import threading
from typing import Any

import dspy
from dspy.utils.callback import BaseCallback

from .definition import validate_program_inputs
from .errors import BridgeError, Cancelled, from_run_exception
from .program_builder import ProgramBuilder
from .registry import ProgramEntry
from .lm import LMEntry
from .tracing import RunTracer, to_jsonable


class CancelCheck(BaseCallback):
    """Raises Cancelled at the start of a module or LM call once the run's cancel event is set."""

    def __init__(self, cancel: threading.Event) -> None:
        self._cancel = cancel

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self._check()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self._check()


def run_program(entry: ProgramEntry, lm_entry: LMEntry, inputs: Any, deadline_ms: float | None = None, cancel: threading.Event | None = None) -> dict[str, Any]:
    issues = validate_program_inputs(entry.program, inputs)
    if issues:
        first = issues[0]
        raise BridgeError("INVALID_INPUTS", "validation", f"{first['path']}: {first['reason']}", False, {"issues": issues})
    module = entry.module  # this run keeps this module even if load_state swaps in another
    tracer = RunTracer(ProgramBuilder.modules(module))
    lm = lm_entry.for_run(deadline_ms)
    settings: dict[str, Any] = {"adapter": lm_entry.adapter} if lm_entry.adapter is not None else {}
    # The check runs first, so a cancelled call is never traced as started.
    callbacks: list[BaseCallback] = [tracer] if cancel is None else [CancelCheck(cancel), tracer]
    with dspy.context(lm=lm, callbacks=callbacks, usage_tracker=tracer, disable_history=True, trace=[], **settings):
        try:
            prediction = module(**inputs)
        except Exception as exc:
            error = from_run_exception(exc)
            error.details.setdefault("trace", tracer.trace())
            raise error from None
    outputs = to_jsonable(dict(prediction.items()))
    return {"outputs": outputs, "trace": tracer.trace(), "usage": tracer.usage()}
