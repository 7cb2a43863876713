"""Modules that run other stored programs: a ReAct tool that is a program, and an lm_judge reward.

The server pinned each to a program version and sends those versions (define_program) with the
run; the run's context (run_context.RunContext.programs) gives their module and LM. A call is a
nested run: the same budget, one level deeper (bounded), and the tracer sees it under the tool call.
"""

from __future__ import annotations

from typing import Any, Callable

import dspy

from .errors import BridgeError
from .metrics import judge_score, score_value
from .run_context import CURRENT_STEP, MAX_PROGRAM_DEPTH, RUN_CONTEXT, LimitExceeded, RunContext, current


def run_program_version(version_id: str, label: str, kwargs: dict[str, Any]) -> dspy.Prediction:
    ctx = current()
    if ctx.programs is None:
        raise BridgeError("UNKNOWN_PROGRAM", "protocol", f"{label}: program version '{version_id}' was not sent with this run", True, {"version_id": version_id})
    if ctx.depth + 1 > MAX_PROGRAM_DEPTH:
        raise LimitExceeded(BridgeError("LIMIT_EXCEEDED", "validation", f"{label}: programs call programs more than {MAX_PROGRAM_DEPTH} deep", False, {"limit": "depth"}))
    module, lm_entry = ctx.programs(version_id)
    token = RUN_CONTEXT.set(RunContext(budget=ctx.budget, programs=ctx.programs, depth=ctx.depth + 1, secrets=ctx.secrets, corpora=ctx.corpora))
    step = CURRENT_STEP.set(f"{CURRENT_STEP.get() or ''}>{label}")
    try:
        settings: dict[str, Any] = {"adapter": lm_entry.adapter} if lm_entry.adapter is not None else {}
        with dspy.context(lm=lm_entry.for_run(), **settings):
            return module(**kwargs)
    finally:
        CURRENT_STEP.reset(step)
        RUN_CONTEXT.reset(token)


def program_tool(ref: dict[str, Any], name: str) -> Callable[..., Any]:
    """A ReAct tool that runs a stored program: its inputs are the tool's arguments, its outputs the observation."""
    from .tracing import to_jsonable

    def call(**kwargs: Any) -> Any:
        return to_jsonable(dict(run_program_version(ref["versionId"], name, kwargs).items()))

    call.__name__ = name
    return call


class Reward:
    """reward_fn(args, prediction) -> float for BestOfN / Refine, from a declarative reward spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def __call__(self, args: dict[str, Any], prediction: Any) -> float:
        spec = self.spec
        judge = spec.get("judge")
        if judge is not None:
            values = {"input": args, "output": dict(prediction.items())}
            kwargs = {}
            for name, source in judge["inputs"].items():
                where, field = source.split(".", 1)
                kwargs[name] = values[where].get(field)
            return judge_score(run_program_version(judge["program"]["versionId"], "judge", kwargs)[judge["score"]])
        label = args.get(spec["input"]) if "input" in spec else spec.get("value")
        return score_value(spec["kind"], prediction[spec["output"]], label, float(spec.get("tolerance", 0)))


def reward_function(spec: dict[str, Any]) -> Reward:
    return Reward(spec)
