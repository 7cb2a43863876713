"""The forward interpreter end to end with DummyLM: outputs, trace, usage, per-request LMs, state."""

from __future__ import annotations

import copy
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import QA_INPUTS, define
from dspy.utils.callback import BaseCallback

from dspy_bridge.errors import BridgeError, Cancelled
from dspy_bridge.runner import run_program


def all_text(messages) -> str:
    return "\n".join(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in messages)


def test_design_example_with_dummy_lm(registry, qa_definition):
    entry = define(registry, "v1", "h1", qa_definition)
    registry.configure_lm("dummy:1", {"model": "dummy", "answers": [{"reasoning": "The passage says so.", "answer": "Paris"}]})
    result = run_program(entry, registry.lm("dummy:1"), QA_INPUTS)
    assert result["outputs"] == {"answer": "Paris"}
    json.dumps(result)  # JSON-able as it goes on the wire

    [call] = result["trace"]
    assert call["step"] == "gen" and call["module"] == "generate" and call["type"] == "ChainOfThought"
    assert call["inputs"] == QA_INPUTS
    assert call["outputs"] == {"reasoning": "The passage says so.", "answer": "Paris"}
    assert call["duration_ms"] > 0
    [lm_call] = call["lm_calls"]
    assert lm_call["model"] == "dummy"
    prompt = all_text(lm_call["messages"])
    assert "Answer the question from the context." in prompt  # instructions
    assert "What is the capital of France?" in prompt  # inputs
    assert "[[ ## answer ## ]]" in lm_call["response"] and "Paris" in lm_call["response"]
    assert lm_call["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # DummyLM reports none
    assert lm_call["latency_ms"] >= 0
    assert result["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 1}


def test_a_cancel_stops_the_run_at_its_next_module_call(registry, two_step_definition):
    entry = define(registry, "v2c", "h", two_step_definition)
    answers = [{"reasoning": "Named.", "answer": "Paris"}, {"summary": "Paris."}]
    registry.configure_lm("dummy:cancel", {"model": "dummy", "answers": answers})
    cancel = threading.Event()
    seen: list[str] = []

    class CancelAfterFirstStep(BaseCallback):
        def on_module_end(self, call_id, outputs, exception=None):
            if outputs is not None and hasattr(outputs, "answer"):
                seen.append("gen")
                cancel.set()

    # On the module itself: run_program's dspy.context sets the run's own callbacks.
    entry.module.generate.callbacks = [CancelAfterFirstStep()]
    try:
        with pytest.raises(Cancelled):
            run_program(entry, registry.lm("dummy:cancel"), QA_INPUTS, cancel=cancel)
    finally:
        entry.module.generate.callbacks = []
    assert seen == ["gen"]
    # Not cancelled: both steps run.
    assert run_program(entry, registry.lm("dummy:cancel"), QA_INPUTS, cancel=threading.Event())["outputs"] == {"summary": "Paris.", "answer": "Paris"}


def test_a_list_of_dummy_answers_starts_over_in_every_run(registry, qa_definition):
    entry = define(registry, "v1", "h1", qa_definition)
    registry.configure_lm("dummy:list", {"model": "dummy", "answers": [{"reasoning": "r", "answer": "first"}, {"reasoning": "r", "answer": "second"}]})
    for _ in range(3):
        assert run_program(entry, registry.lm("dummy:list"), QA_INPUTS)["outputs"] == {"answer": "first"}


def test_two_steps_feed_reasoning_into_a_predict(registry, two_step_definition):
    entry = define(registry, "v2", "h", two_step_definition)
    registry.configure_lm(
        "dummy:2",
        {"model": "dummy", "answers": [{"reasoning": "Paris is named in the passage.", "answer": "Paris"}, {"summary": "Paris, per the passage."}]},
    )
    result = run_program(entry, registry.lm("dummy:2"), QA_INPUTS)
    assert result["outputs"] == {"summary": "Paris, per the passage.", "answer": "Paris"}
    assert [(t["step"], t["module"], t["type"]) for t in result["trace"]] == [("gen", "generate", "ChainOfThought"), ("sum", "summarize", "Predict")]
    assert result["trace"][1]["inputs"] == {"rationale": "Paris is named in the passage.", "answer": "Paris"}
    assert "Paris is named in the passage." in all_text(result["trace"][1]["lm_calls"][0]["messages"])
    assert result["usage"]["lm_calls"] == 2


def test_literals_and_typed_outputs(registry):
    entry = define(registry, 
        "v3",
        "h",
        {
            "inputs": {"text": "str"},
            "modules": {"rate": {"type": "Predict", "signature": "text, scale: list[int], note -> stars: Literal[1, 2, 3], ok: bool, tags: list[str]"}},
            "forward": [
                {"call": "rate", "with": {"text": "$input.text", "scale": [1, 2, 3], "note": "$$literal dollars"}, "as": "r"},
                {"return": {"stars": "$r.stars", "ok": "$r.ok", "tags": "$r.tags", "version": 2, "base": "kept"}},
            ],
        },
    )
    registry.configure_lm("dummy:3", {"model": "dummy", "answers": [{"stars": "3", "ok": "true", "tags": '["a", "b"]'}]})
    result = run_program(entry, registry.lm("dummy:3"), {"text": "great"})
    assert result["outputs"] == {"stars": 3, "ok": True, "tags": ["a", "b"], "version": 2, "base": "kept"}
    assert result["trace"][0]["inputs"]["note"] == "$literal dollars"
    assert result["trace"][0]["inputs"]["scale"] == [1, 2, 3]


@pytest.mark.parametrize("adapter", ["json", "json_schema"])
def test_the_lm_config_chooses_the_json_adapters(registry, adapter):
    entry = define(registry, "vj", "h", {
        "inputs": {"text": "str"},
        "modules": {"rate": {"type": "Predict", "signature": "text -> stars: int, mood: Literal['good', 'bad']"}},
        "forward": [{"call": "rate", "with": {"text": "$input.text"}, "as": "r"}, {"return": {"stars": "$r.stars", "mood": "$r.mood"}}],
    })
    registry.configure_lm(f"dummy:{adapter}", {"model": "dummy", "adapter": adapter, "answers": [{"stars": 4, "mood": "good"}]})
    result = run_program(entry, registry.lm(f"dummy:{adapter}"), {"text": "nice"})
    assert result["outputs"] == {"stars": 4, "mood": "good"}
    [lm_call] = result["trace"][0]["lm_calls"]
    assert json.loads(lm_call["response"]) == {"stars": 4, "mood": "good"}  # JSON, not [[ ## ]] sections
    assert "JSON" in all_text(lm_call["messages"])


def test_json_schema_always_asks_for_structured_outputs_and_json_only_when_dspy_knows_the_model():
    import dspy

    from dspy_bridge.adapters import StructuredJSONAdapter

    signature = dspy.make_signature("text -> stars: int")
    local = dspy.LM("openai/some-local-model", api_base="http://127.0.0.1:9/v1", api_key="x")
    kwargs: dict = {}
    StructuredJSONAdapter()._prepare_response_format(local, kwargs, signature)
    # A pydantic model, which litellm sends as {"type": "json_schema", "json_schema": {"schema": ...}}.
    schema = kwargs["response_format"].model_json_schema()
    assert schema["properties"]["stars"]["type"] == "integer" and schema["additionalProperties"] is False
    plain: dict = {}
    dspy.JSONAdapter()._prepare_response_format(local, plain, signature)
    assert "response_format" not in plain  # why "json_schema" exists: DSPy knows nothing of local models


def test_invalid_inputs(registry, qa_definition):
    entry = define(registry, "v1", "h1", qa_definition)
    registry.configure_lm("d", {"model": "dummy", "answers": []})
    with pytest.raises(BridgeError) as raised:
        run_program(entry, registry.lm("d"), {"context": "not a list"})
    error = raised.value
    assert (error.code, error.layer, error.retriable) == ("INVALID_INPUTS", "validation", False)
    # The server's rule, sent as the program's inputs schema: each problem at its path.
    assert [i["path"] for i in error.details["issues"]] == ["inputs.context", "inputs.question"]
    assert "'not a list' is not of type 'array'" in error.details["issues"][0]["reason"]
    assert error.details["issues"][1]["reason"] == "is required"


def test_an_answer_that_does_not_parse_is_a_dspy_error_with_the_partial_trace(registry, qa_definition):
    entry = define(registry, "v1", "h1", qa_definition)
    # No 'answer' field for ChatAdapter, nor for its JSONAdapter fallback (the second call).
    registry.configure_lm("bad", {"model": "dummy", "answers": [{"reasoning": "hm"}, {"reasoning": "hm"}]})
    with pytest.raises(BridgeError) as raised:
        run_program(entry, registry.lm("bad"), QA_INPUTS)
    error = raised.value
    assert (error.code, error.layer, error.retriable) == ("DSPY_ERROR", "dspy", False)
    assert error.details["exception"] == "AdapterParseError"
    assert error.details["traceback"].startswith("Traceback") and len(error.details["traceback"]) <= 4000
    assert "Traceback" not in error.message and "AdapterParseError" in error.details["traceback"]
    assert error.details["trace"][0]["module"] == "generate" and "error" in error.details["trace"][0]
    assert len(error.details["trace"][0]["lm_calls"]) == 2


def test_each_request_uses_its_own_lm_and_trace_concurrently(registry, qa_definition):
    # Two programs, two LMs; many runs interleaved on threads must never see each other's LM or trace.
    other = copy.deepcopy(qa_definition)
    other["modules"]["generate"]["signature"]["instructions"] = "Answer tersely."
    programs = {"a": define(registry, "va", "h", qa_definition), "b": define(registry, "vb", "h", other)}
    registry.configure_lm("lm-a", {"model": "dummy", "answers": {"": {"reasoning": "from A", "answer": "alpha"}}})
    registry.configure_lm("lm-b", {"model": "dummy", "answers": {"": {"reasoning": "from B", "answer": "beta"}}})
    start = threading.Barrier(8)

    def job(i: int):
        key = "a" if i % 2 == 0 else "b"
        if i < 8:
            start.wait()
        result = run_program(programs[key], registry.lm(f"lm-{key}"), {"context": [f"c{i}"], "question": f"q{i}"})
        return key, i, result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(80)))
    for key, i, result in results:
        assert result["outputs"] == {"answer": "alpha" if key == "a" else "beta"}
        [call] = result["trace"]
        assert call["inputs"]["question"] == f"q{i}"
        [lm_call] = call["lm_calls"]
        prompt = all_text(lm_call["messages"])
        assert f"q{i}" in prompt
        assert ("Answer tersely." in prompt) == (key == "b")
        assert result["usage"]["lm_calls"] == 1


def test_dump_and_load_state_round_trip_puts_demos_in_the_prompt(registry, qa_definition):
    first = define(registry, "v1", "h1", qa_definition)
    first.module.generate.predict.demos = [
        {"context": ["Rome is the capital of Italy."], "question": "Capital of Italy?", "reasoning": "Stated.", "answer": "Rome"}
    ]
    state = registry.dump_state("v1", "h1")
    json.dumps(state)
    assert state["generate.predict"]["demos"][0]["answer"] == "Rome"

    fresh = define(registry, "v1", "h2", qa_definition)
    assert fresh.module.generate.predict.demos == []
    registry.load_state("v1", "h2", state)
    loaded = registry.program("v1", "h2")
    assert loaded.module is not fresh.module  # swapped in, copy-on-write
    registry.configure_lm("d", {"model": "dummy", "answers": [{"reasoning": "r", "answer": "Paris"}]})
    result = run_program(loaded, registry.lm("d"), QA_INPUTS)
    prompt = all_text(result["trace"][0]["lm_calls"][0]["messages"])
    assert "Capital of Italy?" in prompt and "Rome" in prompt
    assert registry.dump_state("v1", "h2") == state

    # The same state given at definition time (compiled_state) has the same effect.
    third = define(registry, "v1", "h3", qa_definition, compiled_state=state)
    assert third.module.generate.predict.demos[0]["answer"] == "Rome"


@pytest.mark.parametrize(
    "state,path",
    [
        ([1], "state"),
        ({"nope": {}}, "state.nope"),
        ({"generate.predict": {"demos": "x"}}, 'state["generate.predict"].demos'),
        ({"generate.predict": {"demos": [1]}}, 'state["generate.predict"].demos[0]'),
        ({"generate.predict": {"signature": {"instructions": "x", "fields": []}}}, 'state["generate.predict"].signature.fields'),
        ({"generate.predict": {"forward": 1}}, 'state["generate.predict"].forward'),
    ],
)
def test_state_that_does_not_fit_is_invalid_state(registry, qa_definition, state, path):
    define(registry, "v1", "h1", qa_definition)
    with pytest.raises(BridgeError) as raised:
        registry.load_state("v1", "h1", state)
    assert (raised.value.code, raised.value.layer, raised.value.retriable) == ("INVALID_STATE", "validation", False)
    assert raised.value.details["issues"][0]["path"] == path


def test_unknown_program_and_lm_are_retriable_protocol_errors(registry):
    with pytest.raises(BridgeError) as raised:
        registry.program("v9", "h9")
    assert (raised.value.code, raised.value.layer, raised.value.retriable) == ("UNKNOWN_PROGRAM", "protocol", True)
    with pytest.raises(BridgeError) as raised:
        registry.lm("nope")
    assert (raised.value.code, raised.value.layer, raised.value.retriable) == ("UNKNOWN_LM", "protocol", True)


def test_registry_evicts_the_least_recently_used(qa_definition):
    from dspy_bridge.registry import Registry

    small = Registry(max_programs=2, max_lms=1)
    define(small, "a", "h", qa_definition)
    define(small, "b", "h", qa_definition)
    small.program("a", "h")  # touch a: b is now the oldest
    define(small, "c", "h", qa_definition)
    small.program("a", "h")
    with pytest.raises(BridgeError):
        small.program("b", "h")
    small.configure_lm("x", {"model": "dummy", "answers": []})
    small.configure_lm("y", {"model": "dummy", "answers": []})
    with pytest.raises(BridgeError):
        small.lm("x")
