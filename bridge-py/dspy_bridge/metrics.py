"""Declarative metrics (no user code): a JSON spec → `metric(example, prediction, trace=None) -> float`.

```
{"kind": "exact_match" | "normalized_exact_match" | "contains" | "token_f1" | "numeric"
         | "passage_match" | "lm_judge",
 "output": <program output field>, "label": <label field>,
 "tolerance"?: number >= 0                       (numeric only; default 0)
 "judge"?: {"program", "lm_key", "score", "inputs": {judge input: "input.<f>"|"output.<f>"|"label.<f>"}}
                                                  (lm_judge only)}
```

Scores are floats in [0, 1] (booleans as 1.0 / 0.0); dspy.Evaluate averages them and reports 0–100.
DSPy's own helpers do the text work (dspy 3.4.1, dspy.evaluate.metrics): `normalize_text` (NFD,
lower case, no punctuation, no articles, collapsed spaces), `em_score`, `f1_score`, and
`answer_passage_match`'s rule (`_passage_match`: the normalized label's tokens appear as a run of
tokens in a normalized passage, DPR's `has_answer`).

- exact_match: `str(output).strip() == str(label).strip()` (numbers and bools compare by value);
- normalized_exact_match: DSPy's `em_score` (equal after normalize_text); a list label: any of them;
- contains: the normalized label occurs in the normalized output;
- token_f1: DSPy's `f1_score` (a list label: the best one, as DSPy's F1 does);
- numeric: both parse as numbers and |output − label| <= tolerance;
- passage_match: DSPy's passage rule on the output as a passage, or on each element when the
  output is a list of passages (as dspy.evaluate.answer_passage_match does with `context`);
- lm_judge: a judge program (a normalized program, shape-checked as any) run with its own LM; its
  `score` output (bool, or a number clamped to [0, 1]) is the score.

`validate_metric(spec, program_outputs, label_fields)` checks a spec without running anything
(issues `{path, reason}`, root `metric`): its shape with the schema the server's types generate.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import dspy
from dspy.evaluate.metrics import em_score, f1_score, normalize_text

from .errors import BridgeError
from .program_schema import metric_shape_issues

def validate_metric(
    spec: Any,
    program_outputs: list[str] | dict[str, Any],
    label_fields: list[str] | set[str] | None,
    root: str = "metric",
) -> list[dict[str, str]]:
    """Issues `[{path, reason}]` for a metric spec, nothing run. The server checked the spec against the
    program and the dataset before queueing (src/evaluations/metrics.ts); here its shape is checked with
    the schema generated from the server's types (program.schema.json `MetricSpec`), and what this request
    itself carries: the program's outputs, the examples' labels, the judge program's score output."""
    issues = metric_shape_issues(spec, root)
    if issues:
        return issues
    outputs = list(program_outputs)
    if spec["output"] not in outputs:
        issues.append({"path": f"{root}.output", "reason": f"the program has no output field '{spec['output']}' (outputs: {', '.join(outputs) or 'none'})"})
    if label_fields is not None and spec["label"] not in label_fields:
        issues.append({"path": f"{root}.label", "reason": f"no label field '{spec['label']}' (labels: {', '.join(sorted(label_fields)) or 'none'})"})
    judge = spec.get("judge")
    if judge is not None and judge["score"] not in judge["program"]["outputs"]:
        issues.append({"path": f"{root}.judge.score", "reason": f"must name an output of the judge program (outputs: {', '.join(judge['program']['outputs'])})"})
    if (judge is None) != (spec["kind"] != "lm_judge"):
        issues.append({"path": f"{root}.judge", "reason": "an lm_judge metric needs a judge, and only it takes one"})
    return issues


def raise_invalid_metric(issues: list[dict[str, str]]) -> None:
    if issues:
        first = issues[0]
        raise BridgeError("INVALID_METRIC", "validation", f"{first['path']}: {first['reason']}", False, {"issues": issues})


# --- scoring ---------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _labels(label: Any) -> list[Any]:
    return list(label) if isinstance(label, (list, tuple)) else [label]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def exact_match(output: Any, label: Any) -> float:
    return float(any(_text(output).strip() == _text(g).strip() for g in _labels(label)))


def normalized_exact_match(output: Any, label: Any) -> float:
    return float(any(em_score(_text(output), _text(g)) for g in _labels(label)))


def contains(output: Any, label: Any) -> float:
    text = normalize_text(_text(output))
    return float(any(normalize_text(_text(g)) in text for g in _labels(label)))


def token_f1(output: Any, label: Any) -> float:
    return float(max(f1_score(_text(output), _text(g)) for g in _labels(label)))


def numeric(output: Any, label: Any, tolerance: float = 0.0) -> float:
    got = _number(output)
    if got is None:
        return 0.0
    for g in _labels(label):
        want = _number(g)
        if want is not None and abs(got - want) <= tolerance + 1e-12:
            return 1.0
    return 0.0


def passage_match(output: Any, label: Any) -> float:
    passages = output if isinstance(output, (list, tuple)) else [output]
    # What dspy.evaluate.answer_passage_match uses (fixed to the fields `context`/`answer` there).
    from dspy.evaluate.metrics import _passage_match

    return float(_passage_match([_text(p) for p in passages], [_text(g) for g in _labels(label)]))


_SCORERS: dict[str, Callable[..., float]] = {
    "exact_match": exact_match,
    "normalized_exact_match": normalized_exact_match,
    "contains": contains,
    "token_f1": token_f1,
    "passage_match": passage_match,
}


class MissingField(Exception):
    """The prediction or the example lacks the field a metric compares."""


class DeclarativeMetric:
    """metric(example, prediction, trace=None) -> float, for DSPy's Evaluate and optimizers."""

    def __init__(self, spec: dict[str, Any], judge: Callable[[dict[str, Any]], float] | None = None) -> None:
        self.spec = spec
        self.kind = spec["kind"]
        self.output = spec["output"]
        self.label = spec["label"]
        self.tolerance = float(spec.get("tolerance", 0))
        self._judge = judge
        self.__name__ = self.kind  # Evaluate's table names the metric after it

    def values(self, example: Any, prediction: Any) -> tuple[Any, Any]:
        try:
            label = example[self.label]
        except (KeyError, AttributeError):
            raise MissingField(f"the example has no label '{self.label}'") from None
        try:
            output = prediction[self.output]
        except (KeyError, AttributeError, TypeError):
            raise MissingField(f"the prediction has no output '{self.output}'") from None
        return output, label

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float:
        output, label = self.values(example, prediction)
        if self.kind == "numeric":
            return numeric(output, label, self.tolerance)
        if self.kind == "lm_judge":
            assert self._judge is not None
            return self._judge({"input": dict(example.inputs()), "output": dict(prediction.items()), "label": dict(example.labels())})
        return _SCORERS[self.kind](output, label)

    def feedback(self, example: Any, prediction: Any, score: float) -> str:
        """Text for GEPA's reflection: what was expected and what came out."""
        try:
            output, label = self.values(example, prediction)
        except MissingField as exc:
            return str(exc)
        verdict = "correct" if score >= 1 else "partly correct" if score > 0 else "incorrect"
        return f"The output field '{self.output}' was {output!r}; the expected value ({self.kind} against '{self.label}') is {label!r}. Score {score:.3f}: {verdict}."


def build_metric(spec: dict[str, Any], judge_lm: Callable[[str], Any] | None = None) -> DeclarativeMetric:
    """A validated spec → its metric. `judge_lm(lm_key)` gives the judge's LMEntry (lm_judge only)."""
    judge = None
    if spec["kind"] == "lm_judge":
        assert judge_lm is not None
        judge = _judge_runner(spec["judge"], judge_lm(spec["judge"]["lm_key"]))
    return DeclarativeMetric(spec, judge)


def _judge_runner(judge: dict[str, Any], lm_entry: Any) -> Callable[[dict[str, Any]], float]:
    from .program_builder import ProgramBuilder

    module = ProgramBuilder.build(judge["program"])
    score_field = judge["score"]
    mapping = {name: source.split(".", 1) for name, source in judge["inputs"].items()}
    settings: dict[str, Any] = {"adapter": lm_entry.adapter} if lm_entry.adapter is not None else {}

    def run(values: dict[str, dict[str, Any]]) -> float:
        kwargs = {}
        for name, (where, field) in mapping.items():
            if field not in values[where]:
                raise MissingField(f"the judge's input '{name}' needs {where}.{field}, which is missing")
            kwargs[name] = values[where][field]
        # Its own LM, and its own trace list: the judge's predictors must not show up in the
        # traces optimizers bootstrap demos from.
        with dspy.context(lm=lm_entry.for_run(), trace=[], **settings):
            prediction = module(**kwargs)
        return judge_score(prediction[score_field])

    return run


def score_value(kind: str, output: Any, label: Any, tolerance: float = 0.0) -> float:
    """One output against one label with a simple kind (not lm_judge): what a reward compares."""
    if kind == "numeric":
        return numeric(output, label, tolerance)
    return _SCORERS[kind](output, label)


def judge_score(value: Any) -> float:
    """A judge's score output as a float in [0, 1] (a bool is 1.0 or 0.0)."""
    if isinstance(value, bool):
        return float(value)
    number = _number(value)
    return 0.0 if number is None else min(1.0, max(0.0, number))
