"""The forward interpreter: a normalized program's steps, run over DSPy modules. Nothing is evaluated.

- call: a module with its inputs bound; its Prediction is `$as.<field>`;
- return: the outputs of the program (or of the block it ends);
- map: the block once per element of a list (`$as.item`, `$as.index`), up to `parallel` at a time;
  after it `$as.<f>` is the list of each run's return f, in element order;
- loop: the block up to `max` rounds; `$as.<var>` is a var, updated after each round (set, then
  append / extend); it stops early once `until` holds;
- if: one of two blocks by a bool or enum field; `$as.<f>` is the returned f of the branch taken.
Every step counts against the run's budget (run_context.Budget), so a run is bounded however it loops.
"""

from __future__ import annotations

import contextvars
import copy
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import dspy

from .catalog import RUN_LIMITS
from .errors import BridgeError
from .run_context import CURRENT_STEP, RUN_PARALLEL, current

MAX_MAP_ITEMS = RUN_LIMITS["maxMapItems"]

Results = dict[str, Any]
CallModule = Callable[[str], dspy.Module]


def run_steps(steps: list[dict[str, Any]], results: Results, module_of: CallModule, where: str = "") -> Any:
    """Runs steps, adding what they define to `results`; the return step's Prediction, if there is one."""
    for step in steps:
        if "return" in step:
            prediction = dspy.Prediction()
            # Item assignment, not Prediction(**outputs): an output named "base" would be taken
            # as Example's `base` argument.
            for name, binding in step["return"].items():
                prediction[name] = resolve(binding, results)
            return prediction
        name = f"{where}{step['as']}"
        current().budget.step(name)
        if "call" in step:
            kwargs = {key: resolve(binding, results) for key, binding in step["with"].items()}
            token = CURRENT_STEP.set(name)
            try:
                results[step["as"]] = module_of(step["call"])(**kwargs)
            finally:
                CURRENT_STEP.reset(token)
        elif "map" in step:
            results[step["as"]] = _map(step, results, module_of, name)
        elif "loop" in step:
            results[step["as"]] = _loop(step, results, module_of, name)
        else:
            branch = step["then"] if _holds(step["if"], results) else step["else"]
            results[step["as"]] = run_steps(branch, dict(results), module_of, f"{name}.")
    return None


def resolve(binding: dict[str, Any], results: Results) -> Any:
    if "literal" in binding:
        # A fresh copy per run: a module must not be able to change the definition's literal.
        return copy.deepcopy(binding["literal"])
    step, field = binding["ref"]["step"], binding["ref"]["field"]
    if step == "input":
        if field not in results["input"]:
            raise BridgeError("INVALID_INPUTS", "validation", f"inputs.{field}: is required")
        return results["input"][field]
    source = results[step]
    if field not in source:
        raise BridgeError("DSPY_ERROR", "dspy", f"step '{step}' produced no field '{field}'")
    return source[field]


def _holds(condition: dict[str, Any], results: Results) -> bool:
    return resolve({"ref": condition["ref"]}, results) == condition["equals"]


def _map(step: dict[str, Any], results: Results, module_of: CallModule, name: str) -> dict[str, list[Any]]:
    items = resolve(step["map"], results)
    if not isinstance(items, list):
        raise BridgeError("DSPY_ERROR", "dspy", f"{name}: map needs a list, got {type(items).__name__}")
    if len(items) > MAX_MAP_ITEMS:
        raise BridgeError("LIMIT_EXCEEDED", "validation", f"{name}: map over {len(items)} elements; the limit is {MAX_MAP_ITEMS}", False, {"limit": "map_items", "max": MAX_MAP_ITEMS})

    def one(index: int) -> Any:
        scope = dict(results)
        scope[step["as"]] = {"item": items[index], "index": index}
        return run_steps(step["steps"], scope, module_of, f"{name}[{index}].")

    if step["parallel"] <= 1 or len(items) <= 1:
        runs = [one(i) for i in range(len(items))]
    else:
        # Each element runs in a copy of this context: the LM, tracer, cancel check and budget go with it.
        calls = [functools.partial(contextvars.copy_context().run, one, i) for i in range(len(items))]
        runs = (RUN_PARALLEL.get() or in_threads)(calls, min(step["parallel"], len(items)))
    fields = list(runs[0].keys()) if runs else []
    return {field: [run[field] for run in runs] for field in fields}


def in_threads(calls: list[Callable[[], Any]], workers: int) -> list[Any]:
    """The calls on a thread pool of `workers`: their results in order; the first failure by index raises
    (after every call has ended, as the pool's shutdown waits for them)."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="map") as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


def _loop(step: dict[str, Any], results: Results, module_of: CallModule, name: str) -> dict[str, Any]:
    as_name = step["as"]
    state = {var: resolve(spec["value"], results) for var, spec in step["vars"].items()}
    for round_ in range(step["loop"]["max"]):
        scope = dict(results)
        scope[as_name] = dict(state)
        run_steps(step["steps"], scope, module_of, f"{name}[{round_}].")
        updated = dict(state)
        for var, binding in step["set"].items():
            updated[var] = resolve(binding, scope)
        for var, binding in step["append"].items():
            updated[var] = [*updated[var], resolve(binding, scope)]
        for var, binding in step["extend"].items():
            updated[var] = [*updated[var], *resolve(binding, scope)]
        state = updated
        scope[as_name] = dict(state)
        until = step["loop"].get("until")
        if until is not None and _holds(until, scope):
            break
    return state
