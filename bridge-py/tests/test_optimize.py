"""evaluate and compile in process with DummyLM: scores by hand, every optimizer end to end, compiled
state that rehydrates (demos in the prompts), DSPy save()/load() files, strict imports, validation,
cancellation and progress."""

from __future__ import annotations

import copy
import json
import threading

import dspy
import pytest

from conftest import define, program_of
from dspy.utils.callback import BaseCallback

from dspy_bridge.errors import BridgeError
from dspy_bridge.errors import Cancelled
from dspy_bridge.optimize import compile_program, evaluate_program
from dspy_bridge.registry import Registry
from dspy_bridge.runner import run_program
from dspy_bridge.state_io import import_state

QA = {
    "inputs": {"question": {"type": "str"}},
    "modules": {"answer": {"type": "Predict", "signature": "question -> answer"}},
    "forward": [{"call": "answer", "with": {"question": "$input.question"}, "as": "a"}, {"return": {"answer": "$a.answer"}}],
}
PAIRS = [("What is 1+1?", "2"), ("What is 2+2?", "4"), ("What is 3+3?", "6"), ("What is 4+4?", "8")]
EXAMPLES = [{"inputs": {"question": q}, "labels": {"answer": a}} for q, a in PAIRS]
EXACT = {"kind": "exact_match", "output": "answer", "label": "answer"}
# The `usage` of a job before its first LM call (progress messages carry it, PROTOCOL.md).
NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 0, "by_lm": {}}
# DummyLM answers by prompt substring: the question (the last message holds only the current one),
# and the instruction-proposal signatures COPRO / MIPROv2 / GEPA ask their prompt model.
ANSWERS = {
    **{q: {"answer": a} for q, a in PAIRS},
    "proposed_instruction": {"proposed_instruction": "Answer the arithmetic question with a number.", "proposed_prefix_for_output_field": "Answer:"},
}


@pytest.fixture
def reg():
    r = Registry()
    define(r, "v1", "h1", QA)
    r.configure_lm("lm", {"model": "dummy", "answers": ANSWERS})
    return r


def compile_(reg: Registry, optimizer: str, config: dict, **extra):
    events: list[dict] = []
    payload = {"optimizer": optimizer, "config": config, "trainset": EXAMPLES, "metric": EXACT, "seed": 0, **extra}
    result = compile_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm, events.append)
    return result, events


# --- evaluate -----------------------------------------------------------------------------------------


def test_evaluate_score_equals_the_hand_computed_one(reg):
    # Answers: 2 right, "5" for 2+2 (F1 0), "6 apples" for 3+3 (tokens [6, apples] vs [6]: p=1/2, r=1 → 2/3),
    # "8" right → (1 + 0 + 2/3 + 1) / 4 = 0.6667 → 66.67 as dspy.Evaluate reports (0-100, 2 decimals).
    reg.configure_lm("mixed", {"model": "dummy", "answers": {"1+1": {"answer": "2"}, "2+2": {"answer": "5"}, "3+3": {"answer": "6 apples"}, "4+4": {"answer": "8"}}})
    events: list[dict] = []
    payload = {"examples": EXAMPLES, "metric": {"kind": "token_f1", "output": "answer", "label": "answer"}}
    result = evaluate_program(reg.program("v1", "h1"), reg.lm("mixed"), payload, reg.lm, events.append)
    assert result["score"] == round(100 * (1 + 0 + 2 / 3 + 1) / 4, 2) == 66.67
    assert [r["score"] for r in result["results"]] == pytest.approx([1, 0, 2 / 3, 1])
    assert result["results"][2] == {"inputs": {"question": "What is 3+3?"}, "labels": {"answer": "6"}, "prediction": {"answer": "6 apples"}, "score": pytest.approx(2 / 3), "error": None}
    json.dumps(result)
    # progress: the phase starts at 0 of 4, counts go up, the last event is "done" with all 4
    assert events[0] == {"phase": "evaluate", "done": 0, "total": 4, "trials": 0, "best_score": None, "metric_calls": 0, "usage": NO_USAGE}
    assert [e["done"] for e in events] == sorted(e["done"] for e in events)
    assert events[-1]["phase"] == "done" and events[-1]["done"] == 4
    # DummyLM reports no tokens; its calls are counted, under the LM's key, and the last progress has them all.
    assert result["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 4, "by_lm": {"mixed": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 4}}}
    assert events[-1]["usage"] == result["usage"]


def test_each_evaluated_example_has_its_own_step_budget(reg):
    # A run may take 1,000 steps; an evaluation of more examples than that is as many runs, not one.
    result = evaluate_program(reg.program("v1", "h1"), reg.lm("lm"), {"examples": EXAMPLES * 251, "metric": EXACT}, reg.lm)
    assert result["score"] == 100.0 and len(result["results"]) == 1004 and result["usage"]["lm_calls"] == 1004


def test_evaluate_captures_each_examples_failure(reg):
    definition = copy.deepcopy(QA)
    definition["modules"]["answer"]["signature"] = "question -> answer: int"
    define(reg, "v-int", "h", definition)
    reg.configure_lm("words", {"model": "dummy", "answers": {"1+1": {"answer": "2"}, "What": {"answer": "four, I think"}}})
    payload = {"examples": EXAMPLES[:2], "metric": {"kind": "numeric", "output": "answer", "label": "answer"}}
    result = evaluate_program(reg.program("v-int", "h"), reg.lm("words"), payload, reg.lm)
    ok, failed = result["results"]
    assert ok["score"] == 1.0 and ok["error"] is None and ok["prediction"] == {"answer": 2}
    assert failed["score"] == 0.0 and failed["prediction"] is None
    assert failed["error"].startswith("DSPY_ERROR: ")
    assert result["score"] == 50.0


def test_a_metric_on_a_missing_field_fails_before_anything_runs(reg):
    events: list[dict] = []
    for metric, path in [({**EXACT, "output": "answr"}, "metric.output"), ({**EXACT, "label": "gold"}, "metric.label")]:
        with pytest.raises(BridgeError) as err:
            evaluate_program(reg.program("v1", "h1"), reg.lm("lm"), {"examples": EXAMPLES, "metric": metric}, reg.lm, events.append)
        assert err.value.code == "INVALID_METRIC" and err.value.details["issues"][0]["path"] == path
        with pytest.raises(BridgeError) as err:
            compile_(reg, "BOOTSTRAP_FEW_SHOT", {}, metric=metric)
        assert err.value.code == "INVALID_METRIC" and err.value.message.startswith(path + ": ")
    assert events == []  # nothing started


def test_examples_are_checked_against_the_program_inputs(reg):
    bad = [{"inputs": {"question": 3}, "labels": {"answer": "2"}}, {"inputs": {}, "labels": {}}]
    with pytest.raises(BridgeError) as err:
        evaluate_program(reg.program("v1", "h1"), reg.lm("lm"), {"examples": bad, "metric": EXACT}, reg.lm)
    assert err.value.code == "INVALID_EXAMPLES"
    assert [i["path"] for i in err.value.details["issues"]] == ["examples[0].inputs.question", "examples[1].inputs.question"]


# --- compile: every optimizer ---------------------------------------------------------------------------

LIGHT = {
    "LABELED_FEW_SHOT": {"k": 2},
    "BOOTSTRAP_FEW_SHOT": {"max_bootstrapped_demos": 2, "max_labeled_demos": 0},
    "BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH": {"num_candidate_programs": 2, "max_bootstrapped_demos": 1, "num_threads": 1},
    "COPRO": {"breadth": 2, "depth": 1},
    "MIPRO_V2": {"auto": None, "num_candidates": 2, "num_trials": 2, "max_bootstrapped_demos": 1, "max_labeled_demos": 1, "num_threads": 1},
    "SIMBA": {"bsize": 2, "num_candidates": 2, "max_steps": 1, "num_threads": 1},
    "GEPA": {"max_metric_calls": 12, "num_threads": 1},
}


@pytest.mark.parametrize("optimizer", list(LIGHT))
def test_each_optimizer_runs_end_to_end(reg, optimizer):
    extra = {"reflection_lm_key": "lm"} if optimizer == "GEPA" else {}
    result, events = compile_(reg, optimizer, LIGHT[optimizer], **extra)
    state = result["compiled_state"]
    assert list(state) == ["answer"] and state["answer"]["lm"] is None
    assert result["score"] == 100.0 and result["scored_on"] == "trainset"
    assert result["metric_calls"] > 0
    # what save() writes: the same state plus DSPy's metadata
    assert {k: v for k, v in result["dspy_state"].items() if k != "metadata"} == state
    assert result["dspy_state"]["metadata"]["dependency_versions"]["dspy"] == dspy.__version__
    # the compiled state is a valid compiled_state for the same definition
    define(Registry(), "v2", "h2", QA, state)
    phases = [e["phase"] for e in events]
    assert phases[0] == "compile" and phases[-1] == "done" and "evaluate" in phases
    assert phases.index("evaluate") > max(i for i, p in enumerate(phases) if p == "compile")
    if optimizer == "COPRO":
        assert state["answer"]["signature"]["instructions"] == "Answer the arithmetic question with a number."
    if optimizer in ("BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH", "COPRO", "MIPRO_V2"):
        assert result["trials"] >= 2 and result["best_trial_score"] == 100.0


def test_bootstrap_yields_demos_that_a_fresh_registry_puts_in_the_prompt(reg):
    result, _ = compile_(reg, "BOOTSTRAP_FEW_SHOT", {"max_bootstrapped_demos": 2, "max_labeled_demos": 0})
    demos = result["compiled_state"]["answer"]["demos"]
    assert demos == [{"augmented": True, "question": "What is 1+1?", "answer": "2"}, {"augmented": True, "question": "What is 2+2?", "answer": "4"}]

    fresh = Registry()  # as a new worker: nothing but the definition and the compiled state
    entry = define(fresh, "v2", "h2", QA, json.loads(json.dumps(result["compiled_state"])))
    fresh.configure_lm("lm", {"model": "dummy", "answers": ANSWERS})
    out = run_program(entry, fresh.lm("lm"), {"question": "What is 4+4?"})
    assert out["outputs"] == {"answer": "8"}
    messages = out["trace"][0]["lm_calls"][0]["messages"]
    # demos as user/assistant turns before the real question
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "What is 1+1?" in messages[1]["content"] and "2" in messages[2]["content"]
    assert "What is 2+2?" in messages[3]["content"] and "What is 4+4?" in messages[5]["content"]
    # the same prompt as the compiled module's own
    again = run_program(entry, fresh.lm("lm"), {"question": "What is 4+4?"})
    assert again["trace"][0]["lm_calls"][0]["messages"] == messages


def test_dspy_state_loads_with_plain_dspy(reg, tmp_path):
    result, _ = compile_(reg, "BOOTSTRAP_FEW_SHOT", {"max_bootstrapped_demos": 2, "max_labeled_demos": 0})
    path = tmp_path / "program.json"
    path.write_text(json.dumps(result["dspy_state"]))

    class Plain(dspy.Module):  # what a user writes in plain Python for this definition
        def __init__(self):
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question):
            return self.answer(question=question)

    program = Plain()
    program.load(str(path))
    assert [d["question"] for d in program.answer.demos] == ["What is 1+1?", "What is 2+2?"]
    with dspy.context(lm=dspy.utils.DummyLM(ANSWERS)):
        assert program(question="What is 3+3?").answer == "6"


def test_import_accepts_what_compile_exports_and_rejects_tampering(reg):
    result, _ = compile_(reg, "BOOTSTRAP_FEW_SHOT", {"max_bootstrapped_demos": 2, "max_labeled_demos": 0})
    saved = result["dspy_state"]
    imported = import_state(program_of(QA), copy.deepcopy(saved))
    assert imported["compiled_state"] == result["compiled_state"]
    assert imported["predictors"] == ["answer"] and imported["dependency_versions"]["dspy"] == dspy.__version__

    def rejected(mutate) -> list[dict]:
        state = copy.deepcopy(saved)
        mutate(state)
        with pytest.raises(BridgeError) as err:
            import_state(program_of(QA), state)
        assert err.value.code == "INVALID_STATE"
        return err.value.details["issues"]

    assert rejected(lambda s: s["answer"].update(temperature=0.3)) == [
        {"path": "state.answer.temperature", "reason": "unknown key 'temperature' in a predictor's state (expected traces, train, demos, signature, lm, fields)"}
    ]
    assert rejected(lambda s: s.update(other=s["answer"]))[0]["path"] == "state.other"
    assert rejected(lambda s: s.pop("answer")) == [{"path": "state.answer", "reason": "the program's predictor is missing"}]
    assert rejected(lambda s: s["answer"]["signature"]["fields"].pop())[0]["path"] == "state.answer.signature.fields"
    assert rejected(lambda s: s["answer"].update(lm={"model": "openai/x"}))[0]["path"] == "state.answer.lm"
    assert rejected(lambda s: s["answer"].pop("signature"))[0] == {"path": "state.answer.signature", "reason": "is missing"}
    assert rejected(lambda s: s["answer"]["demos"].append("a string"))[0]["path"] == "state.answer.demos[2]"


# --- validation, cancellation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer, config, extra, path",
    [
        ("ANNEALING", {}, {}, "optimizer"),
        ("BOOTSTRAP_FEW_SHOT", {"breadth": 3}, {}, "config.breadth"),
        ("BOOTSTRAP_FEW_SHOT", {"max_bootstrapped_demos": -1}, {}, "config.max_bootstrapped_demos"),
        ("COPRO", {"breadth": 1}, {}, "config.breadth"),
        ("COPRO", {"init_temperature": "hot"}, {}, "config.init_temperature"),
        ("MIPRO_V2", {"auto": "extreme"}, {}, "config.auto"),
        ("GEPA", {"max_metric_calls": 10}, {}, "reflection_lm_key"),
        ("LABELED_FEW_SHOT", {"k": 2}, {"reflection_lm_key": "lm"}, "reflection_lm_key"),
        ("LABELED_FEW_SHOT", {"k": 2}, {"seed": "x"}, "seed"),
    ],
)
def test_config_is_validated_per_optimizer_before_running(reg, optimizer, config, extra, path):
    with pytest.raises(BridgeError) as err:
        compile_(reg, optimizer, config, **extra)
    assert err.value.code == "INVALID_CONFIG" and err.value.layer == "validation"
    assert err.value.details["issues"][0]["path"] == path
    assert err.value.message.startswith(path + ": ")


def test_cancel_stops_a_running_compile(reg):
    cancel = threading.Event()
    seen: list[dict] = []

    def progress(event: dict) -> None:
        seen.append(event)
        if event["trials"] >= 1:  # the first candidate has been scored (200 metric calls)
            cancel.set()

    many = EXAMPLES * 50
    payload = {"optimizer": "BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH", "config": {"num_candidate_programs": 8, "num_threads": 1}, "trainset": many, "metric": EXACT}
    with pytest.raises(Cancelled):
        compile_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm, progress, cancel)
    # 10 candidates would take about 2,000 metric calls; it stopped at the next metric call
    assert seen[-1]["phase"] == "compile" and seen[-1]["trials"] == 1 and seen[-1]["metric_calls"] == 200


def test_cancel_stops_an_evaluation_with_threads(reg):
    cancel = threading.Event()

    def progress(event: dict) -> None:
        cancel.set()  # at the phase's first event: before any example runs on DSPy's threads

    payload = {"examples": EXAMPLES * 100, "metric": EXACT, "num_threads": 4}
    with pytest.raises(Cancelled):
        evaluate_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm, progress, cancel)


def test_gepa_asks_the_reflection_lm_with_the_metrics_feedback(reg):
    """The farthest honest point offline: GEPA sends the failing example with our feedback to the
    reflection LM and gets a new instruction back. DummyLM answers by the last (user) message only, so
    no instruction can change the task LM's answers and GEPA rightly keeps the original program."""
    reg.configure_lm("one-wrong", {"model": "dummy", "answers": {"4+4": {"answer": "9"}, **ANSWERS}})
    asked: list[list[dict]] = []

    class Recorder(BaseCallback):  # the worker runs with history off: record the prompts here
        def on_lm_start(self, call_id, instance, inputs):
            asked.append(inputs["messages"])

    reflection = dspy.utils.DummyLM({"": {"new_instruction": "Add the two numbers; answer with the sum only."}}, adapter=dspy.JSONAdapter())
    reflection.callbacks = [Recorder()]  # an LM's own callbacks (DSPy runs them with the context's)

    class Held:  # an LMEntry whose runs all use one DummyLM
        def for_run(self, deadline_ms=None):
            return reflection

    lm_of = lambda key: Held() if key == "reflection" else reg.lm(key)  # noqa: E731
    payload = {"optimizer": "GEPA", "config": {"max_metric_calls": 16, "num_threads": 1, "reflection_minibatch_size": 2}, "trainset": EXAMPLES, "metric": EXACT, "reflection_lm_key": "reflection", "seed": 0}
    result = compile_program(reg.program("v1", "h1"), reg.lm("one-wrong"), payload, lm_of)
    assert result["score"] == 75.0  # 3 of 4 right, before and after
    prompts = ["\n".join(str(m["content"]) for m in messages) for messages in asked]
    assert prompts, "GEPA never asked the reflection LM"
    assert any("'9'; the expected value (exact_match against 'answer') is '8'" in p for p in prompts)
