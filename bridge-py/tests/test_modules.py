"""The module types beyond Predict and ChainOfThought, and map / loop / if, through real DSPy with DummyLM."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import dspy
import pytest

from conftest import define, program_of, reply_json, serving
from dspy_bridge.errors import BridgeError
from dspy_bridge.runner import run_program


def program(modules: dict, forward: list, inputs: dict | None = None) -> dict:
    return {"inputs": inputs or {"question": "str"}, "modules": modules, "forward": forward}


def ask(module: str, out: str = "answer") -> list:
    return [{"call": module, "with": {"question": "$input.question"}, "as": "r"}, {"return": {out: f"$r.{out}"}}]


def run(registry, definition: dict, answers, inputs: dict, **kwargs):
    entry = define(registry, "v", "h", definition)
    registry.configure_lm("lm", {"model": "dummy", "answers": answers})
    return entry, run_program(entry, registry.lm("lm"), inputs, **kwargs)


def test_multi_chain_comparison_samples_m_attempts_then_compares_them(registry):
    definition = program({"mcc": {"type": "MultiChainComparison", "signature": "question -> answer", "config": {"M": 2}}}, [
        {"call": "mcc", "with": {"question": "$input.question"}, "as": "r"},
        {"return": {"answer": "$r.answer", "why": "$r.rationale"}},
    ])
    answers = [
        {"reasoning": "It is in France.", "answer": "Paris"},
        {"reasoning": "Maybe Lyon.", "answer": "Lyon"},
        {"rationale": "Both considered; the capital is Paris.", "answer": "Paris"},
    ]
    entry, result = run(registry, definition, answers, {"question": "Capital of France?"})
    assert result["outputs"] == {"answer": "Paris", "why": "Both considered; the capital is Paris."}
    assert [name for name, _ in entry.module.named_predictors()] == ["mcc.attempt.predict", "mcc.compare.predict"]
    [entry_trace] = result["trace"]
    assert entry_trace["type"] == "MultiChainComparison" and len(entry_trace["lm_calls"]) == 3
    # The comparing call sees both attempts.
    compare_prompt = json.dumps(entry_trace["lm_calls"][2]["messages"])
    assert "Lyon" in compare_prompt and "Maybe Lyon" in compare_prompt


@pytest.mark.parametrize("module_type", ["BestOfN", "Refine"])
def test_best_of_n_and_refine_keep_the_first_attempt_that_reaches_the_reward_threshold(registry, module_type):
    definition = program(
        {"best": {"type": module_type, "signature": "question -> answer", "config": {"N": 3, "threshold": 1.0}, "reward": {"kind": "exact_match", "output": "answer", "value": "Paris"}}},
        ask("best"),
    )
    # Refine asks for advice after a failed attempt (one more LM call with its own fields).
    answers = [{"answer": "London"}, {"discussion": "d", "advice": '{"best.module": "Name the capital."}'}, {"answer": "Paris"}] if module_type == "Refine" else [{"answer": "London"}, {"answer": "Paris"}, {"answer": "Rome"}]
    entry, result = run(registry, definition, answers, {"question": "Capital of France?"})
    assert result["outputs"] == {"answer": "Paris"}
    assert [name for name, _ in entry.module.named_predictors()] == ["best.module"]
    [call] = result["trace"]
    assert call["type"] == module_type
    # Every attempt's LM call is in the trace, the winning one last.
    assert "Paris" in call["lm_calls"][-1]["response"] and "London" in call["lm_calls"][0]["response"]


def test_a_reward_can_compare_with_a_module_input_and_stops_at_n(registry):
    definition = program(
        {"best": {"type": "BestOfN", "signature": "question, expected -> answer", "config": {"N": 2, "threshold": 1.0}, "reward": {"kind": "contains", "output": "answer", "input": "expected"}}},
        [{"call": "best", "with": {"question": "$input.question", "expected": "$input.expected"}, "as": "r"}, {"return": {"answer": "$r.answer"}}],
        {"question": "str", "expected": "str"},
    )
    _, result = run(registry, definition, [{"answer": "no"}, {"answer": "still no"}, {"answer": "never asked"}], {"question": "q", "expected": "yes"})
    # Neither reaches the threshold: the best (the first, on a tie) after N=2 attempts.
    assert result["outputs"] == {"answer": "no"}
    assert result["usage"]["lm_calls"] == 2


def test_react_calls_a_stored_program_as_a_tool_as_a_nested_run(registry):
    tool = program({"w": {"type": "Predict", "signature": "city -> weather"}}, [{"call": "w", "with": {"city": "$input.city"}, "as": "x"}, {"return": {"weather": "$x.weather"}}], {"city": "str"})
    tool_entry = define(registry, "tool-v", "th", tool)
    registry.configure_lm("tool-lm", {"model": "dummy", "answers": [{"weather": "sunny, 24C"}]})
    agent = program(
        {"agent": {"type": "ReAct", "signature": "question -> answer", "config": {"max_iters": 3}, "tools": [{"program": "p-tool", "version": "tool-v", "name": "weather"}]}},
        ask("agent"),
    )
    normalized = program_of(agent)
    normalized["modules"]["agent"]["tools"][0]["args"] = tool_entry.program["inputs"]  # what the server pins
    normalized["modules"]["agent"]["tools"][0]["description"] = "The weather in a city."
    entry = registry.define_program("agent-v", "ah", normalized)
    registry.configure_lm("agent-lm", {"model": "dummy", "answers": [
        {"next_thought": "Look it up.", "next_tool_name": "weather", "next_tool_args": '{"city": "Paris"}'},
        {"next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": "{}"},
        {"reasoning": "The tool said sunny.", "answer": "Sunny in Paris."},
    ]})
    programs = {"tool-v": (tool_entry.module, registry.lm("tool-lm"))}
    result = run_program(entry, registry.lm("agent-lm"), {"question": "Weather in Paris?"}, programs=programs.__getitem__)
    assert result["outputs"]["answer"] == "Sunny in Paris."
    assert [name for name, _ in entry.module.named_predictors()] == ["agent.react", "agent.extract.predict"]
    [call] = result["trace"]
    # Every LM call of the loop, the tool program's own included (4: two steps, the tool's Predict, the extraction).
    assert len(call["lm_calls"]) == 4
    assert any("sunny, 24C" in json.dumps(c["messages"]) for c in call["lm_calls"][2:])
    weather, finish = call["tool_calls"]
    assert {k: weather[k] for k in ("tool", "args", "result")} == {"tool": "weather", "args": {"city": "Paris"}, "result": {"weather": "sunny, 24C"}}
    assert (finish["tool"], finish["result"]) == ("finish", "Completed.")


class _Weather(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802
        _Weather.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
        reply_json(self, {"current": {"temp": 21, "city": self.path}})

    def log_message(self, *args):
        pass


def test_react_with_an_http_tool_fills_the_url_sends_the_secret_header_and_reads_the_response_path(registry, monkeypatch):
    monkeypatch.setenv("WEATHER_API_KEY", "from-the-environment")  # never read: secrets come with the request
    with serving(_Weather) as url:
        agent = program(
            {"agent": {"type": "ReAct", "signature": "question -> answer", "tools": [{
                "name": "temperature", "description": "Current temperature of a city.", "args": {"city": "str"},
                "http": {"method": "GET", "url": f"{url}/now?q={{city}}", "headers": {"Authorization": "Bearer ${WEATHER_API_KEY}"}, "response": "current.temp"},
            }]}},
            ask("agent"),
        )
        _, result = run(registry, agent, [
            {"next_thought": "t", "next_tool_name": "temperature", "next_tool_args": '{"city": "São Paulo"}'},
            {"next_thought": "t", "next_tool_name": "finish", "next_tool_args": "{}"},
            {"reasoning": "r", "answer": "21"},
        ], {"question": "How warm?"}, secrets={"WEATHER_API_KEY": "k-123"})
    assert result["outputs"]["answer"] == "21"
    assert _Weather.seen[-1] == {"path": "/now?q=S%C3%A3o%20Paulo", "auth": "Bearer k-123"}
    assert result["trace"][0]["tool_calls"][0]["result"] == 21


def test_map_runs_a_block_per_element_in_parallel_and_collects_lists_in_order(registry):
    definition = program(
        {"a": {"type": "Predict", "signature": "question -> answer"}},
        [
            {"map": "$input.questions", "as": "each", "parallel": 3, "steps": [
                {"call": "a", "with": {"question": "$each.item"}, "as": "r"},
                {"return": {"answer": "$r.answer", "n": "$each.index"}},
            ]},
            {"return": {"answers": "$each.answer", "indexes": "$each.n"}},
        ],
        {"questions": "list[str]"},
    )
    answers = {"one": {"answer": "1"}, "two": {"answer": "2"}, "three": {"answer": "3"}, "four": {"answer": "4"}}
    _, result = run(registry, definition, answers, {"questions": ["one?", "two?", "three?", "four?"]})
    assert result["outputs"] == {"answers": ["1", "2", "3", "4"], "indexes": [0, 1, 2, 3]}
    assert sorted(e["step"] for e in result["trace"]) == ["each[0].r", "each[1].r", "each[2].r", "each[3].r"]
    assert all(len(e["lm_calls"]) == 1 for e in result["trace"])


def multi_hop() -> dict:
    return program(
        {"q": {"type": "Predict", "signature": "question, notes: list[str] -> query, done: bool"}},
        [
            {"loop": {"max": 4, "until": {"field": "$s.done", "equals": True}}, "as": "hops",
             "vars": {"notes": {"type": "list[str]", "value": []}, "last": {"type": "str", "value": ""}},
             "steps": [{"call": "q", "with": {"question": "$input.question", "notes": "$hops.notes"}, "as": "s"}],
             "append": {"notes": "$s.query"}, "set": {"last": "$s.query"}},
            {"return": {"notes": "$hops.notes", "last": "$hops.last"}},
        ],
    )


def test_loop_updates_its_vars_each_round_and_stops_when_until_holds(registry):
    answers = [{"query": "first", "done": False}, {"query": "second", "done": True}, {"query": "never", "done": False}]
    _, result = run(registry, multi_hop(), answers, {"question": "q"})
    assert result["outputs"] == {"notes": ["first", "second"], "last": "second"}
    assert [e["step"] for e in result["trace"]] == ["hops[0].s", "hops[1].s"]
    # The second round saw what the first appended.
    assert "first" in json.dumps(result["trace"][1]["lm_calls"][0]["messages"])


def test_if_runs_one_branch_by_an_enum_field(registry):
    definition = program(
        {
            "route": {"type": "Predict", "signature": {"inputs": {"question": "str"}, "outputs": {"kind": {"type": "enum", "values": ["math", "other"]}}}},
            "calc": {"type": "Predict", "signature": "question -> answer"},
            "chat": {"type": "Predict", "signature": "question -> answer"},
        },
        [
            {"call": "route", "with": {"question": "$input.question"}, "as": "k"},
            {"if": {"field": "$k.kind", "equals": "math"}, "as": "branch",
             "then": [{"call": "calc", "with": {"question": "$input.question"}, "as": "c"}, {"return": {"answer": "$c.answer", "via": "calc"}}],
             "else": [{"call": "chat", "with": {"question": "$input.question"}, "as": "h"}, {"return": {"answer": "$h.answer", "via": "chat"}}]},
            {"return": {"answer": "$branch.answer", "via": "$branch.via"}},
        ],
    )
    _, result = run(registry, definition, [{"kind": "math"}, {"answer": "4"}], {"question": "2+2?"})
    assert result["outputs"] == {"answer": "4", "via": "calc"}
    assert [e["module"] for e in result["trace"]] == ["route", "calc"]


def test_a_run_over_its_lm_call_budget_fails_with_limit_exceeded_and_its_partial_trace(registry):
    answers = [{"query": f"q{i}", "done": False} for i in range(10)]
    with pytest.raises(BridgeError) as raised:
        run(registry, multi_hop(), answers, {"question": "q"}, max_lm_calls=2)
    error = raised.value
    assert (error.code, error.layer, error.retriable) == ("LIMIT_EXCEEDED", "validation", False)
    assert "more than 2 LM calls" in error.message
    assert len(error.details["trace"]) == 3  # the third round's call was refused before it was sent
    assert [len(e["lm_calls"]) for e in error.details["trace"]] == [1, 1, 0]


def test_a_program_tool_not_sent_with_the_run_is_refused_before_the_run(registry):
    with pytest.raises(BridgeError) as raised:
        registry.dependencies([{"version_id": "missing", "hash": "h", "lm_key": "lm"}])
    assert raised.value.code == "UNKNOWN_PROGRAM" and raised.value.retriable


def test_module_types_match_the_catalog():
    from dspy_bridge.catalog import MODULE_TYPES
    from dspy_bridge.modules import MODULE_BUILDERS

    assert list(MODULE_BUILDERS) == list(MODULE_TYPES)
    assert isinstance(dspy.ReAct, type)


class _ColBERT(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        from urllib.parse import parse_qs, urlparse

        params = parse_qs(urlparse(self.path).query)
        k = int(params["k"][0])
        topk = [{"text": f"passage {i} about {params['query'][0]}", "score": 10 - i, "pid": i} for i in range(k)]
        reply_json(self, {"topk": topk})

    def log_message(self, *args):
        pass


def test_colbertv2_reads_passages_from_its_server(registry):
    with serving(_ColBERT) as url:
        definition = {
            "inputs": {"question": "str"},
            "modules": {"c": {"type": "ColBERTv2", "url": f"{url}/api/search", "config": {"k": 2}}},
            "forward": [{"call": "c", "with": {"query": "$input.question"}, "as": "r"}, {"return": {"passages": "$r.passages"}}],
        }
        _, result = run(registry, definition, [{"unused": "x"}], {"question": "colbert question"})
    assert result["outputs"] == {"passages": ["passage 0 about colbert question", "passage 1 about colbert question"]}
    assert result["trace"][0]["type"] == "ColBERTv2" and result["usage"]["lm_calls"] == 0


@pytest.mark.skipif(not __import__("dspy_bridge.sandbox", fromlist=["available"]).available(), reason="the sandbox runtime is not cached: python -m dspy_bridge.sandbox")
def test_program_of_thought_runs_the_models_code_in_the_sandbox_and_answers_from_its_output(registry):
    definition = program({"pot": {"type": "ProgramOfThought", "signature": "question -> answer: int", "config": {"max_iters": 2}}}, ask("pot"))
    answers = [
        # The first code raises; the rewrite, given the error, computes; the answer reads its output.
        {"reasoning": "Divide.", "generated_code": "```python\nresult = 6 * 7 / 0\n```"},
        {"reasoning": "Compute instead.", "generated_code": "```python\nresult = 6 * 7\nSUBMIT({'answer': result})\n```"},
        {"reasoning": "The code printed 42.", "answer": "42"},
    ]
    entry, result = run(registry, definition, answers, {"question": "What is 6 times 7?"})
    assert result["outputs"] == {"answer": 42}
    assert [name for name, _ in entry.module.named_predictors()] == ["pot.code_generate.predict", "pot.code_regenerate.predict", "pot.generate_output.predict"]
    [call] = result["trace"]
    assert call["type"] == "ProgramOfThought" and len(call["lm_calls"]) == 3
    # The answering call saw the sandbox's output.
    assert "42" in json.dumps(call["lm_calls"][2]["messages"])


@pytest.mark.skipif(not __import__("dspy_bridge.sandbox", fromlist=["available"]).available(), reason="the sandbox runtime is not cached: python -m dspy_bridge.sandbox")
def test_program_of_thought_code_reaches_no_network_and_no_file(registry):
    definition = program({"pot": {"type": "ProgramOfThought", "signature": "question -> answer", "config": {"max_iters": 1}}}, ask("pot"))
    for code in ("import urllib.request\nresult = urllib.request.urlopen('http://127.0.0.1:9/').read()", "result = open('/etc/hostname').read()"):
        answers = [{"reasoning": "r", "generated_code": f"```python\n{code}\n```"}, {"reasoning": "r", "answer": "leaked"}]
        with pytest.raises(BridgeError) as raised:
            run(registry, definition, answers, {"question": "q"})
        assert raised.value.code == "DSPY_ERROR", raised.value.message
