"""The `evaluate` and `compile` commands: dspy.Evaluate and DSPy's optimizers on a defined program.

Both run on a request thread with the request's LM applied through dspy.context (never globally),
report progress through a callback (`progress(payload)`, sent by the worker as `progress`
messages), and stop early when their cancel event is set: the metric wrapper (and, for evaluate,
the program wrapper) raise `Cancelled`, a BaseException, so no DSPy `except Exception` swallows it.

Everything a request can get wrong is checked before anything runs (INVALID_CONFIG, INVALID_METRIC,
INVALID_EXAMPLES with `details.issues` `{path, reason}`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import dspy
import orjson
from dspy.utils.callback import BaseCallback

from . import callback_dispatch, dspy_memos
from .inputs import input_issues
from .catalog import option_issues, option_stage
from .errors import BridgeError, Cancelled, from_run_exception
from .lm import LMEntry
from .lm_gate import LmGate, LmMeter, LmRefused
from .metrics import DeclarativeMetric, build_metric, raise_invalid_metric, validate_metric
from .registry import ProgramEntry
from .run_context import RUN_CONTEXT, current
from .tracing import to_jsonable

MAX_EXAMPLES = 10_000
MAX_THREADS = 32
PROGRESS_INTERVAL_S = 0.25

# The meter is a callback of every evaluate / compile: DSPy's choice of its handlers is remembered.
callback_dispatch.install()
dspy_memos.install()


# --- progress ---------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Counts what a job has done and sends it on, throttled (phase changes always go out)."""

    send: Callable[[dict[str, Any]], None] | None
    cancel: threading.Event | None
    phase: str = "starting"
    done: int = 0
    total: int | None = None
    trials: int = 0
    best_score: float | None = None
    metric_calls: int = 0
    # The request's LM usage so far (LmMeter.usage); None: progress carries no `usage`.
    usage: Callable[[], dict[str, Any]] | None = None
    _last_sent: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    def start_phase(self, phase: str, total: int | None = None) -> None:
        self.check()
        with self._lock:
            self.phase, self.done, self.total = phase, 0, total
        self.emit(force=True)

    def finish(self) -> None:
        with self._lock:
            self.phase = "done"
        self.emit(force=True)

    def step(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
        self.emit()

    def trial(self, score: float | None) -> None:
        with self._lock:
            self.trials += 1
            if score is not None and (self.best_score is None or score > self.best_score):
                self.best_score = score
        self.emit(force=True)

    def lm_call_ended(self) -> None:
        """After each LM call: spend shows up while no metric call happens (an optimizer proposing
        instructions), at most every PROGRESS_INTERVAL_S, so a server can stop a job over its budget."""
        if time.monotonic() - self._last_sent >= PROGRESS_INTERVAL_S:
            self.emit()

    def snapshot(self) -> dict[str, Any]:
        payload = {
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "trials": self.trials,
            "best_score": self.best_score,
            "metric_calls": self.metric_calls,
        }
        if self.usage is not None:
            payload["usage"] = self.usage()
        return payload

    def emit(self, force: bool = False) -> None:
        if self.send is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_sent < PROGRESS_INTERVAL_S and (self.total is None or self.done < self.total):
                return
            self._last_sent = now
            payload = self.snapshot()
            # Sent under the lock so events leave in the order their counts were taken.
            self.send(payload)


class _EvaluateWatcher(BaseCallback):
    """Counts the dspy.Evaluate runs optimizers make (one per candidate: a trial) and their scores."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.active = True

    def on_evaluate_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        if not self.active or exception is not None:
            return
        score = getattr(outputs, "score", None)
        self.progress.trial(float(score) if isinstance(score, (int, float)) and math.isfinite(score) else None)


class _CountingMetric:
    """The declarative metric as optimizers call it: counts calls, checks for cancellation, and turns
    a failing metric into 0 (recorded) instead of an optimizer's error budget."""

    def __init__(self, metric: DeclarativeMetric, progress: Progress) -> None:
        self.metric = metric
        self.progress = progress
        self.__name__ = metric.__name__

    @staticmethod
    def error_of(prediction: Any) -> str | None:
        """The failure recorded on a prediction (an attribute, not a field: keys() leave it out)."""
        return getattr(prediction, "_bridge_error", None)

    @staticmethod
    def record(prediction: Any, error: str) -> None:
        try:
            prediction._bridge_error = error[:1000]
        except Exception:  # not a dspy.Prediction: nothing to keep it on
            pass

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float:
        self.progress.check()
        with self.progress._lock:
            self.progress.metric_calls += 1
        try:
            if self.error_of(prediction) is not None:  # the program failed on this example (evaluate)
                return 0.0
            try:
                return self.metric(example, prediction, trace)
            except Exception as exc:
                self.record(prediction, f"metric: {type(exc).__name__}: {exc}")
                return 0.0
            except LmRefused as refused:  # the server did not grant a judge's LM call: a failed metric
                self.record(prediction, f"metric: {refused.error.code}: {refused.error.message}")
                return 0.0
        finally:
            self.progress.step()


class _FeedbackMetric:
    """GEPA's metric signature (gold, pred, trace, pred_name, pred_trace) → score with feedback."""

    def __init__(self, counting: _CountingMetric) -> None:
        self.counting = counting
        self.__name__ = counting.__name__

    def __call__(self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        score = self.counting(gold, pred, trace)
        error = self.counting.error_of(pred)
        feedback = error or self.counting.metric.feedback(gold, pred, score)
        return dspy.Prediction(score=score, feedback=feedback)


# --- examples ---------------------------------------------------------------------------------------


def parse_examples(value: Any, root: str, entry: ProgramEntry, required: bool = True) -> list[dspy.Example]:
    """`[{inputs, labels}]` → dspy.Examples with the inputs marked; INVALID_EXAMPLES with paths."""
    issues: list[dict[str, str]] = []
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise _invalid("INVALID_EXAMPLES", [{"path": root, "reason": "must be a non-empty array of {inputs, labels}"}])
    if len(value) > MAX_EXAMPLES:
        raise _invalid("INVALID_EXAMPLES", [{"path": root, "reason": f"at most {MAX_EXAMPLES} examples"}])
    examples = []
    for i, item in enumerate(value):
        path = f"{root}[{i}]"
        if not isinstance(item, dict):
            issues.append({"path": path, "reason": "an example must be an object {inputs, labels}"})
            continue
        for key in item:
            if key not in ("inputs", "labels"):
                issues.append({"path": f"{path}.{key}", "reason": f"unknown key '{key}' (expected inputs, labels)"})
        inputs, labels = item.get("inputs"), item.get("labels", {})
        for found in input_issues(entry.inputs_schema, inputs, f"{path}.inputs"):
            issues.append(found)
        if not isinstance(labels, dict):
            issues.append({"path": f"{path}.labels", "reason": "labels must be an object of field values"})
            continue
        if not isinstance(inputs, dict):
            continue
        for name in labels:
            if name in inputs:
                issues.append({"path": f"{path}.labels.{name}", "reason": f"'{name}' is an input; a label must have another name"})
        examples.append(dspy.Example(**inputs, **labels).with_inputs(*inputs.keys()))
    if issues:
        raise _invalid("INVALID_EXAMPLES", issues)
    return examples


def _label_fields(*sets: list[dspy.Example]) -> set[str]:
    """Label fields every example has (a metric's label must be in all of them)."""
    common: set[str] | None = None
    for examples in sets:
        for ex in examples:
            keys = set(ex.labels().keys())
            common = keys if common is None else common & keys
    return common or set()


def _metric(payload: dict[str, Any], entry: ProgramEntry, lm_of: Callable[[str], LMEntry], *example_sets: list[dspy.Example]) -> DeclarativeMetric:
    spec = payload.get("metric")
    declared = payload.get("label_fields")
    labels = set(declared) if isinstance(declared, list) and all(isinstance(x, str) for x in declared) else _label_fields(*example_sets)
    issues = validate_metric(spec, entry.program["outputs"], labels)
    if not issues and isinstance(declared, list):  # declared, but is it in every example?
        for name, examples in zip(("examples", "trainset", "devset"), example_sets):
            for i, ex in enumerate(examples):
                if spec["label"] not in ex.labels():
                    issues.append({"path": f"{name}[{i}].labels.{spec['label']}", "reason": f"the metric's label '{spec['label']}' is missing"})
                    break
    raise_invalid_metric(issues)
    return build_metric(spec, lm_of)


def _invalid(code: str, issues: list[dict[str, str]]) -> BridgeError:
    first = issues[0]
    return BridgeError(code, "validation", f"{first['path']}: {first['reason']}", False, {"issues": issues})


def _threads(payload: dict[str, Any], default: int = 1) -> int:
    n = payload.get("num_threads", default)
    if n is None:
        return default
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_THREADS:
        raise _invalid("BAD_MESSAGE", [{"path": "payload.num_threads", "reason": f"must be an integer from 1 to {MAX_THREADS}"}])
    return n


# --- evaluate ---------------------------------------------------------------------------------------


def evaluate_program(
    entry: ProgramEntry,
    lm_entry: LMEntry,
    payload: dict[str, Any],
    lm_of: Callable[[str], LMEntry],
    send_progress: Callable[[dict[str, Any]], None] | None = None,
    cancel: threading.Event | None = None,
    gate: LmGate | None = None,
) -> dict[str, Any]:
    """`gate`: the server's grants for calls of the request's `limited_lms` (lm_gate.py)."""
    examples = parse_examples(payload.get("examples"), "examples", entry)
    metric = _metric(payload, entry, lm_of, examples)
    threads = _threads(payload)
    progress, meter = _metered(send_progress, cancel, gate)
    settings: dict[str, Any] = {"adapter": lm_entry.adapter} if lm_entry.adapter is not None else {}
    with _budget_per_program_call(), dspy.context(lm=lm_entry.for_run(), callbacks=[meter], usage_tracker=meter, disable_history=True, trace=[], allow_tool_async_sync_conversion=True, **settings):
        score, results = _evaluate(entry.module, examples, metric, progress, threads, "evaluate")
    progress.finish()
    return {"score": score, "results": results, "metric_calls": progress.metric_calls, "usage": meter.usage()}


@contextlib.contextmanager
def _budget_per_program_call() -> Iterator[None]:
    """Each program call of the job (an example, a trial, a judge) is bounded like a run of its own
    (run_context.RunContext.budget_per_call), not the whole job by one run's budget."""
    token = RUN_CONTEXT.set(dataclasses.replace(current(), budget_per_call=True))
    try:
        yield
    finally:
        RUN_CONTEXT.reset(token)


def _metered(send_progress: Callable[[dict[str, Any]], None] | None, cancel: threading.Event | None, gate: LmGate | None) -> tuple[Progress, LmMeter]:
    """A job's progress and the meter of every LM call it makes (program, judge, proposer, reflection):
    the reply's `usage`, and each progress message's usage so far."""
    progress = Progress(send_progress, cancel)
    meter = LmMeter(gate, on_usage=progress.lm_call_ended)
    progress.usage = meter.usage
    return progress, meter


def _evaluate(module: dspy.Module, examples: list[dspy.Example], metric: DeclarativeMetric, progress: Progress, threads: int, phase: str) -> tuple[float, list[dict[str, Any]]]:
    """dspy.Evaluate over the examples, each example's failure captured instead of counted."""
    progress.start_phase(phase, len(examples))
    counting = _CountingMetric(metric, progress)

    def program(**inputs: Any) -> Any:
        progress.check()
        try:
            return module(**inputs)
        except Exception as exc:
            error = from_run_exception(exc)
        except LmRefused as refused:  # the server did not grant one of its LM calls: this example failed
            error = refused.error
        prediction = dspy.Prediction()
        counting.record(prediction, f"{error.code}: {error.message}")
        return prediction

    evaluator = dspy.Evaluate(devset=examples, metric=counting, num_threads=threads, display_progress=False, max_errors=len(examples) + 1, provide_traceback=False)
    outcome = evaluator(program)
    results = []
    for example, prediction, score in outcome.results:
        error = counting.error_of(prediction)
        results.append(
            {
                "inputs": to_jsonable(dict(example.inputs().items())),
                "labels": to_jsonable(dict(example.labels().items())),
                "prediction": None if error and not len(prediction.keys()) else to_jsonable(dict(prediction.items())),
                "score": float(score) if isinstance(score, (int, float)) else 0.0,
                "error": error,
            }
        )
    return float(outcome.score), results


# --- compile ----------------------------------------------------------------------------------------

@dataclass
class _Prepared:
    init: dict[str, Any]
    compile: dict[str, Any]


def _prepare(optimizer: str, config: dict[str, Any], trainset: list, devset: list, seed: int | None) -> _Prepared:
    init = {k: v for k, v in config.items() if option_stage(optimizer, k) == "init"}
    comp = {k: v for k, v in config.items() if option_stage(optimizer, k) == "compile"}
    if optimizer == "MIPRO_V2":
        init.setdefault("auto", "light")
        init["verbose"] = False
        if seed is not None:
            init["seed"] = seed
        if "num_trials" in init:
            comp["num_trials"] = init.pop("num_trials")
        valset = len(devset) if devset else max(1, int(len(trainset) * 0.8))
        if comp.get("minibatch", True):
            comp.setdefault("minibatch_size", min(35, valset))
    if optimizer == "SIMBA" and seed is not None:
        comp["seed"] = seed
    if optimizer == "GEPA" and seed is not None:
        init["seed"] = seed
    return _Prepared(init, comp)


def compile_program(
    entry: ProgramEntry,
    lm_entry: LMEntry,
    payload: dict[str, Any],
    lm_of: Callable[[str], LMEntry],
    send_progress: Callable[[dict[str, Any]], None] | None = None,
    cancel: threading.Event | None = None,
    gate: LmGate | None = None,
) -> dict[str, Any]:
    """`gate`: the server's grants for calls of the request's `limited_lms` (lm_gate.py)."""
    optimizer = payload.get("optimizer")
    config = payload.get("config") or {}
    seed = payload.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _invalid("INVALID_CONFIG", [{"path": "seed", "reason": "must be an integer"}])
    # The server checked the cross-key rules (they need the data sizes); the catalog's are checked here.
    issues = option_issues(optimizer, config)
    if issues:
        raise _invalid("INVALID_CONFIG", issues)
    trainset = parse_examples(payload.get("trainset"), "trainset", entry)
    devset = parse_examples(payload.get("devset"), "devset", entry, required=False)
    metric = _metric(payload, entry, lm_of, trainset, devset)
    reflection = None
    if optimizer == "GEPA":
        key = payload.get("reflection_lm_key")
        if not isinstance(key, str) or not key:
            raise _invalid("INVALID_CONFIG", [{"path": "reflection_lm_key", "reason": "GEPA needs a reflection language model"}])
        reflection = lm_of(key).for_run()
    elif payload.get("reflection_lm_key") is not None:
        raise _invalid("INVALID_CONFIG", [{"path": "reflection_lm_key", "reason": "only GEPA takes a reflection language model"}])

    progress, meter = _metered(send_progress, cancel, gate)
    counting = _CountingMetric(metric, progress)
    watcher = _EvaluateWatcher(progress)
    prepared = _prepare(optimizer, config, trainset, devset, seed)
    lm = lm_entry.for_run()
    settings: dict[str, Any] = {"adapter": lm_entry.adapter} if lm_entry.adapter is not None else {}
    student = entry.module.deepcopy()
    started = time.perf_counter()
    # History off, as for runs: a long-lived worker keeps no prompts (the optimizers here don't read it).
    with _budget_per_program_call(), dspy.context(lm=lm, callbacks=[meter, watcher], usage_tracker=meter, disable_history=True, trace=[], allow_tool_async_sync_conversion=True, **settings):
        progress.start_phase("compile")
        try:
            compiled = _run_optimizer(optimizer, prepared, student, counting, trainset, devset, reflection, lm)
        except Cancelled:
            raise
        except BridgeError:
            raise
        except Exception as exc:
            error = from_run_exception(exc)
            error.message = f"{optimizer} failed: {error.message}"
            raise error from None
        except LmRefused as refused:  # a call of the program, proposer or reflection LM was not granted
            error = refused.error
            error.message = f"{optimizer} failed: {error.message}"
            raise error from None
        compile_ms = (time.perf_counter() - started) * 1000
        watcher.active = False
        # The LM is chosen per request; a predictor-level LM an optimizer left behind must not be saved.
        for _, predictor in compiled.named_predictors():
            predictor.lm = None
        final_set = devset or trainset
        score, _ = _evaluate(compiled, final_set, metric, progress, 1, "evaluate")
    progress.finish()
    state = to_jsonable(compiled.dump_state())
    return {
        "optimizer": optimizer,
        "compiled_state": state,
        "dspy_state": saved_state(compiled),
        "score": score,
        "scored_on": "devset" if devset else "trainset",
        "trials": progress.trials,
        "best_trial_score": progress.best_score,
        "metric_calls": progress.metric_calls,
        "compile_ms": round(compile_ms, 3),
        "usage": meter.usage(),
    }


def _run_optimizer(optimizer: str, prepared: _Prepared, student: dspy.Module, metric: _CountingMetric, trainset: list, devset: list, reflection: Any, lm: Any) -> dspy.Module:
    tp = dspy.teleprompt
    init, comp = prepared.init, prepared.compile
    if optimizer == "LABELED_FEW_SHOT":
        return tp.LabeledFewShot(**init).compile(student, trainset=trainset, **comp)
    if optimizer == "BOOTSTRAP_FEW_SHOT":
        return tp.BootstrapFewShot(metric=metric, **init).compile(student, trainset=trainset)
    if optimizer == "BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH":
        return tp.BootstrapFewShotWithRandomSearch(metric=metric, **init).compile(student, trainset=trainset, valset=devset or None, **comp)
    if optimizer == "COPRO":
        # COPRO scores candidates on the trainset (it takes no valset).
        eval_kwargs = {"num_threads": 1, "display_progress": False}
        return tp.COPRO(metric=metric, prompt_model=lm, **init).compile(student, trainset=trainset, eval_kwargs=eval_kwargs)
    if optimizer == "MIPRO_V2":
        return tp.MIPROv2(metric=metric, prompt_model=lm, task_model=lm, **init).compile(student, trainset=trainset, valset=devset or None, **comp)
    if optimizer == "SIMBA":
        return tp.SIMBA(metric=metric, prompt_model=lm, **init).compile(student, trainset=trainset, **comp)
    if optimizer == "GEPA":
        return tp.GEPA(metric=_FeedbackMetric(metric), reflection_lm=reflection, **init).compile(student, trainset=trainset, valset=devset or None)
    raise AssertionError(optimizer)


# --- DSPy's own save() format ------------------------------------------------------------------------


def saved_state(module: dspy.Module) -> dict[str, Any]:
    """Exactly what `module.save("x.json")` writes (dump_state plus `metadata`), read back."""
    fd, path = tempfile.mkstemp(suffix=".json", prefix="dspy-state-")
    os.close(fd)
    try:
        module.save(path)
        with open(path, "rb") as f:
            return orjson.loads(f.read())
    finally:
        os.unlink(path)
