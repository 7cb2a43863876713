"""The `run` command: one program, one LM, one set of inputs → outputs, trace and usage.

The LM and the tracer are applied with dspy.context (a contextvar, so per thread and per request);
nothing is configured globally. DSPy's own history and trace lists are disabled/isolated per run:
the tracer records what is needed, and a long-lived worker must not accumulate prompts. A cancelled
run stops before its next module or LM call (an LM call already sent runs to its end).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import dspy
from dspy.utils.callback import BaseCallback

from . import callback_dispatch, dspy_memos, otel, streaming
from .inputs import input_issues
from .errors import BridgeError, Cancelled, from_run_exception
from .program_builder import ProgramBuilder
from .registry import ProgramEntry
from .run_context import DEFAULT_MAX_LM_CALLS, RUN_CONTEXT, Budget, LimitExceeded, RunContext
from .lm import LMEntry
from .lm_gate import LmGate, LmMeter, LmRefused
from .tracing import RunTracer, to_jsonable

# Every run has callbacks (the guard, the tracer): DSPy's choice of their handlers is remembered (callback_dispatch.py).
callback_dispatch.install()
# And what DSPy works out again on every LM call although it cannot change (dspy_memos.py).
dspy_memos.install()
# A streamed answer's chunks reach the run's tracer on the LM call's own thread (streaming.py).
streaming.install()


class RunGuard(BaseCallback):
    """At the start of a module or LM call: raises Cancelled once the run's cancel event is set, and
    counts LM calls against the run's budget (LimitExceeded past MAX_LM_CALLS_PER_EXECUTION)."""

    def __init__(self, cancel: threading.Event | None, budget: Budget) -> None:
        self._cancel = cancel
        self._budget = budget

    def _check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self._check()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self._check()
        self._budget.lm_call()


def run_program(
    entry: ProgramEntry,
    lm_entry: LMEntry,
    inputs: Any,
    deadline_ms: float | None = None,
    cancel: threading.Event | None = None,
    programs: Callable[[str], tuple[Any, LMEntry]] | None = None,
    max_lm_calls: int | None = None,
    secrets: dict[str, str] | None = None,
    corpora: dict[str, str] | None = None,
    traceparent: str | None = None,
    span_attributes: dict[str, Any] | None = None,
    stream: streaming.Send | None = None,
    gate: LmGate | None = None,
) -> dict[str, Any]:
    """`programs(version_id)`: the module and LM of a program this one calls (tools, judges).
    `traceparent`: the trace the run's span continues (otel.py; nothing when tracing is off).
    `stream(payload)`: sends a stream message (a `run` with `"stream": true`, streaming.py); None: the
    run is exactly what it was before streaming existed. `gate`: the server's grants for calls of the
    request's `limited_lms` (lm_gate.py); None: no LM call waits for anything."""
    with otel.run_span(traceparent, span_attributes or {}) as span:
        try:
            result = _run(entry, lm_entry, inputs, deadline_ms, cancel, programs, max_lm_calls, secrets, corpora, stream, gate)
        except BridgeError as error:
            otel.fail(span, error.code, error.message)
            raise
        except Cancelled:
            otel.fail(span, "CANCELLED", "the run was cancelled")
            raise
        except Exception as exc:
            otel.fail(span, "WORKER_INTERNAL", f"{type(exc).__name__}: {exc}")
            raise
        if span is not None:
            usage = result["usage"]
            span.set_attributes({"gen_ai.usage.input_tokens": usage["prompt_tokens"], "gen_ai.usage.output_tokens": usage["completion_tokens"], "dspy.lm_calls": usage["lm_calls"]})
        return result


def _run(
    entry: ProgramEntry,
    lm_entry: LMEntry,
    inputs: Any,
    deadline_ms: float | None,
    cancel: threading.Event | None,
    programs: Callable[[str], tuple[Any, LMEntry]] | None,
    max_lm_calls: int | None,
    secrets: dict[str, str] | None,
    corpora: dict[str, str] | None,
    stream: streaming.Send | None = None,
    gate: LmGate | None = None,
) -> dict[str, Any]:
    issues = input_issues(entry.inputs_schema, inputs)
    if issues:
        first = issues[0]
        raise BridgeError("INVALID_INPUTS", "validation", f"{first['path']}: {first['reason']}", False, {"issues": issues})
    module = entry.module  # this run keeps this module even if load_state swaps in another
    modules = ProgramBuilder.modules(module)
    lm = lm_entry.for_run(deadline_ms)
    tracer = RunTracer(modules) if stream is None else streaming.StreamingTracer(modules, streaming.targets(module), stream, cancel, _timeout_of(lm))
    settings: dict[str, Any] = {"adapter": lm_entry.adapter} if lm_entry.adapter is not None else {}
    # Deltas need DSPy's streaming (and a thread it can stream from); status events alone do not.
    deltas = isinstance(tracer, streaming.StreamingTracer) and streaming.streams(tracer, lm_entry.dummy)
    if deltas:
        settings.update(streaming.context_settings(tracer, lm_entry.adapter))
    budget = Budget(max_lm_calls=max_lm_calls or DEFAULT_MAX_LM_CALLS)
    # The guard runs first, so a cancelled or over-budget call is never traced as started; the span
    # callback (tracing on) before the tracer, whose LM call record it reads when the call ends.
    spans = otel.callback(tracer)
    # With limited LMs, the meter waits for each call's grant after the guard (a cancelled or over-budget
    # call asks for nothing) and before the span and the tracer (a refused call was never started), and
    # reads each call's usage on its way to the tracer (for `spent`).
    meter = LmMeter(gate, inner=tracer) if gate is not None else None
    callbacks: list[BaseCallback] = [RunGuard(cancel, budget), *([meter] if meter else []), *([spans] if spans else []), tracer]
    context = RUN_CONTEXT.set(RunContext(budget=budget, programs=programs, secrets=secrets or {}, corpora=corpora or {}))
    # MCP tools are async (DSPy's convert_mcp_tool); ReAct calls tools synchronously on this thread.
    with dspy.context(lm=lm, callbacks=callbacks, usage_tracker=meter or tracer, disable_history=True, trace=[], allow_tool_async_sync_conversion=True, **settings):
        try:
            prediction = streaming.call(tracer, lambda: module(**inputs)) if deltas else module(**inputs)
        except (LimitExceeded, LmRefused) as exc:
            exc.error.details.setdefault("trace", tracer.trace())
            raise exc.error from None
        except Exception as exc:
            error = from_run_exception(exc)
            error.details.setdefault("trace", tracer.trace())
            raise error from None
        finally:
            RUN_CONTEXT.reset(context)
    outputs = to_jsonable(dict(prediction.items()))
    return {"outputs": outputs, "trace": tracer.trace(), "usage": tracer.usage()}


def _timeout_of(lm: Any) -> float | None:
    """The LM's timeout in seconds, when it is a number (lm.py sets it from the deadline or the config)."""
    value = (getattr(lm, "kwargs", None) or {}).get("timeout")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
