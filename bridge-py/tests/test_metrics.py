"""Declarative metrics: every kind against hand-computed scores, and spec validation without running."""

from __future__ import annotations

import dspy
import pytest

from conftest import program_of

from dspy_bridge.metrics import build_metric, validate_metric
from dspy_bridge.registry import Registry

OUTPUTS = ["answer", "passages"]
LABELS = {"gold", "golds"}


def score(spec: dict, output, label, output_field: str = "answer", registry: Registry | None = None) -> float:
    assert validate_metric(spec, OUTPUTS, LABELS) == []
    metric = build_metric(spec, registry.lm if registry else None)
    example = dspy.Example(question="q", **{spec["label"]: label}).with_inputs("question")
    return metric(example, dspy.Prediction(**{output_field: output}))


def spec(kind: str, **extra) -> dict:
    return {"kind": kind, "output": "answer", "label": "gold", **extra}


@pytest.mark.parametrize(
    "kind, output, label, expected",
    [
        ("exact_match", "Paris", "Paris", 1.0),
        ("exact_match", " Paris ", "Paris", 1.0),  # surrounding spaces only
        ("exact_match", "paris", "Paris", 0.0),
        ("exact_match", 42, "42", 1.0),
        ("exact_match", "Paris", ["Lyon", "Paris"], 1.0),  # any of a list label
        ("normalized_exact_match", "The Paris!", "paris", 1.0),  # articles, punctuation, case
        ("normalized_exact_match", "Paris, France", "Paris", 0.0),
        ("contains", "The capital is Paris.", "paris", 1.0),
        ("contains", "The capital is Lyon.", "Paris", 0.0),
        # f1: prediction tokens [eiffel, tower, is, in, paris], gold [paris]: p = 1/5, r = 1, f1 = 2pr/(p+r) = 1/3
        ("token_f1", "Eiffel Tower is in Paris", "Paris", 1 / 3),
        # [new, york, city] vs [new, york]: p = 2/3, r = 1 → 0.8
        ("token_f1", "New York City", "New York", 0.8),
        ("token_f1", "Lyon", "Paris", 0.0),
        ("passage_match", "The Eiffel Tower is in Paris.", "eiffel tower", 1.0),
        ("passage_match", "The Eiffel Tower is in Paris.", "louvre", 0.0),
    ],
)
def test_text_metrics(kind, output, label, expected):
    assert score(spec(kind), output, label) == pytest.approx(expected)


def test_passage_match_over_a_list_of_passages():
    s = {"kind": "passage_match", "output": "passages", "label": "gold"}
    assert score(s, ["Nothing here.", "The Louvre is a museum."], "Louvre", output_field="passages") == 1.0
    assert score(s, ["Nothing here."], "Louvre", output_field="passages") == 0.0


@pytest.mark.parametrize(
    "output, label, tolerance, expected",
    [("3.05", 3, 0.1, 1.0), ("3.2", 3, 0.1, 0.0), (7, "7", 0, 1.0), ("1,000", 1000, 0, 1.0), ("seven", 7, 5, 0.0), (2.5, 3, 0.5, 1.0)],
)
def test_numeric_within_tolerance(output, label, tolerance, expected):
    assert score(spec("numeric", tolerance=tolerance), output, label) == expected


JUDGE = {
    "inputs": {"answer": {"type": "str"}, "gold": {"type": "str"}},
    "modules": {"judge": {"type": "Predict", "signature": "answer, gold -> correct: bool"}},
    "forward": [{"call": "judge", "with": {"answer": "$input.answer", "gold": "$input.gold"}, "as": "j"}, {"return": {"correct": "$j.correct"}}],
}


def judge_spec() -> dict:
    return spec("lm_judge", judge={"program": program_of(JUDGE), "lm_key": "judge", "score": "correct", "inputs": {"answer": "output.answer", "gold": "label.gold"}})


def test_lm_judge_runs_its_own_program_with_its_own_lm():
    registry = Registry()
    # DummyLM answers by the first key found in the prompt (the gold "Paris" is in both prompts).
    registry.configure_lm("judge", {"model": "dummy", "answers": {"Lyon": {"correct": False}, "Paris": {"correct": True}}})
    assert score(judge_spec(), "Paris", "Paris", registry=registry) == 1.0
    assert score(judge_spec(), "Lyon", "Paris", registry=registry) == 0.0


def test_validation_names_the_missing_fields_without_running_anything():
    assert validate_metric(spec("exact_match", output="nope"), OUTPUTS, LABELS) == [
        {"path": "metric.output", "reason": "the program has no output field 'nope' (outputs: answer, passages)"}
    ]
    assert validate_metric(spec("exact_match", label="missing"), OUTPUTS, LABELS) == [
        {"path": "metric.label", "reason": "no label field 'missing' (labels: gold, golds)"}
    ]


@pytest.mark.parametrize(
    "bad, path",
    [
        ({"kind": "regex", "output": "answer", "label": "gold"}, "metric.kind"),
        ({"kind": "exact_match", "output": "answer", "label": "gold", "pattern": ".*"}, "metric"),
        ({"kind": "numeric", "output": "answer", "label": "gold", "tolerance": -1}, "metric.tolerance"),
        ({"kind": "exact_match", "output": "", "label": "gold"}, "metric.output"),
        ("exact", "metric"),
    ],
)
def test_the_shape_is_the_servers_schema(bad, path):
    # program.schema.json's MetricSpec, generated from src/programs/definition/programSchema.ts.
    issues = validate_metric(bad, OUTPUTS, LABELS)
    assert issues and issues[0]["path"] == path and issues[0]["reason"].startswith("not a metric:"), issues


def test_lm_judge_validation():
    bad = judge_spec()
    bad["judge"]["inputs"] = {"answer": "somewhere.answer"}
    assert validate_metric(bad, OUTPUTS, LABELS)[0]["path"] == "metric.judge.inputs.answer"
    bad = judge_spec()
    bad["judge"]["score"] = "nope"
    assert validate_metric(bad, OUTPUTS, LABELS)[0]["path"] == "metric.judge.score"
    bad = judge_spec()
    bad["judge"]["program"] = {"inputs": {}}
    assert validate_metric(bad, OUTPUTS, LABELS)[0]["path"].startswith("metric.judge.program")
    bad = judge_spec()
    del bad["judge"]
    assert validate_metric(bad, OUTPUTS, LABELS)[0]["path"] == "metric.judge"
    assert validate_metric(spec("lm_judge"), OUTPUTS, LABELS)[0]["path"] == "metric.judge"
