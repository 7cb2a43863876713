"""Per-run trace through DSPy's callback system.

One RunTracer per request, installed with `dspy.context(callbacks=[tracer], usage_tracker=tracer)`:
dspy.context is a contextvar, so concurrent requests on other threads never see each other's
tracer. DSPy calls
- on_module_start/end for every dspy.Module call: the tracer keeps those of the program's own
  submodules (by identity) as trace entries, named by the step the interpreter is running
  (run_context.CURRENT_STEP); nested modules (ChainOfThought's inner Predict) are not entries;
- on_lm_start/end for every LM call: recorded in the innermost open entry of the calling thread
  (a parallel map runs entries on several threads), with the messages sent (instructions, demos,
  inputs) and the response text; a tool program's own LM calls are its caller's;
- on_tool_start/end for every ReAct tool call: recorded in the entry as `tool_calls` (arguments,
  result or error);
- add_usage(model, usage) (DSPy's usage-tracker protocol) from inside the LM call, which is matched
  to its LM call through DSPy's ACTIVE_CALL_ID.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from dspy.utils.callback import ACTIVE_CALL_ID, BaseCallback

from .run_context import CURRENT_STEP

MAX_DEPTH = 64


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy of what DSPy hands around (Predictions, pydantic models, tuples, ...)."""
    if depth > MAX_DEPTH:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, depth + 1) for v in value]
    items = getattr(value, "items", None)
    if callable(items) and hasattr(value, "_store"):  # dspy.Example / dspy.Prediction
        return {str(k): to_jsonable(v, depth + 1) for k, v in items()}
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic models (dspy.History, custom types)
        try:
            return to_jsonable(dump(mode="json"), depth + 1)
        except Exception:
            pass
    return repr(value)


def _usage_numbers(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    out = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key)
        out[key] = int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
    return out


def _response_text(outputs: Any) -> Any:
    """DSPy LM outputs are a list of strings, or of dicts with "text" (plus reasoning, tool calls)."""
    if not isinstance(outputs, list):
        return to_jsonable(outputs)
    texts = [o.get("text") if isinstance(o, dict) else o for o in outputs]
    texts = [to_jsonable(t) for t in texts]
    return texts[0] if len(texts) == 1 else texts


class RunTracer(BaseCallback):
    def __init__(self, modules: dict[int, tuple[str, str]]) -> None:
        self._modules = modules
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []
        self._open: dict[str, tuple[dict[str, Any], float]] = {}  # module call id → entry
        self._stacks: dict[int, list[dict[str, Any]]] = {}  # open entries per thread, innermost last
        self._tools_open: dict[str, tuple[dict[str, Any], float]] = {}
        self._lm_open: dict[str, tuple[dict[str, Any], float]] = {}
        self._lm_last: dict[str, Any] | None = None
        self.orphan_lm_calls: list[dict[str, Any]] = []

    # --- modules ---------------------------------------------------------------------------------

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        known = self._modules.get(id(instance))
        if known is None:
            return
        name, module_type = known
        entry = {
            "step": CURRENT_STEP.get() or name,
            "module": name,
            "type": module_type,
            "inputs": to_jsonable(inputs.get("kwargs", {})),
            "outputs": {},
            "duration_ms": 0.0,
            "lm_calls": [],
        }
        with self._lock:
            self.entries.append(entry)
            self._stack().append(entry)
            self._open[call_id] = (entry, time.perf_counter())

    def on_module_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        with self._lock:
            opened = self._open.pop(call_id, None)
            if opened is None:
                return
            entry, started = opened
            stack = self._stack()
            if entry in stack:
                stack.remove(entry)
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if exception is not None:
            entry["error"] = f"{type(exception).__name__}: {exception}"[:1000]
        else:
            jsonable = to_jsonable(outputs)
            entry["outputs"] = jsonable if isinstance(jsonable, dict) else {"value": jsonable}

    # --- LM calls --------------------------------------------------------------------------------

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        messages = inputs.get("messages")
        if messages is None and inputs.get("prompt") is not None:
            messages = [{"role": "user", "content": inputs["prompt"]}]
        call = {
            "model": str(getattr(instance, "model", type(instance).__name__)),
            "messages": to_jsonable(messages),
            "response": None,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "latency_ms": 0.0,
        }
        with self._lock:
            stack = self._stack()
            (stack[-1]["lm_calls"] if stack else self.orphan_lm_calls).append(call)
            self._lm_open[call_id] = (call, time.perf_counter())
            self._lm_last = call

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        with self._lock:
            opened = self._lm_open.pop(call_id, None)
        if opened is None:
            return
        call, started = opened
        call["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if exception is not None:
            call["error"] = f"{type(exception).__name__}: {exception}"[:1000]
        else:
            call["response"] = _response_text(outputs)

    # --- tool calls (ReAct) -----------------------------------------------------------------------

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        call = {"tool": str(getattr(instance, "name", "?")), "args": to_jsonable(inputs.get("kwargs", {})), "result": None, "duration_ms": 0.0}
        with self._lock:
            stack = self._stack()
            if stack:
                stack[-1].setdefault("tool_calls", []).append(call)
            self._tools_open[call_id] = (call, time.perf_counter())

    def on_tool_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        with self._lock:
            opened = self._tools_open.pop(call_id, None)
        if opened is None:
            return
        call, started = opened
        call["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if exception is not None:
            call["error"] = f"{type(exception).__name__}: {exception}"[:1000]
        else:
            call["result"] = to_jsonable(outputs)

    # --- for the OpenTelemetry spans (otel.py) -----------------------------------------------------

    def module_of(self, instance: Any) -> tuple[str, str] | None:
        """(name, type) of one of the program's own modules, None for any other module."""
        return self._modules.get(id(instance))

    def open_lm_call(self, call_id: str) -> dict[str, Any] | None:
        """The record of an LM call still open (its usage is final once the call has returned)."""
        with self._lock:
            opened = self._lm_open.get(call_id)
        return opened[0] if opened else None

    def _stack(self) -> list[dict[str, Any]]:
        """This thread's open entries (callers hold the lock)."""
        return self._stacks.setdefault(threading.get_ident(), [])

    # --- DSPy's usage-tracker protocol -----------------------------------------------------------

    def add_usage(self, lm: str, usage_entry: dict[str, Any]) -> None:
        numbers = _usage_numbers(usage_entry)
        with self._lock:
            opened = self._lm_open.get(ACTIVE_CALL_ID.get() or "")
            call = opened[0] if opened else self._lm_last
            if call is None:
                return
            for key, value in numbers.items():
                call["usage"][key] += value

    # --- results ---------------------------------------------------------------------------------

    def trace(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.entries)

    def usage(self) -> dict[str, int]:
        totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 0}
        with self._lock:
            calls = [c for e in self.entries for c in e["lm_calls"]] + self.orphan_lm_calls
        for call in calls:
            totals["lm_calls"] += 1
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                totals[key] += call["usage"][key]
        return totals
