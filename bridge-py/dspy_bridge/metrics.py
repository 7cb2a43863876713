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
(issues `{path, reason}`, root `metric`), so the TypeScript side can mirror it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import dspy
from dspy.evaluate.metrics import em_score, f1_score, normalize_text

from .catalog import METRIC_KINDS
from .program_schema import program_issues
from .errors import BridgeError

_SPEC_KEYS = {"kind", "output", "label"} | {key for entry in METRIC_KINDS.values() for key in entry["keys"]}
_JUDGE_KEYS = {"program", "lm_key", "score", "inputs"}
_JUDGE_SOURCES = ("input", "output", "label")


def validate_metric(
    spec: Any,
    program_outputs: list[str] | dict[str, Any],
    label_fields: list[str] | set[str] | None,
    program_inputs: list[str] | dict[str, Any] | None = None,
    root: str = "metric",
) -> list[dict[str, str]]:
    """Issues `[{path, reason}]` for a metric spec against a program's outputs and the label fields
    (None: labels unknown, not checked). Nothing runs; an lm_judge's definition is validated."""
    issues: list[dict[str, str]] = []

    def issue(path: str, reason: str) -> None:
        issues.append({"path": f"{root}{path}", "reason": reason})

    if not isinstance(spec, dict):
        issue("", "must be an object with kind, output and label")
        return issues
    for key in spec:
        if key not in _SPEC_KEYS:
            issue(f".{key}", f"unknown key '{key}' (expected {', '.join(sorted(_SPEC_KEYS))})")
    kind = spec.get("kind")
    if kind not in METRIC_KINDS:
        issue(".kind", f"must be one of {', '.join(METRIC_KINDS)}")
    outputs = list(program_outputs)
    output = spec.get("output")
    if not isinstance(output, str) or not output:
        issue(".output", "must name an output field of the program")
    elif output not in outputs:
        issue(".output", f"the program has no output field '{output}' (outputs: {', '.join(outputs) or 'none'})")
    label = spec.get("label")
    if not isinstance(label, str) or not label:
        issue(".label", "must name a label field of the examples")
    elif label_fields is not None and label not in label_fields:
        issue(".label", f"no label field '{label}' (labels: {', '.join(sorted(label_fields)) or 'none'})")
    if "tolerance" in spec:
        tol = spec["tolerance"]
        if kind != "numeric":
            issue(".tolerance", "only a numeric metric takes a tolerance")
        elif isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol < 0:
            issue(".tolerance", "must be a number >= 0")
    if kind == "lm_judge":
        _validate_judge(spec.get("judge"), issue, program_inputs, outputs, label_fields)
    elif "judge" in spec:
        issue(".judge", "only an lm_judge metric takes a judge")
    return issues


def _validate_judge(judge: Any, issue: Callable[[str, str], None], program_inputs, outputs, label_fields) -> None:
    if not isinstance(judge, dict):
        issue(".judge", "an lm_judge metric needs judge: {definition, lm_key, score, inputs}")
        return
    for key in judge:
        if key not in _JUDGE_KEYS:
            issue(f".judge.{key}", f"unknown key '{key}' (expected {', '.join(sorted(_JUDGE_KEYS))})")
    if not isinstance(judge.get("lm_key"), str) or not judge.get("lm_key"):
        issue(".judge.lm_key", "must be a non-empty string (the judge's LM)")
    found = program_issues(judge.get("program"), "program")
    if found:
        for problem in found:
            issue(f".judge.{problem['path']}", problem["reason"])
        return
    program = judge["program"]
    score = judge.get("score")
    if not isinstance(score, str) or score not in program["outputs"]:
        issue(".judge.score", f"must name an output of the judge program (outputs: {', '.join(program['outputs'])})")
    elif not _numeric_type(program["outputs"][score].get("type")):
        issue(".judge.score", "the judge's score output must be a bool, int or float")
    mapping = judge.get("inputs")
    if not isinstance(mapping, dict):
        issue(".judge.inputs", "must map each judge input to input.<field>, output.<field> or label.<field>")
        return
    for name in program["inputs"]:
        if name not in mapping:
            issue(f".judge.inputs.{name}", "the judge program's input is not mapped")
    for name, source in mapping.items():
        if name not in program["inputs"]:
            issue(f".judge.inputs.{name}", f"the judge program has no input '{name}'")
            continue
        if not isinstance(source, str) or "." not in source or source.split(".", 1)[0] not in _JUDGE_SOURCES:
            issue(f".judge.inputs.{name}", "must be input.<field>, output.<field> or label.<field>")
            continue
        where, field = source.split(".", 1)
        if where == "output" and field not in outputs:
            issue(f".judge.inputs.{name}", f"the program has no output field '{field}'")
        elif where == "input" and program_inputs is not None and field not in program_inputs:
            issue(f".judge.inputs.{name}", f"the program has no input field '{field}'")
        elif where == "label" and label_fields is not None and field not in label_fields:
            issue(f".judge.inputs.{name}", f"no label field '{field}'")


def _numeric_type(field_type: Any) -> bool:
    return field_type in ("bool", "int", "float")


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
