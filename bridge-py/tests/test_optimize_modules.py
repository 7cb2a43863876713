"""The new module types optimize (BootstrapFewShot), their state imports back, and plain DSPy loads it.

DSPy names the predictors of MultiChainComparison, BestOfN / Refine and ReAct as the catalog says;
a user who writes the same program in plain Python gets the same names, so the save() file moves
between this product and their code in both directions.
"""

from __future__ import annotations

import copy
import json

import dspy
import pytest

from conftest import define, program_of
from dspy_bridge.optimize import compile_program, saved_state
from dspy_bridge.registry import Registry
from dspy_bridge.runner import run_program
from dspy_bridge.state_io import import_state

PAIRS = [("What is 1+1?", "2"), ("What is 2+2?", "4"), ("What is 3+3?", "6"), ("What is 4+4?", "8")]
TRAINSET = [{"inputs": {"question": q}, "labels": {"answer": a}} for q, a in PAIRS]
EXACT = {"kind": "exact_match", "output": "answer", "label": "answer"}


def qa(module: dict) -> dict:
    return {
        "inputs": {"question": "str"},
        "modules": {"m": {"signature": "question -> answer", **module}},
        "forward": [{"call": "m", "with": {"question": "$input.question"}, "as": "r"}, {"return": {"answer": "$r.answer"}}],
    }


def reward_one(args, pred) -> float:
    return 1.0


def double(x: int) -> int:
    """Doubles a number."""
    return 2 * x


# module type → (definition, DummyLM answers by prompt substring, what a user writes in plain DSPy)
CASES = {
    "MultiChainComparison": (
        qa({"type": "MultiChainComparison", "config": {"M": 2}}),
        # The comparing call's prompt holds the attempts ("Student Attempt"); the attempts' prompts do not.
        {"reasoning_attempt_1": {"rationale": "Compared.", "answer": "ANSWER"}, **{q: {"reasoning": "Add.", "answer": a} for q, a in PAIRS}},
        lambda: {"m": _mcc()},
    ),
    "BestOfN": (
        qa({"type": "BestOfN", "config": {"N": 2, "module": "ChainOfThought"}, "reward": {"kind": "contains", "output": "answer", "value": ""}}),
        {q: {"reasoning": "Add.", "answer": a} for q, a in PAIRS},
        lambda: {"m": dspy.BestOfN(dspy.ChainOfThought("question -> answer"), N=2, reward_fn=reward_one, threshold=1.0)},
    ),
    "Refine": (
        qa({"type": "Refine", "config": {"N": 2}, "reward": {"kind": "contains", "output": "answer", "value": ""}}),
        {q: {"answer": a} for q, a in PAIRS},
        lambda: {"m": dspy.Refine(dspy.Predict("question -> answer"), N=2, reward_fn=reward_one, threshold=1.0)},
    ),
    "ReAct": (
        qa({"type": "ReAct", "tools": [{"name": "double", "description": "Doubles a number.", "args": {"x": "int"}, "http": {"method": "GET", "url": "https://example.invalid/double?x={x}"}}]}),
        {"next_thought": {"next_thought": "I know it.", "next_tool_name": "finish", "next_tool_args": "{}"}, **{q: {"reasoning": "Add.", "answer": a} for q, a in PAIRS}},
        lambda: {"m": dspy.ReAct("question -> answer", tools=[dspy.Tool(double)])},
    ),
}


def _mcc() -> dspy.Module:
    class MultiChainComparison(dspy.Module):  # as a user would write M attempts + a comparison
        def __init__(self) -> None:
            super().__init__()
            self.attempt = dspy.ChainOfThought("question -> answer")
            self.compare = dspy.MultiChainComparison("question -> answer", M=2)

    return MultiChainComparison()


def plain(modules: dict) -> dspy.Module:
    program = dspy.Module()
    for name, module in modules.items():
        setattr(program, name, module)
    return program


@pytest.mark.parametrize("module_type", list(CASES))
def test_bootstrap_few_shot_optimizes_it_and_the_state_moves_to_plain_dspy_and_back(module_type):
    definition, answers, user_code = CASES[module_type]
    reg = Registry()
    entry = define(reg, "v1", "h1", definition)
    reg.configure_lm("lm", {"model": "dummy", "answers": answers})
    payload = {"optimizer": "BOOTSTRAP_FEW_SHOT", "config": {"max_bootstrapped_demos": 2, "max_labeled_demos": 0}, "trainset": TRAINSET, "metric": EXACT, "seed": 0}
    if module_type == "MultiChainComparison":
        payload["metric"] = {"kind": "contains", "output": "answer", "label": "answer"}
        # The comparison answers ANSWER: score by the attempts' reasoning instead (always passes).
        payload["metric"] = {"kind": "contains", "output": "answer", "label": "anything"}
        payload["trainset"] = [{"inputs": e["inputs"], "labels": {"anything": ""}} for e in TRAINSET]
    result = compile_program(entry, reg.lm("lm"), payload, reg.lm)
    exported = json.loads(json.dumps(result["dspy_state"]))
    predictors = [name for name, _ in entry.module.named_predictors()]
    assert sorted(k for k in exported if k != "metadata") == sorted(predictors)
    # BootstrapFewShot gave at least one predictor its bootstrapped demos.
    assert any(exported[p]["demos"] for p in predictors), exported

    # The save() file imports back unchanged, and a version made from it exports the same file.
    program = program_of(definition)
    imported = import_state(program, copy.deepcopy(exported))
    assert imported["predictors"] == predictors
    again = define(Registry(), "v2", "h2", definition, imported["compiled_state"])
    assert saved_state(again.module) == exported

    # Plain DSPy: the same program written by hand has the same predictor names and loads the file.
    user = plain(user_code())
    assert [name for name, _ in user.named_predictors()] == predictors
    user.load_state(copy.deepcopy(exported))
    for name, predictor in user.named_predictors():
        assert len(predictor.demos) == len(exported[name]["demos"])

    # And the optimized version still runs.
    reg.configure_lm("lm2", {"model": "dummy", "answers": answers})
    out = run_program(again, reg.lm("lm2"), {"question": "What is 3+3?"})
    assert out["outputs"]["answer"] in ("6", "ANSWER")
