"""DSPy save() files in and out: what every optimizer writes imports back unchanged and runs, and
import_state takes what plain DSPy's load_state takes, refusing only what is not this program's state."""

from __future__ import annotations

import copy
import json

import dspy
import pytest

from conftest import define, program_of
from test_optimize import ANSWERS, EXACT, LIGHT, PAIRS, QA

from dspy_bridge.errors import BridgeError
from dspy_bridge.optimize import compile_program, saved_state
from dspy_bridge.registry import Registry
from dspy_bridge.runner import run_program
from dspy_bridge.state_io import import_state

COT = copy.deepcopy(QA)
COT["modules"]["answer"]["type"] = "ChainOfThought"
DEFINITIONS = {"Predict": QA, "ChainOfThought": COT}
# Examples with a label the signature does not use: LabeledFewShot (and labeled demos of the
# bootstrapping optimizers) keep whole examples, so it ends up in the demos.
TOPICAL = [{"inputs": {"question": q}, "labels": {"answer": a, "topic": "arithmetic"}} for q, a in PAIRS]
LM_ANSWERS = {**{q: {"reasoning": "Add them.", "answer": a} for q, a in PAIRS}, "proposed_instruction": ANSWERS["proposed_instruction"]}
OPTIMIZERS = {**LIGHT, "BOOTSTRAP_FEW_SHOT": {"max_bootstrapped_demos": 1, "max_labeled_demos": 2}}


def plain_module(module_type: str) -> dspy.Module:
    """What a user writes in plain Python for these definitions."""

    class Plain(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.answer = dspy.Predict("question -> answer") if module_type == "Predict" else dspy.ChainOfThought("question -> answer")

    return Plain()


def compiled(module_type: str, optimizer: str) -> dict:
    reg = Registry()
    define(reg, "v1", "h1", DEFINITIONS[module_type])
    reg.configure_lm("lm", {"model": "dummy", "answers": LM_ANSWERS})
    payload = {"optimizer": optimizer, "config": OPTIMIZERS[optimizer], "trainset": TOPICAL, "metric": EXACT, "seed": 0}
    if optimizer == "GEPA":
        payload["reflection_lm_key"] = "lm"
    return compile_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm)


@pytest.mark.parametrize("module_type", list(DEFINITIONS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_what_each_optimizer_writes_imports_back_unchanged_and_runs(optimizer, module_type):
    definition = DEFINITIONS[module_type]
    result = compiled(module_type, optimizer)
    exported = json.loads(json.dumps(result["dspy_state"]))  # as stored and sent back through GraphQL
    if optimizer == "LABELED_FEW_SHOT":
        assert [d["topic"] for d in next(iter(exported.values()))["demos"]] == ["arithmetic", "arithmetic"], "the case this guards"

    imported = import_state(program_of(definition), copy.deepcopy(exported))
    assert imported["compiled_state"] == result["compiled_state"]
    # A version made from it exports the very same file...
    reg = Registry()
    entry = define(reg, "v2", "h2", definition, imported["compiled_state"])
    assert saved_state(entry.module) == exported
    # ...and runs, with its demos in the prompt.
    reg.configure_lm("lm", {"model": "dummy", "answers": LM_ANSWERS})
    out = run_program(entry, reg.lm("lm"), {"question": "What is 3+3?"})
    assert out["outputs"] == {"answer": "6"}
    demos = next(iter(imported["compiled_state"].values()))["demos"]
    prompt = json.dumps(out["trace"][0]["lm_calls"][0]["messages"])
    assert all(d["question"] in prompt for d in demos)
    # Plain DSPy loads the same file into the same state.
    plain = plain_module(module_type)
    plain.load_state(copy.deepcopy(exported))
    assert json.loads(json.dumps(plain.dump_state())) == imported["compiled_state"]


def saved_predict() -> dict:
    """What module.save() writes for QA after LabeledFewShot over TOPICAL."""
    return {
        "answer": {
            "traces": [],
            "train": [],
            "demos": [{"question": "What is 1+1?", "answer": "2", "topic": "arithmetic"}],
            "signature": {
                "instructions": "Given the fields `question`, produce the fields `answer`.",
                "fields": [{"prefix": "Question:", "description": "${question}"}, {"prefix": "Answer:", "description": "${answer}"}],
            },
            "lm": None,
        },
        "metadata": {"dependency_versions": {"python": "3.11", "dspy": dspy.__version__, "cloudpickle": "3.1"}},
    }


def _pop(key: str):
    return lambda s: s["answer"].pop(key)


# Each case: how it changes a saved file, whether plain DSPy's load_state takes it, and whether
# import_state does. They differ only where the file is not state of this program.
CASES = [
    ("as saved", lambda s: None, True, True),
    ("demo keys the signature does not use", lambda s: s["answer"]["demos"][0].update(topic="x", id=7, secret="x"), True, True),
    ("an augmented demo with reasoning", lambda s: s["answer"]["demos"].append({"augmented": True, "question": "q", "reasoning": "r", "answer": "a"}), True, True),
    ("DSPy's per-output settings, empty", lambda s: s["answer"].update(fields={}), True, True),
    ("no traces, train or demos (the predictor keeps its own)", lambda s: [s["answer"].pop(k) for k in ("traces", "train", "demos")], True, True),
    ("no metadata", lambda s: s.pop("metadata"), True, True),
    ("new instructions and prefixes", lambda s: s["answer"]["signature"].update(instructions="Add.", fields=[{"prefix": "Q:", "description": "a sum"}, {"prefix": "A:", "description": "its value"}]), True, True),
    ("the predictor left out", lambda s: s.pop("answer"), False, False),
    ("no signature", _pop("signature"), False, False),
    ("no lm", _pop("lm"), False, False),
    ("a signature without instructions", lambda s: s["answer"]["signature"].pop("instructions"), False, False),
    # Plain DSPy takes these; they are not this program's state.
    ("a predictor this program does not have", lambda s: s.update(other=copy.deepcopy(s["answer"])), True, False),
    ("an attribute a Predict has not", lambda s: s["answer"].update(temperature=0.3), True, False),
    ("a predictor-level LM", lambda s: s["answer"].update(lm={"model": "openai/gpt-4o-mini", "model_type": "chat"}), True, False),
    ("a signature with fewer fields", lambda s: s["answer"]["signature"]["fields"].pop(), True, False),
    ("a demo that is not an object", lambda s: s["answer"]["demos"].append("a string"), True, False),
]


def plain_dspy_takes(state: dict) -> bool:
    try:
        plain_module("Predict").load_state(state)
        return True
    except Exception:
        return False


@pytest.mark.parametrize("name, mutate, dspy_takes, we_take", CASES, ids=[c[0] for c in CASES])
def test_import_takes_what_plain_dspy_load_state_takes(name, mutate, dspy_takes, we_take):
    state = saved_predict()
    mutate(state)
    assert plain_dspy_takes(copy.deepcopy(state)) is dspy_takes
    if we_take:
        imported = import_state(program_of(QA), copy.deepcopy(state))
        plain = plain_module("Predict")
        plain.load_state(copy.deepcopy(state))
        assert imported["compiled_state"] == json.loads(json.dumps(plain.dump_state()))
        return
    with pytest.raises(BridgeError) as err:
        import_state(program_of(QA), state)
    assert err.value.code == "INVALID_STATE" and err.value.layer == "validation"
    issue = err.value.details["issues"][0]
    assert issue["path"].startswith("state") and issue["reason"]
    assert err.value.message == f"{issue['path']}: {issue['reason']}"
