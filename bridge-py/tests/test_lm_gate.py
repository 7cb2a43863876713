"""Per-LM limits (`limited_lms`: acquire / grant / spent) and the LM usage of evaluate and compile
(PROTOCOL.md "Per-LM limits", "Usage of evaluate and compile"; dspy_bridge/lm_gate.py).

The pool's side is played by the test: in process, a gate whose `send` answers each acquire at once; through
a real worker process (test_worker.Pool), grants sent on the worker's socket as the pool sends them. The LM
is a fake OpenAI-compatible server reporting the same usage for every call.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

import pytest

from conftest import QA_DEFINITION, QA_INPUTS, define, program_of, reply_json, serving, wire
from dspy_bridge.errors import BridgeError, Cancelled
from dspy_bridge.lm_gate import LmGate, LmMeter, LmRefused, key_of, parse_limited_lms
from dspy_bridge.optimize import compile_program, evaluate_program
from dspy_bridge.registry import Registry
from dspy_bridge.runner import run_program
from test_modules import ask, program
from test_optimize import ANSWERS, EXACT, EXAMPLES, QA
from test_streaming import USAGE as STREAMED_USAGE
from test_streaming import completion, lm_server  # noqa: F401 (a fixture: the streaming fake LM)
from test_worker import Pool, http_lm

USAGE = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}


class FixedUsageLM(BaseHTTPRequestHandler):
    """Chat completions in DSPy's ChatAdapter format (test_streaming.completion), each reporting USAGE."""

    calls = 0

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        FixedUsageLM.calls += 1
        message = {"role": "assistant", "content": completion(body)}
        reply_json(self, {"id": "c1", "object": "chat.completion", "created": 1, "model": "x", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": USAGE})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def api_base():
    with serving(FixedUsageLM) as url:
        yield f"{url}/v1"


class AutoGrant:
    """The pool's side of a gate, in process: records every acquire / spent, answers each acquire at once
    (ok, or REFUSAL for the keys in `refuse` and the seqs in `refuse_seqs`)."""

    def __init__(self, limited: set[str], refuse: set[str] = frozenset(), refuse_seqs: set[int] = frozenset()) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse
        self.refuse_seqs = refuse_seqs
        self.gate = LmGate(frozenset(limited), self.send)

    def send(self, kind: str, payload: dict[str, Any]) -> None:
        self.messages.append((kind, payload))
        if kind == "acquire":
            error = REFUSAL if payload["lm_key"] in self.refuse or payload["seq"] in self.refuse_seqs else None
            self.gate.grant({"seq": payload["seq"], "ok": True} if error is None else {"seq": payload["seq"], "ok": False, "error": error})

    def keys(self, kind: str) -> list[str]:
        return [p["lm_key"] for k, p in self.messages if k == kind]


REFUSAL = {"code": "LM_RATE_LIMITED", "layer": "lm", "message": "requests per minute of gpt-x spent; next in 12 s", "retriable": True}
PER_CALL = {**USAGE, "lm_calls": 1}


def times(n: int, per: dict[str, int] = PER_CALL) -> dict[str, int]:
    return {k: v * n for k, v in per.items()}


# --- which LM a call is made with ----------------------------------------------------------------------


def test_every_lm_a_request_uses_carries_its_key_through_the_copies_dspy_makes():
    reg = Registry()
    reg.configure_lm("dummy-key", {"model": "dummy", "answers": [{"answer": "x"}]})
    reg.configure_lm("http-key", http_lm("http://127.0.0.1:9/v1"))
    reg.configure_lm("timed-key", {**http_lm("http://127.0.0.1:9/v1"), "timeout": 5})
    for key in ("dummy-key", "http-key", "timed-key"):
        entry = reg.lm(key)
        for lm in (entry.lm, entry.for_run(), entry.for_run(3000), entry.for_run(600_000)):
            assert key_of(lm) == key
            # BootstrapFewShot and SIMBA call lm.copy(rollout_id=…, temperature=1.0); ParallelExecutor deep-copies.
            assert key_of(lm.copy(rollout_id=1, temperature=1.0)) == key
            assert key_of(copy.deepcopy(lm)) == key
    # Two keys, two objects: a deadline copy of one is never the other's.
    assert reg.lm("http-key").for_run(3000) is not reg.lm("timed-key").for_run(3000)


def test_limited_lms_is_an_array_of_keys():
    assert parse_limited_lms({}) == frozenset() == parse_limited_lms({"limited_lms": None}) == parse_limited_lms({"limited_lms": []})
    assert parse_limited_lms({"limited_lms": ["a", "b"]}) == {"a", "b"}
    for bad in ("a", [1], [""], {"a": 1}):
        with pytest.raises(BridgeError) as caught:
            parse_limited_lms({"limited_lms": bad})
        assert (caught.value.code, caught.value.details) == ("BAD_MESSAGE", {"path": "payload.limited_lms"})


def test_a_run_asks_for_the_lms_of_the_programs_it_calls_too(registry):
    # ReAct with a stored program as its tool (test_modules): agent, agent, the tool's Predict, the extraction.
    tool = program({"w": {"type": "Predict", "signature": "city -> weather"}}, [{"call": "w", "with": {"city": "$input.city"}, "as": "x"}, {"return": {"weather": "$x.weather"}}], {"city": "str"})
    tool_entry = define(registry, "tool-v", "th", tool)
    agent = program({"agent": {"type": "ReAct", "signature": "question -> answer", "config": {"max_iters": 3}, "tools": [{"program": "p-tool", "version": "tool-v", "name": "weather"}]}}, ask("agent"))
    normalized = program_of(agent)
    normalized["modules"]["agent"]["tools"][0]["args"] = tool_entry.program["inputs"]
    normalized["modules"]["agent"]["tools"][0]["description"] = "The weather in a city."
    entry = registry.define_program("agent-v", "ah", normalized)
    answers = [
        {"next_thought": "Look it up.", "next_tool_name": "weather", "next_tool_args": '{"city": "Paris"}'},
        {"next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": "{}"},
        {"reasoning": "The tool said sunny.", "answer": "Sunny in Paris."},
    ]
    registry.configure_lm("agent-lm", {"model": "dummy", "answers": answers})
    registry.configure_lm("tool-lm", {"model": "dummy", "answers": [{"weather": "sunny, 24C"}]})
    programs = {"tool-v": (tool_entry.module, registry.lm("tool-lm"))}

    both = AutoGrant({"agent-lm", "tool-lm"})
    result = run_program(entry, registry.lm("agent-lm"), {"question": "Weather in Paris?"}, programs=programs.__getitem__, gate=both.gate)
    assert result["outputs"]["answer"] == "Sunny in Paris."
    assert both.keys("acquire") == ["agent-lm", "tool-lm", "agent-lm", "agent-lm"]  # the tool runs inside the first step
    assert [p["seq"] for k, p in both.messages if k == "acquire"] == [1, 2, 3, 4]
    # Each acquire is followed by its call's spent (DummyLM reports no tokens) before the next acquire.
    assert [k for k, _ in both.messages] == ["acquire", "spent"] * 4
    assert both.keys("spent") == both.keys("acquire") and all(p["tokens"] == 0 for k, p in both.messages if k == "spent")

    only_tool = AutoGrant({"tool-lm"})
    run_program(entry, registry.lm("agent-lm"), {"question": "Weather in Paris?"}, programs=programs.__getitem__, gate=only_tool.gate)
    assert only_tool.keys("acquire") == ["tool-lm"] and only_tool.keys("spent") == ["tool-lm"]


def test_a_refused_call_fails_the_run_with_the_servers_error_and_its_partial_trace(registry, two_step_definition):
    entry = define(registry, "v", "h", two_step_definition)
    registry.configure_lm("lm", {"model": "dummy", "answers": [{"reasoning": "r", "answer": "Paris"}, {"summary": "s"}]})
    pool = AutoGrant({"lm"}, refuse_seqs={2})
    with pytest.raises(BridgeError) as caught:
        run_program(entry, registry.lm("lm"), QA_INPUTS, gate=pool.gate)
    error = caught.value
    assert (error.code, error.layer, error.message, error.retriable) == tuple(REFUSAL.values())
    # The first module call ran; the second never reached its LM (no LM call recorded, no spent for it).
    trace = error.details["trace"]
    assert [e["module"] for e in trace] == ["generate", "summarize"] and len(trace[0]["lm_calls"]) == 1 and trace[1]["lm_calls"] == []
    assert [k for k, _ in pool.messages] == ["acquire", "spent", "acquire"]


# --- the gate's waits ------------------------------------------------------------------------------------


def waiting_gate(cancel: threading.Event | None = None, deadline_in: float | None = None) -> tuple[LmGate, list[tuple[str, dict[str, Any]]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    gate = LmGate(frozenset({"k"}), lambda kind, payload: sent.append((kind, payload)), cancel, None if deadline_in is None else time.monotonic() + deadline_in)
    return gate, sent


def in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, list[BaseException | None]]:
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_grant_wakes_only_its_own_call_and_strays_are_ignored():
    gate, sent = waiting_gate()
    thread, outcome = in_thread(lambda: gate.acquire("k"))
    wait_for(lambda: sent)
    assert sent == [("acquire", {"seq": 1, "lm_key": "k"})]
    assert gate.grant({"seq": 2, "ok": True}) is False  # no call waits for seq 2
    assert gate.grant({"seq": "1", "ok": True}) is False
    assert gate.grant({"ok": True}) is False
    time.sleep(0.05)
    assert thread.is_alive()
    assert gate.grant({"seq": 1, "ok": True}) is True
    thread.join(5)
    assert outcome == [None]
    assert gate.grant({"seq": 1, "ok": True}) is False  # answered already


def test_a_refusal_raises_the_pools_error_exactly():
    gate, sent = waiting_gate()
    thread, outcome = in_thread(lambda: gate.acquire("k"))
    wait_for(lambda: sent)
    gate.grant({"seq": 1, "ok": False, "error": REFUSAL})
    thread.join(5)
    [refused] = outcome
    assert isinstance(refused, LmRefused) and not isinstance(refused, Exception)
    assert refused.error.to_wire() == REFUSAL


def test_a_cancel_ends_the_wait_at_once_and_so_does_a_lost_connection():
    cancel = threading.Event()
    gate, sent = waiting_gate(cancel)
    thread, outcome = in_thread(lambda: gate.acquire("k"))
    wait_for(lambda: sent)
    started = time.monotonic()
    cancel.set()
    gate.interrupt()  # what the worker's I/O thread does on `cancel`
    thread.join(5)
    assert time.monotonic() - started < 0.5 and isinstance(outcome[0], Cancelled)
    # Cancelled before it asked: no acquire at all.
    with pytest.raises(Cancelled):
        gate.acquire("k")
    assert len(sent) == 1

    gate, sent = waiting_gate()
    thread, outcome = in_thread(lambda: gate.acquire("k"))
    wait_for(lambda: sent)
    gate.interrupt(BridgeError("LM_UNAVAILABLE", "lm", "lost", True))
    thread.join(5)
    assert isinstance(outcome[0], LmRefused) and outcome[0].error.code == "LM_UNAVAILABLE"


def test_the_requests_deadline_bounds_the_wait_with_lm_timeout():
    gate, _ = waiting_gate(deadline_in=0.2)
    started = time.monotonic()
    with pytest.raises(LmRefused) as caught:
        gate.acquire("k")
    assert 0.15 < time.monotonic() - started < 2
    assert (caught.value.error.code, caught.value.error.layer, caught.value.error.retriable) == ("LM_TIMEOUT", "lm", True)


# --- usage of evaluate and compile (in process) ------------------------------------------------------------

JUDGE = {
    "inputs": {"answer": {"type": "str"}, "gold": {"type": "str"}},
    "modules": {"judge": {"type": "Predict", "signature": "answer, gold -> score: int"}},
    "forward": [{"call": "judge", "with": {"answer": "$input.answer", "gold": "$input.gold"}, "as": "j"}, {"return": {"score": "$j.score"}}],
}


def judged(lm_key: str = "judge-lm") -> dict[str, Any]:
    return {"kind": "lm_judge", "output": "answer", "label": "answer", "judge": {"program": program_of(JUDGE), "lm_key": lm_key, "score": "score", "inputs": {"answer": "output.answer", "gold": "label.answer"}}}


@pytest.fixture
def http_reg(api_base):
    reg = Registry()
    define(reg, "v1", "h1", QA)
    reg.configure_lm("task-lm", http_lm(api_base))
    reg.configure_lm("judge-lm", http_lm(api_base))
    return reg


@pytest.mark.parametrize("threads", [1, 3])
def test_evaluate_usage_is_n_times_the_per_call_usage_and_progress_counts_up_to_it(http_reg, threads):
    events: list[dict[str, Any]] = []
    payload = {"examples": EXAMPLES, "metric": EXACT, "num_threads": threads}
    result = evaluate_program(http_reg.program("v1", "h1"), http_reg.lm("task-lm"), payload, http_reg.lm, events.append)
    n = len(EXAMPLES)
    assert result["usage"] == {**times(n), "by_lm": {"task-lm": times(n)}}
    # Progress: cumulative (never down), from nothing to exactly the reply's.
    totals = [e["usage"]["total_tokens"] for e in events]
    assert totals == sorted(totals) and totals[0] == 0
    assert events[-1]["phase"] == "done" and events[-1]["usage"] == result["usage"]


def test_evaluate_usage_separates_the_judges_lm(http_reg):
    events: list[dict[str, Any]] = []
    result = evaluate_program(http_reg.program("v1", "h1"), http_reg.lm("task-lm"), {"examples": EXAMPLES, "metric": judged()}, http_reg.lm, events.append)
    n = len(EXAMPLES)
    assert [r["score"] for r in result["results"]] == [1.0] * n  # the fake judge says 7, clamped to 1
    assert result["usage"] == {**times(2 * n), "by_lm": {"task-lm": times(n), "judge-lm": times(n)}}
    assert events[-1]["usage"] == result["usage"]


def test_a_limited_evaluate_asks_for_both_lms_and_a_refused_example_fails_alone(http_reg):
    pool = AutoGrant({"task-lm", "judge-lm"})
    result = evaluate_program(http_reg.program("v1", "h1"), http_reg.lm("task-lm"), {"examples": EXAMPLES[:2], "metric": judged()}, http_reg.lm, None, None, pool.gate)
    assert pool.keys("acquire") == ["task-lm", "judge-lm"] * 2
    assert [p["tokens"] for k, p in pool.messages if k == "spent"] == [USAGE["total_tokens"]] * 4
    assert result["usage"]["lm_calls"] == 4

    # The judge refused: that example's metric failed (score 0), as an LM error in the judge would.
    refuse_judge = AutoGrant({"judge-lm"}, refuse={"judge-lm"})
    result = evaluate_program(http_reg.program("v1", "h1"), http_reg.lm("task-lm"), {"examples": EXAMPLES[:2], "metric": judged()}, http_reg.lm, None, None, refuse_judge.gate)
    assert [r["error"] for r in result["results"]] == [f"metric: LM_RATE_LIMITED: {REFUSAL['message']}"] * 2
    assert [r["score"] for r in result["results"]] == [0.0, 0.0] and result["results"][0]["prediction"] is not None
    # The program's LM refused: that example failed like a program whose LM failed (no prediction).
    refuse_task = AutoGrant({"task-lm"}, refuse={"task-lm"})
    result = evaluate_program(http_reg.program("v1", "h1"), http_reg.lm("task-lm"), {"examples": EXAMPLES[:2], "metric": EXACT}, http_reg.lm, None, None, refuse_task.gate)
    assert [(r["error"], r["prediction"]) for r in result["results"]] == [(f"LM_RATE_LIMITED: {REFUSAL['message']}", None)] * 2
    assert result["usage"]["lm_calls"] == 0


def test_compile_usage_counts_the_proposer_and_the_reflection_lm():
    reg = Registry()
    define(reg, "v1", "h1", QA)
    # One wrong answer, so GEPA reflects (test_optimize.test_gepa_asks_the_reflection_lm_with_the_metrics_feedback).
    reg.configure_lm("lm", {"model": "dummy", "answers": {"4+4": {"answer": "9"}, **ANSWERS}})
    reg.configure_lm("reflect", {"model": "dummy", "answers": {"": {"new_instruction": "Add the two numbers."}}, "adapter": "json"})
    events: list[dict[str, Any]] = []
    config = {"max_metric_calls": 16, "num_threads": 1, "reflection_minibatch_size": 2}
    payload = {"optimizer": "GEPA", "config": config, "trainset": EXAMPLES, "metric": EXACT, "seed": 0, "reflection_lm_key": "reflect"}
    pool = AutoGrant({"reflect"})
    result = compile_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm, events.append, None, pool.gate)
    by_lm = result["usage"]["by_lm"]
    assert set(by_lm) == {"lm", "reflect"} and by_lm["reflect"]["lm_calls"] >= 1
    assert result["usage"]["lm_calls"] == by_lm["lm"]["lm_calls"] + by_lm["reflect"]["lm_calls"]
    # Only the limited reflection LM asked, once per call.
    assert set(pool.keys("acquire")) == {"reflect"} and len(pool.keys("acquire")) == by_lm["reflect"]["lm_calls"]
    calls = [e["usage"]["lm_calls"] for e in events]
    assert calls == sorted(calls) and events[-1]["usage"] == result["usage"]

    # COPRO proposes instructions with the request's LM: counted under its key.
    payload = {"optimizer": "COPRO", "config": {"breadth": 2, "depth": 1}, "trainset": EXAMPLES, "metric": EXACT}
    result = compile_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm)
    assert set(result["usage"]["by_lm"]) == {"lm"} and result["usage"]["lm_calls"] > len(EXAMPLES)


def test_a_refused_call_fails_a_compile_like_an_lm_error():
    reg = Registry()
    define(reg, "v1", "h1", QA)
    reg.configure_lm("lm", {"model": "dummy", "answers": ANSWERS})
    payload = {"optimizer": "BOOTSTRAP_FEW_SHOT", "config": {}, "trainset": EXAMPLES, "metric": EXACT}
    refuse = AutoGrant({"lm"}, refuse={"lm"})
    with pytest.raises(BridgeError) as caught:
        compile_program(reg.program("v1", "h1"), reg.lm("lm"), payload, reg.lm, None, None, refuse.gate)
    error = caught.value
    assert (error.code, error.layer, error.retriable) == ("LM_RATE_LIMITED", "lm", True)
    assert error.message == f"BOOTSTRAP_FEW_SHOT failed: {REFUSAL['message']}"


def test_the_meter_is_shared_by_dspys_threads():
    meter = LmMeter()
    assert copy.deepcopy(meter) is meter


# --- through a worker process: acquire / grant / spent on the socket ---------------------------------------


@pytest.fixture(scope="module")
def pool(api_base):
    p = Pool(heartbeat_ms=1000, liveness=5)
    try:
        p.wait_ready()
        p.result("configure_lm", {"lm_key": "task-lm", "config": http_lm(api_base)})
        p.result("configure_lm", {"lm_key": "judge-lm", "config": http_lm(api_base)})
        two_step = copy.deepcopy(QA_DEFINITION)
        two_step["modules"]["summarize"] = {"type": "Predict", "signature": {"inputs": {"rationale": "str", "answer": "str"}, "outputs": {"summary": "str"}}}
        two_step["forward"] = [two_step["forward"][0], {"call": "summarize", "with": {"rationale": "$gen.reasoning", "answer": "$gen.answer"}, "as": "s"}, {"return": {"summary": "$s.summary"}}]
        p.result("define_program", {"version_id": "two", "hash": "h", **wire(two_step)})
        p.result("define_program", {"version_id": "v1", "hash": "h1", **wire(QA)})
        yield p
    finally:
        p.close()


Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


def drive(p: Pool, command: str, payload: dict[str, Any], answer: Answer, deadline_ms: float = 30000, timeout: float = 30) -> list[dict[str, Any]]:
    """Sends a request and plays the pool: each `acquire` gets `answer(payload)` as its grant's payload
    (None: no grant). Returns the request's messages up to and including its reply, in order."""
    req_id = f"g-{uuid.uuid4().hex[:8]}"
    p.send({"v": 1, "type": "request", "id": req_id, "command": command, "deadline_ms": deadline_ms, "payload": payload})
    mine: list[dict[str, Any]] = []
    until = time.monotonic() + timeout
    while True:
        message = p.pump(max(0.0, until - time.monotonic()))
        assert message is not None, f"no reply to {req_id}; worker stderr:\n{p.log()}"
        if message.get("id") != req_id:
            p.inbox.append(message)
            continue
        mine.append(message)
        if message["type"] == "acquire":
            grant = answer({**message["payload"], "id": req_id})
            if grant is not None:
                p.send({"v": 1, "type": "grant", "id": req_id, "payload": grant})
        if message["type"] == "reply":
            return mine


def ok(acquire: dict[str, Any]) -> dict[str, Any]:
    return {"seq": acquire["seq"], "ok": True}


RUN = {"version_id": "two", "hash": "h", "lm_key": "task-lm", "inputs": QA_INPUTS}


def test_a_limited_run_asks_before_each_call_and_reports_what_each_spent(pool):
    messages = drive(pool, "run", {**RUN, "limited_lms": ["task-lm"]}, ok)
    reply = messages[-1]
    assert reply["ok"], reply
    shapes = [(m["type"], m.get("payload")) for m in messages[:-1]]
    spent = {"lm_key": "task-lm", "tokens": USAGE["total_tokens"]}
    assert shapes == [("acquire", {"seq": 1, "lm_key": "task-lm"}), ("spent", spent), ("acquire", {"seq": 2, "lm_key": "task-lm"}), ("spent", spent)]
    assert all(m["v"] == 1 for m in messages)
    assert reply["result"]["usage"] == times(2)
    pool.assert_alive()


def test_a_run_without_limited_lms_asks_nothing(pool):
    for extra in ({}, {"limited_lms": []}, {"limited_lms": None}, {"limited_lms": ["judge-lm"]}):
        messages = drive(pool, "run", {**RUN, **extra}, ok)
        assert [m["type"] for m in messages] == ["reply"] and messages[0]["ok"], messages


def test_a_refused_grant_fails_the_run_with_that_error(pool):
    messages = drive(pool, "run", {**RUN, "limited_lms": ["task-lm"]}, lambda a: {"seq": a["seq"], "ok": False, "error": REFUSAL})
    assert [m["type"] for m in messages] == ["acquire", "reply"]
    error = messages[-1]["error"]
    assert {k: error[k] for k in REFUSAL} == REFUSAL and error["details"]["trace"][0]["lm_calls"] == []


def test_cancel_while_waiting_for_a_grant_ends_the_run_at_once(pool):
    before = FixedUsageLM.calls
    cancelled_at: list[float] = []

    def cancel_instead(acquire: dict[str, Any]) -> None:
        pool.send({"v": 1, "type": "request", "id": f"c-{acquire['id']}", "command": "cancel", "payload": {"id": acquire["id"]}})
        cancelled_at.append(time.monotonic())
        return None

    messages = drive(pool, "run", {**RUN, "limited_lms": ["task-lm"]}, cancel_instead)
    assert time.monotonic() - cancelled_at[0] < 2
    assert [m["type"] for m in messages] == ["acquire", "reply"] and messages[-1]["error"]["code"] == "CANCELLED"
    assert pool.reply(f"c-{messages[0]['id']}")["result"]["cancelled"] is True
    assert FixedUsageLM.calls == before  # the LM was never called
    # Its grant arriving late is ignored.
    pool.send({"v": 1, "type": "grant", "id": messages[0]["id"], "payload": {"seq": 1, "ok": True}})
    pool.assert_alive()


def test_the_deadline_bounds_the_wait_for_a_grant(pool):
    started = time.monotonic()
    messages = drive(pool, "run", {**RUN, "limited_lms": ["task-lm"]}, lambda a: None, deadline_ms=1500)
    assert 1.2 < time.monotonic() - started < 10
    error = messages[-1]["error"]
    assert (error["code"], error["layer"], error["retriable"]) == ("LM_TIMEOUT", "lm", True)


def test_stray_grants_are_ignored_and_a_wrong_seq_wakes_nothing(pool):
    pool.send({"v": 1, "type": "grant", "id": "nobody", "payload": {"seq": 1, "ok": True}})
    pool.send({"v": 1, "type": "grant", "payload": {"seq": 1, "ok": True}})
    pool.send({"v": 1, "type": "grant", "id": "nobody", "payload": "not an object"})
    pool.assert_alive()  # no reply to any of them

    def wrong_seq_first(acquire: dict[str, Any]) -> dict[str, Any]:
        pool.send({"v": 1, "type": "grant", "id": acquire["id"], "payload": {"seq": acquire["seq"] + 100, "ok": False, "error": REFUSAL}})
        time.sleep(0.1)
        return ok(acquire)

    messages = drive(pool, "run", {**RUN, "limited_lms": ["task-lm"]}, wrong_seq_first)
    assert messages[-1]["ok"], messages[-1]


def test_a_bad_limited_lms_is_bad_message(pool):
    messages = drive(pool, "run", {**RUN, "limited_lms": "task-lm"}, ok)
    assert messages[-1]["error"]["code"] == "BAD_MESSAGE" and messages[-1]["error"]["details"] == {"path": "payload.limited_lms"}


def test_a_limited_evaluate_with_a_judge_asks_for_both_and_reports_usage_by_lm(pool):
    payload = {"version_id": "v1", "hash": "h1", "lm_key": "task-lm", "examples": EXAMPLES, "metric": judged(), "limited_lms": ["task-lm", "judge-lm"]}
    messages = drive(pool, "evaluate", payload, ok)
    reply = messages[-1]
    assert reply["ok"], reply
    n = len(EXAMPLES)
    acquires = [m["payload"] for m in messages if m["type"] == "acquire"]
    assert [a["lm_key"] for a in acquires] == ["task-lm", "judge-lm"] * n and [a["seq"] for a in acquires] == list(range(1, 2 * n + 1))
    assert [m["payload"] for m in messages if m["type"] == "spent"] == [{"lm_key": k, "tokens": USAGE["total_tokens"]} for k in ["task-lm", "judge-lm"] * n]
    usage = reply["result"]["usage"]
    assert usage == {**times(2 * n), "by_lm": {"task-lm": times(n), "judge-lm": times(n)}}
    progress = [m["payload"] for m in messages if m["type"] == "progress"]
    assert progress[-1]["phase"] == "done" and progress[-1]["usage"] == usage
    assert [p["usage"]["lm_calls"] for p in progress] == sorted(p["usage"]["lm_calls"] for p in progress)


def test_a_streaming_run_asks_and_reports_spent_tokens_too(pool, lm_server):  # noqa: F811
    pool.result("configure_lm", {"lm_key": "stream-lm", "config": http_lm(lm_server + "/v1")})
    messages = drive(pool, "run", {**RUN, "lm_key": "stream-lm", "limited_lms": ["stream-lm"], "stream": True}, ok)
    reply = messages[-1]
    assert reply["ok"], reply
    gate = [(m["type"], m["payload"]) for m in messages if m["type"] in ("acquire", "spent")]
    spent = {"lm_key": "stream-lm", "tokens": STREAMED_USAGE["total_tokens"]}
    assert gate == [("acquire", {"seq": 1, "lm_key": "stream-lm"}), ("spent", spent), ("acquire", {"seq": 2, "lm_key": "stream-lm"}), ("spent", spent)]
    # Each call's deltas come after its acquire (the call waited for its grant).
    first_delta = next(i for i, m in enumerate(messages) if m["type"] == "stream" and m["payload"]["kind"] == "delta")
    assert [m["type"] for m in messages].index("acquire") < first_delta
    assert reply["result"]["usage"]["total_tokens"] == 2 * STREAMED_USAGE["total_tokens"]
