"""What one run carries down to the modules it calls: the other programs it may run (tools, judges),
its budget of steps and LM calls, and the step being run (for the tracer).

A contextvar, so per thread and per request; parallel `map` iterations copy it (contextvars.copy_context).
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from .catalog import RUN_LIMITS
from .errors import BridgeError

# The forward step being run ("gen", "answers[2].gen"), read by the tracer when DSPy reports the module call.
CURRENT_STEP: ContextVar[str | None] = ContextVar("dspy_bridge_current_step", default=None)

# Runs the elements of a parallel `map` (calls, at most this many at a time) → their results in order,
# raising the first failure by index. None: a thread pool (forward.py). A streaming run sets its own,
# because DSPy sends stream chunks with anyio.from_thread.run, which only works on anyio worker threads.
ParallelRunner = Callable[[list[Callable[[], Any]], int], list[Any]]
RUN_PARALLEL: ContextVar[ParallelRunner | None] = ContextVar("dspy_bridge_run_parallel", default=None)

DEFAULT_MAX_LM_CALLS = RUN_LIMITS["maxLmCalls"]
DEFAULT_MAX_STEPS = RUN_LIMITS["maxSteps"]
MAX_PROGRAM_DEPTH = 3


class LimitExceeded(BaseException):
    """A run went over a bound. A BaseException, so DSPy's `except Exception` (BestOfN's retries,
    its callback runner) lets it through; the runner turns it into its BridgeError."""

    def __init__(self, error: BridgeError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Budget:
    max_lm_calls: int = DEFAULT_MAX_LM_CALLS
    max_steps: int = DEFAULT_MAX_STEPS
    lm_calls: int = 0
    steps: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lm_call(self) -> None:
        with self._lock:
            self.lm_calls += 1
            over = self.lm_calls > self.max_lm_calls
        if over:
            raise LimitExceeded(BridgeError("LIMIT_EXCEEDED", "validation", f"the run made more than {self.max_lm_calls} LM calls (MAX_LM_CALLS_PER_EXECUTION)", False, {"limit": "lm_calls", "max": self.max_lm_calls}))

    def step(self, where: str) -> None:
        with self._lock:
            self.steps += 1
            over = self.steps > self.max_steps
        if over:
            raise LimitExceeded(BridgeError("LIMIT_EXCEEDED", "validation", f"{where}: the run executed more than {self.max_steps} steps", False, {"limit": "steps", "max": self.max_steps}))


@dataclass
class RunContext:
    budget: Budget = field(default_factory=Budget)
    # version_id → (the program module, its LM for this run): the programs this run may call.
    programs: Callable[[str], tuple[Any, Any]] | None = None
    depth: int = 0
    # Values of the ${NAME}s HTTP tools name in headers, sent with the request (never in the environment).
    secrets: dict[str, str] = field(default_factory=dict)
    # Corpus id → the hash of the version the run searches (Retrieve modules).
    corpora: dict[str, str] = field(default_factory=dict)
    # evaluate / compile: each call of a program (an example, a candidate's trial, a judge) is a run of its
    # own, with its own budget of steps; one budget for the whole job would end it after 1,000 calls.
    budget_per_call: bool = False


RUN_CONTEXT: ContextVar[RunContext | None] = ContextVar("dspy_bridge_run_context", default=None)


def current() -> RunContext:
    """The run's context, or a default one (a module used outside a run, e.g. in a unit test)."""
    ctx = RUN_CONTEXT.get()
    if ctx is None:
        ctx = RunContext()
        RUN_CONTEXT.set(ctx)
    return ctx
