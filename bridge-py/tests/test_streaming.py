"""Token streaming of a run's output fields (PROTOCOL.md "Streaming", dspy_bridge/streaming.py).

A fake OpenAI-compatible server answers like an LM would in DSPy's chat (or JSON) format; asked with
`stream: true` it sends Server-Sent Events, the content cut into pieces of a few characters (which split
the `[[ ## field ## ]]` markers, the whitespace around them and JSON escapes), then a usage chunk when
the request asks for one. Most tests drive a real worker process (test_worker.Pool); a few run
run_program in this process to look inside.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from conftest import QA_DEFINITION, QA_INPUTS, define, program_of, reply_json, serving, wire
from dspy_bridge import otel, streaming
from dspy_bridge.errors import BridgeError, register_secret
from dspy_bridge.runner import run_program
from dspy_bridge.streaming import ChatText, JsonText, StreamingTracer, shown
from test_otel import TRACEPARENT, receiver  # noqa: F401 (a fixture)
from test_worker import API_KEY, Pool, http_lm

PIECE = 3  # characters per streamed chunk
USAGE = {"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48}
REASONING = "The passage  names it;\n  it says so, plainly."
SUMMARY = "Line one.\n\nLine two (with [brackets] and [[double]] ones)."


def answer_for(question: str) -> str:
    return f"Paris — é 🗼, for: {question}"


# --- the fake LM -------------------------------------------------------------------------------------


def output_fields(system: str) -> list[str]:
    section = system.split("Your output fields are:", 1)[1].split("All interactions", 1)[0]
    return re.findall(r"^\d+\. `(\w+)`", section, re.M)


def field_values(fields: list[str], user: str, json_mode: bool) -> dict[str, Any]:
    question = (re.search(r"\[\[ ## question ## \]\]\n(.*?)(?:\n\n|$)", user, re.S) or [None, ""])[1]
    done = "observation_0" in user  # ReAct: a tool was called, time to finish
    values: dict[str, Any] = {
        "reasoning": REASONING,
        "answer": answer_for(question),
        "title": "  A spaced title  ",
        "summary": SUMMARY,
        "score": 7,
        "next_thought": "I have it." if done else "Look it up.",
        "next_tool_name": "finish" if done else "temperature",
        "next_tool_args": {} if done else {"city": "Paris"},
        "rationale": "Both attempts agree.",
        "generated_code": "```python\nresult = 6 * 7\nSUBMIT({'answer': str(result)})\n```",
    }
    if "SECRET" in question:
        values["answer"] = f"The key is {API_KEY} (do not share)."
    chosen = {name: values[name] for name in fields}
    if "BROKEN" in question and not json_mode:
        chosen.pop(fields[-1])  # the chat answer misses a field: DSPy asks again for JSON
    return chosen


def completion(body: dict[str, Any]) -> str:
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    user = body["messages"][-1]["content"]
    json_mode = "Outputs will be a JSON object" in system
    values = field_values(output_fields(system), user, json_mode)
    if json_mode:
        return json.dumps(values)  # \u escapes for é and the tower's surrogate pair
    sections = [f"[[ ## {name} ## ]]\n{value if isinstance(value, str) else json.dumps(value)}\n\n" for name, value in values.items()]
    return "".join(sections) + "[[ ## completed ## ]]"


class FakeLM(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker hung up (a cancelled run)

    def _answer(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        FakeLM.requests.append(body)
        prompt = json.dumps(body["messages"])
        if "RATE" in prompt:
            return self._error(429, {"message": "slow down", "type": "rate_limit_error"})
        if "OVERLOAD" in prompt and not body.get("stream"):
            return self._error(500, {"message": "overloaded", "type": "server_error"})
        content = completion(body)
        if not body.get("stream"):
            if "SLOW" in prompt:  # as long as the streamed answer takes
                time.sleep(0.1 * len(range(0, len(content), PIECE)))
            message = {"role": "assistant", "content": content}
            return reply_json(self, {"id": "c1", "object": "chat.completion", "created": 1, "model": "x", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": USAGE})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self._event({"role": "assistant", "content": ""})
        for i in range(0, len(content), PIECE):
            if "OVERLOAD" in prompt and i >= 30:  # the provider fails mid-answer
                self._send({"error": {"message": "overloaded", "type": "server_error", "code": 500}})
                return
            if "SLOW" in prompt:
                time.sleep(0.1)
            self._event({"content": content[i : i + PIECE]})
        self._event({}, finish="stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            self._send({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x", "choices": [], "usage": USAGE})
        self.wfile.write(b"data: [DONE]\n\n")

    def do_GET(self) -> None:  # noqa: N802 (a weather tool and a ColBERTv2 server)
        if self.path.startswith("/weather"):
            return reply_json(self, {"temp": 21})
        return reply_json(self, {"topk": [{"text": f"passage {i}", "score": 10 - i, "pid": i} for i in range(2)]})

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> None:
        self._send({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def _send(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _error(self, status: int, error: dict[str, Any]) -> None:
        body = json.dumps({"error": error}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def lm_server():
    with serving(FakeLM) as url:
        yield url


@pytest.fixture(scope="module")
def pool():
    p = Pool(heartbeat_ms=1000, liveness=5)  # a loaded machine must not make the worker reconnect mid-test
    try:
        p.wait_ready()
        yield p
        # Nothing went wrong quietly: no chunk the streaming code failed on, no asyncio complaint.
        log = Path(p.stderr.name).read_text(errors="replace")
        for sign in ("could not be read", "could not be flushed", "did not match", "never retrieved", "Traceback"):
            assert sign not in log, log[-4000:]
    finally:
        p.close()


# --- definitions and helpers -------------------------------------------------------------------------

PREDICT_FIELDS = {
    "inputs": {"question": {"type": "str"}},
    "modules": {"write": {"type": "Predict", "signature": {"inputs": {"question": {"type": "str"}}, "outputs": {"title": {"type": "str"}, "summary": {"type": "str"}, "score": {"type": "int"}}}}},
    "forward": [{"call": "write", "with": {"question": "$input.question"}, "as": "w"}, {"return": {"title": "$w.title", "summary": "$w.summary", "score": "$w.score"}}],
}

MAP_DEFINITION = {
    "inputs": {"questions": {"type": "list[str]"}},
    "modules": {"solve": {"type": "ChainOfThought", "signature": {"inputs": {"question": {"type": "str"}}, "outputs": {"answer": {"type": "str"}}}}},
    "forward": [
        {"map": "$input.questions", "as": "each", "parallel": 3, "steps": [
            {"call": "solve", "with": {"question": "$each.item"}, "as": "r"},
            {"return": {"answer": "$r.answer"}},
        ]},
        {"return": {"answers": "$each.answer"}},
    ],
}


def configure(p: Pool, lm_server: str, lm_key: str, version: str, definition: dict[str, Any], **config: Any) -> None:
    p.result("configure_lm", {"lm_key": lm_key, "config": {**http_lm(lm_server + "/v1"), **config}})
    p.result("define_program", {"version_id": version, "hash": "h", **wire(definition)})


def send_run(p: Pool, payload: dict[str, Any]) -> str:
    req_id = f"s-{uuid.uuid4().hex[:8]}"
    p.send({"v": 1, "type": "request", "id": req_id, "command": "run", "deadline_ms": 30000, "payload": payload})
    return req_id


def collect(p: Pool, req_id: str, timeout: float = 20) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """(stream payloads, reply, the raw stream messages) of a request, in the order they came."""
    mine = [m for m in p.inbox if m.get("id") == req_id]
    p.inbox[:] = [m for m in p.inbox if m.get("id") != req_id]
    deadline = time.monotonic() + timeout
    while True:
        message = p.pump(max(0.0, deadline - time.monotonic()))
        assert message is not None, f"no reply to {req_id} within {timeout} s; worker stderr:\n{p.log()}"
        if message.get("id") != req_id:
            p.inbox.append(message)
        elif message["type"] == "reply":
            break
        else:
            mine.append(message)
    assert all(m["type"] == "stream" and m["v"] == 1 for m in mine), mine
    return [m["payload"] for m in mine], message, mine


def streamed(p: Pool, payload: dict[str, Any], timeout: float = 20) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events, reply, _ = collect(p, send_run(p, {**payload, "stream": True}), timeout)
    return events, reply


def texts(events: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """step → field → its deltas joined, from the step's last `retry` on."""
    joined: dict[str, dict[str, str]] = defaultdict(dict)
    for e in events:
        if e["kind"] == "status" and e["event"] == "retry":
            joined[e["step"]] = {}
        elif e["kind"] == "delta":
            joined[e["step"]][e["field"]] = joined[e["step"]].get(e["field"], "") + e["text"]
    return joined


def check_module_calls(events: list[dict[str, Any]], trace: list[dict[str, Any]], streamed_fields: dict[str, tuple[str, ...]], retries: int = 0) -> None:
    """Per trace entry: module_start, then its deltas, then module_end with the entry's outputs; the deltas
    of every streamed str field add up to its output exactly. streamed_fields: module → fields."""
    assert len([e for e in events if e.get("event") == "retry"]) == retries
    joined = texts(events)
    for entry in trace:
        step, module = entry["step"], entry["module"]
        mine = [(i, e) for i, e in enumerate(events) if e["step"] == step]
        starts = [i for i, e in mine if e["kind"] == "status" and e["event"] == "module_start"]
        ends = [(i, e) for i, e in mine if e["kind"] == "status" and e["event"] == "module_end"]
        assert len(starts) == 1 and len(ends) == 1, mine
        (end_index, end), deltas = ends[0], [i for i, e in mine if e["kind"] == "delta"]
        assert all(starts[0] < i < end_index for i in deltas)
        assert all(e["module"] == module for _, e in mine)
        assert end["outputs"] == entry["outputs"]
        for name in streamed_fields.get(module, ()):
            assert joined[step].get(name, "") == entry["outputs"][name], (step, name)
        assert {e["field"] for _, e in mine if e["kind"] == "delta"} <= set(streamed_fields.get(module, ()))


def same_trace(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Equal but for timings (entries sorted by step: a parallel map finishes in any order)."""

    def timeless(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [{**e, "duration_ms": 0, "lm_calls": [{**c, "latency_ms": 0} for c in e["lm_calls"]]} for e in trace]
        return sorted(out, key=lambda e: e["step"])

    assert timeless(a) == timeless(b)


# --- through the worker ------------------------------------------------------------------------------


def test_chain_of_thought_streams_reasoning_and_answer_that_add_up_exactly(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-qa", QA_DEFINITION)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-http", "inputs": QA_INPUTS}
    before = len(FakeLM.requests)
    events, reply = streamed(pool, payload)
    assert reply["ok"], reply
    request = FakeLM.requests[before]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    result = reply["result"]
    assert result["outputs"] == {"answer": answer_for(QA_INPUTS["question"])}
    check_module_calls(events, result["trace"], {"generate": ("reasoning", "answer")})
    assert events[0] == {"kind": "status", "event": "module_start", "step": "gen", "module": "generate", "message": "generate (ChainOfThought) started"}
    assert events[-1]["event"] == "module_end" and events[-1]["outputs"] == {"reasoning": REASONING, "answer": answer_for(QA_INPUTS["question"])}
    deltas = [e for e in events if e["kind"] == "delta"]
    assert [e["field"] for e in deltas] == sorted((e["field"] for e in deltas), key=["reasoning", "answer"].index)  # as written
    assert len([e for e in deltas if e["field"] == "reasoning"]) > 5  # as it is written, not at the end
    assert set(deltas[0]) == {"kind", "step", "module", "field", "text"} and deltas[0]["step"] == "gen" and deltas[0]["module"] == "generate"
    # Usage comes in the stream's last chunk: the same as without streaming, and the same trace.
    assert result["usage"] == {**USAGE, "lm_calls": 1}
    plain = pool.result("run", payload)
    assert plain["outputs"] == result["outputs"] and plain["usage"] == result["usage"]
    same_trace(plain["trace"], result["trace"])


def test_a_predict_streams_each_str_field_and_not_the_others(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-fields", PREDICT_FIELDS)
    payload = {"version_id": "s-fields", "hash": "h", "lm_key": "s-http", "inputs": {"question": "Write it up."}}
    events, reply = streamed(pool, payload)
    result = reply["result"]
    # ChatAdapter strips a section: the title's spaces around it are not part of it, nor of its deltas.
    assert result["outputs"] == {"title": "A spaced title", "summary": SUMMARY, "score": 7}
    check_module_calls(events, result["trace"], {"write": ("title", "summary")})
    assert {e["field"] for e in events if e["kind"] == "delta"} == {"title", "summary"}  # score is an int
    plain = pool.result("run", payload)
    assert plain["outputs"] == result["outputs"]
    same_trace(plain["trace"], result["trace"])


def test_a_parallel_map_streams_each_element_under_its_own_step(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-map", MAP_DEFINITION)
    questions = ["one?", "two?", "three?", "four?"]
    payload = {"version_id": "s-map", "hash": "h", "lm_key": "s-http", "inputs": {"questions": questions}}
    events, reply = streamed(pool, payload)
    assert reply["ok"], reply
    result = reply["result"]
    assert result["outputs"] == {"answers": [answer_for(q) for q in questions]}
    assert sorted(e["step"] for e in result["trace"]) == [f"each[{i}].r" for i in range(4)]
    check_module_calls(events, result["trace"], {"solve": ("reasoning", "answer")})
    assert {e["step"] for e in events if e["kind"] == "delta"} == {f"each[{i}].r" for i in range(4)}
    assert result["usage"] == {k: v * 4 for k, v in USAGE.items()} | {"lm_calls": 4}
    plain = pool.result("run", payload)
    assert plain["outputs"] == result["outputs"] and plain["usage"] == result["usage"]
    same_trace(plain["trace"], result["trace"])


def test_without_stream_true_no_stream_message_is_sent(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-qa", QA_DEFINITION)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-http", "inputs": QA_INPUTS}
    for extra in ({}, {"stream": False}, {"stream": None}):
        before = len(FakeLM.requests)
        events, reply, _ = collect(pool, send_run(pool, {**payload, **extra}))
        assert reply["ok"] and events == []
        assert "stream" not in FakeLM.requests[before]
    pool.assert_alive()
    error = pool.error("run", {**payload, "stream": "yes"})
    assert error["code"] == "BAD_MESSAGE" and error["details"]["path"] == "payload.stream"


def test_the_dummy_model_sends_status_events_but_no_deltas(pool):
    pool.result("configure_lm", {"lm_key": "s-dummy", "config": {"model": "dummy", "answers": [{"reasoning": "R.", "answer": "Paris"}]}})
    pool.result("define_program", {"version_id": "s-qa-d", "hash": "h", **wire(QA_DEFINITION)})
    payload = {"version_id": "s-qa-d", "hash": "h", "lm_key": "s-dummy", "inputs": QA_INPUTS}
    events, reply = streamed(pool, payload)
    assert [(e["kind"], e["event"]) for e in events] == [("status", "module_start"), ("status", "module_end")]
    assert events[1]["outputs"] == {"reasoning": "R.", "answer": "Paris"}
    plain = pool.result("run", payload)
    assert reply["result"]["outputs"] == plain["outputs"] == {"answer": "Paris"}
    same_trace(plain["trace"], reply["result"]["trace"])


def test_a_cancel_stops_a_streaming_answer_at_its_next_chunk(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-qa", QA_DEFINITION)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-http", "inputs": {**QA_INPUTS, "question": "SLOW capital?"}, "stream": True}
    req_id = send_run(pool, payload)
    started = time.monotonic()
    while not any(m.get("id") == req_id and m["payload"]["kind"] == "delta" for m in pool.inbox):
        message = pool.pump(10)
        assert message is not None and time.monotonic() - started < 10, "no delta came"
        pool.inbox.append(message)
    assert pool.result("cancel", {"id": req_id}) == {"id": req_id, "cancelled": True}
    events, reply, _ = collect(pool, req_id)
    assert reply["ok"] is False and {k: reply["error"][k] for k in ("code", "layer", "retriable")} == {"code": "CANCELLED", "layer": "worker", "retriable": False}
    # The answer takes ~7 s to stream (70 pieces, 100 ms each); the cancel cut it short.
    assert time.monotonic() - started < 5
    assert events[-1]["event"] == "module_end" and events[-1]["error"].startswith("Cancelled")
    pool.assert_alive()


@pytest.mark.parametrize(("keyword", "code"), [("RATE", "LM_RATE_LIMITED"), ("OVERLOAD", "LM_UNAVAILABLE")])
def test_an_lm_error_has_the_same_code_with_and_without_streaming(pool, lm_server, keyword, code):
    configure(pool, lm_server, "s-http", "s-qa", QA_DEFINITION)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-http", "inputs": {**QA_INPUTS, "question": f"{keyword} capital?"}}
    plain = pool.error("run", payload)
    events, reply = streamed(pool, payload)
    assert plain["code"] == reply["error"]["code"] == code
    assert plain["retriable"] is reply["error"]["retriable"] is True
    assert [e["event"] for e in events if e["kind"] == "status"] == ["module_start", "module_end"]
    assert "error" in events[-1] and events[-1]["outputs"] == {}


def test_the_lm_timeout_bounds_a_streamed_answer_as_it_bounds_one_that_is_not(pool, lm_server):
    """Without streaming the timeout bounds the wait for the answer's headers, i.e. the whole answer; a
    stream's headers come at once, so the timeout bounds the streamed answer as a whole."""
    configure(pool, lm_server, "s-timeout", "s-qa", QA_DEFINITION, timeout=1)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-timeout", "inputs": {**QA_INPUTS, "question": "SLOW capital?"}}
    started = time.monotonic()
    plain = pool.error("run", payload, timeout=20)
    events, reply = streamed(pool, payload)
    assert time.monotonic() - started < 6  # two answers of ~7 s each, both cut at ~1 s
    assert reply["error"]["code"] == plain["code"] and reply["error"]["retriable"] is plain["retriable"] is True
    assert "read timed out" in plain["message"] and "read timed out" in reply["error"]["message"]
    assert events[-1]["event"] == "module_end" and "error" in events[-1]


def test_a_chat_answer_that_does_not_parse_falls_back_to_json_as_it_does_without_streaming(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-qa", QA_DEFINITION)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-http", "inputs": {**QA_INPUTS, "question": "BROKEN capital?"}}
    plain = pool.result("run", payload)
    events, reply = streamed(pool, payload)
    result = reply["result"]
    assert result["outputs"] == plain["outputs"] == {"answer": answer_for("BROKEN capital?")}
    same_trace(plain["trace"], result["trace"])
    assert len(result["trace"][0]["lm_calls"]) == 2  # the chat answer, then the JSON one
    kinds = [(e["kind"], e.get("event"), e.get("field")) for e in events]
    retry = kinds.index(("status", "retry", None))
    # The failed chat answer's reasoning was streamed before the retry; the JSON answer's fields after it.
    assert ("delta", None, "reasoning") in kinds[:retry]
    assert {k[2] for k in kinds[retry:] if k[0] == "delta"} == {"reasoning", "answer"}
    assert events[retry]["step"] == "gen" and events[retry]["module"] == "generate"
    check_module_calls(events, result["trace"], {"generate": ("reasoning", "answer")}, retries=1)


def test_the_json_adapter_streams_decoded_string_values(pool, lm_server):
    configure(pool, lm_server, "s-json", "s-fields-json", PREDICT_FIELDS, adapter="json")
    payload = {"version_id": "s-fields-json", "hash": "h", "lm_key": "s-json", "inputs": {"question": "Write it up."}}
    events, reply = streamed(pool, payload)
    result = reply["result"]
    # JSON keeps the title's spaces; the deltas decode the escapes the LM wrote (\n, \u00e9, surrogate pairs).
    assert result["outputs"] == {"title": "  A spaced title  ", "summary": SUMMARY, "score": 7}
    check_module_calls(events, result["trace"], {"write": ("title", "summary")})
    assert len([e for e in events if e["kind"] == "delta" and e["field"] == "summary"]) > 5
    assert pool.result("run", payload)["outputs"] == result["outputs"]


def test_a_secret_in_an_answer_never_leaves_not_even_in_pieces(pool, lm_server):
    configure(pool, lm_server, "s-http", "s-qa", QA_DEFINITION)
    payload = {"version_id": "s-qa", "hash": "h", "lm_key": "s-http", "inputs": {**QA_INPUTS, "question": "SECRET?"}, "stream": True}
    events, reply, raw = collect(pool, send_run(pool, payload))
    answer = reply["result"]["outputs"]["answer"]
    assert answer == "The key is [REDACTED] (do not share)."
    assert texts(events)["gen"]["answer"] == answer
    wire_text = json.dumps(raw) + json.dumps(reply)
    # Streamed 3 characters at a time, the key would have gone out in pieces a frame's redaction misses.
    assert all(API_KEY[i : i + 4] not in wire_text for i in range(len(API_KEY) - 3))


# --- in this process ---------------------------------------------------------------------------------


def local_lm(registry, lm_server: str, key: str = "lm", **config: Any):
    registry.configure_lm(key, {"model": "openai/x", "api_base": lm_server + "/v1", "api_key": "sk-local-test", "cache": False, "num_retries": 0, **config})
    return registry.lm(key)


@pytest.mark.parametrize("adapter", ["chat", "json"])
def test_the_listeners_deltas_are_exact_before_the_step_end_settles_anything(registry, lm_server, monkeypatch, adapter):
    """What the listeners gave (DSPy's, with ChatListener's flush, through ChatText / JsonText), before the
    module call's end settles: already every field exactly, `[[` in a value, spaces around a chat section,
    JSON escapes cut in two included."""
    seen: dict[str, tuple[str, str]] = {}
    settle = StreamingTracer._settle

    def watching(self, entry, call):
        for name in call.target.fields:
            seen[name] = ("".join(call.sent.get(name, ())), entry["outputs"].get(name))
        settle(self, entry, call)

    monkeypatch.setattr(StreamingTracer, "_settle", watching)
    definition = {**PREDICT_FIELDS, "modules": {"write": {"type": "ChainOfThought", "signature": PREDICT_FIELDS["modules"]["write"]["signature"]}}}
    entry = define(registry, "v", "h", definition)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server, adapter=adapter), {"question": "Write it up."}, stream=events.append)
    title = "A spaced title" if adapter == "chat" else "  A spaced title  "  # ChatAdapter strips a section; JSON does not
    assert seen == {"reasoning": (REASONING, REASONING), "title": (title, title), "summary": (SUMMARY, SUMMARY)}
    check_module_calls(events, result["trace"], {"write": ("reasoning", "title", "summary")})


def chat_chunks(content: str, size: int = PIECE) -> list[Any]:
    """Chunks as DSPy's LM hands them to listeners (dspy.clients.engines.streaming.ListenerBridge)."""
    from dspy.clients.call_result import attributes
    from dspy.clients.engines.streaming import EngineChunk

    return [EngineChunk(id="c", model="x", predict_id=1, choices=[attributes({"index": 0, "delta": {"content": content[i : i + size]}, "finish_reason": None})]) for i in range(0, len(content), size)]


def test_dspy_s_own_listener_drops_text_after_double_brackets_and_chat_listener_does_not():
    """Why streaming.ChatListener exists: DSPy 3.4.1's StreamListener flushes its buffer mid-stream up to
    the first `[[`, and what followed it in the buffer is gone."""
    import dspy
    from dspy.streaming import StreamListener

    predictor = dspy.Predict("question -> summary")
    content = f"[[ ## summary ## ]]\n{SUMMARY}\n\n[[ ## completed ## ]]"
    got = {}
    for cls in (StreamListener, streaming.ChatListener):
        listener = cls("summary", predict=predictor, predict_name="p")
        with dspy.context(adapter=dspy.ChatAdapter()):
            got[cls.__name__] = "".join(r.chunk for c in chat_chunks(content) if (r := listener.receive(c)) is not None)
    assert got["ChatListener"] == SUMMARY
    assert got["StreamListener"] != SUMMARY and "[[dou" not in got["StreamListener"]


def test_react_streams_tool_calls_and_its_extraction(registry, lm_server):
    definition = {
        "inputs": {"question": "str"},
        "modules": {"agent": {"type": "ReAct", "signature": "question -> answer", "config": {"max_iters": 3}, "tools": [{
            "name": "temperature", "description": "Current temperature of a city.", "args": {"city": "str"},
            "http": {"method": "GET", "url": lm_server + "/weather?q={city}", "response": "temp"},
        }]}},
        "forward": [{"call": "agent", "with": {"question": "$input.question"}, "as": "r"}, {"return": {"answer": "$r.answer"}}],
    }
    entry = define(registry, "v", "h", definition)
    before = len(FakeLM.requests)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), {"question": "How warm?"}, stream=events.append)
    assert result["outputs"] == {"answer": answer_for("How warm?")}
    statuses = [(e["event"], e.get("tool")) for e in events if e["kind"] == "status"]
    assert statuses == [("module_start", None), ("tool_start", "temperature"), ("tool_end", "temperature"), ("module_end", None)]
    assert events[1]["message"] == "calling tool temperature" and events[1]["step"] == "r" and events[1]["module"] == "agent"
    check_module_calls(events, result["trace"], {"agent": ("reasoning", "answer")})
    # Only the extraction streams: the agent's own steps (thought, tool, arguments) are asked plainly.
    asked = FakeLM.requests[before:]
    assert [bool(r.get("stream")) for r in asked] == [False, False, True]


def test_multi_chain_comparison_streams_its_comparison_not_its_attempts(registry, lm_server):
    definition = {
        "inputs": {"question": "str"},
        "modules": {"mcc": {"type": "MultiChainComparison", "signature": "question -> answer", "config": {"M": 2}}},
        "forward": [{"call": "mcc", "with": {"question": "$input.question"}, "as": "r"}, {"return": {"answer": "$r.answer"}}],
    }
    entry = define(registry, "v", "h", definition)
    before = len(FakeLM.requests)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), {"question": "Capital?"}, stream=events.append)
    assert result["outputs"] == {"answer": answer_for("Capital?")}
    check_module_calls(events, result["trace"], {"mcc": ("rationale", "answer")})
    assert {e["field"] for e in events if e["kind"] == "delta"} == {"rationale", "answer"}
    assert [bool(r.get("stream")) for r in FakeLM.requests[before:]] == [False, False, True]


def test_best_of_n_runs_unstreamed_next_to_a_streamed_module(registry, lm_server):
    """BestOfN calls a deep copy of its module per attempt, which DSPy's listeners cannot name: status
    events only, and its attempts are asked plainly."""
    definition = {
        "inputs": {"question": "str"},
        "modules": {
            "gen": {"type": "ChainOfThought", "signature": "question -> answer"},
            "best": {"type": "BestOfN", "signature": "question -> answer", "config": {"N": 2, "threshold": 1.0}, "reward": {"kind": "exact_match", "output": "answer", "value": answer_for("Capital?")}},
        },
        "forward": [
            {"call": "gen", "with": {"question": "$input.question"}, "as": "g"},
            {"call": "best", "with": {"question": "$input.question"}, "as": "b"},
            {"return": {"answer": "$b.answer", "first": "$g.answer"}},
        ],
    }
    entry = define(registry, "v", "h", definition)
    before = len(FakeLM.requests)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), {"question": "Capital?"}, stream=events.append)
    assert result["outputs"] == {"answer": answer_for("Capital?"), "first": answer_for("Capital?")}
    check_module_calls(events, result["trace"], {"gen": ("reasoning", "answer")})
    assert {e["step"] for e in events if e["kind"] == "delta"} == {"g"}
    assert [bool(r.get("stream")) for r in FakeLM.requests[before:]] == [True, False]


@pytest.mark.skipif(not __import__("dspy_bridge.sandbox", fromlist=["available"]).available(), reason="the sandbox runtime is not cached: python -m dspy_bridge.sandbox")
def test_program_of_thought_streams_its_answer_not_its_code(registry, lm_server):
    definition = {
        "inputs": {"question": "str"},
        "modules": {"pot": {"type": "ProgramOfThought", "signature": "question -> answer", "config": {"max_iters": 1}}},
        "forward": [{"call": "pot", "with": {"question": "$input.question"}, "as": "r"}, {"return": {"answer": "$r.answer"}}],
    }
    entry = define(registry, "v", "h", definition)
    before = len(FakeLM.requests)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), {"question": "What is 6 times 7?"}, stream=events.append)
    assert result["outputs"] == {"answer": answer_for("What is 6 times 7?")}
    assert "42" in json.dumps(result["trace"][0]["lm_calls"][-1]["messages"])  # the sandbox ran the code
    check_module_calls(events, result["trace"], {"pot": ("reasoning", "answer")})
    assert [bool(r.get("stream")) for r in FakeLM.requests[before:]] == [False, True]


def test_a_retriever_says_how_many_passages_it_found(registry, lm_server):
    definition = {
        "inputs": {"question": "str"},
        "modules": {"c": {"type": "ColBERTv2", "url": lm_server + "/api/search", "config": {"k": 2}}},
        "forward": [{"call": "c", "with": {"query": "$input.question"}, "as": "r"}, {"return": {"passages": "$r.passages"}}],
    }
    entry = define(registry, "v", "h", definition)
    registry.configure_lm("d", {"model": "dummy", "answers": [{"unused": "x"}]})
    events: list[dict[str, Any]] = []
    run_program(entry, registry.lm("d"), {"question": "q"}, stream=events.append)
    assert [e["event"] for e in events] == ["module_start", "retrieval_end", "module_end"]
    assert events[1] == {"kind": "status", "event": "retrieval_end", "step": "r", "module": "c", "message": "c retrieved 2 passages", "passages": 2}


def test_limits_and_cancels_come_through_the_streaming_threads(registry, lm_server, two_step_definition):
    entry = define(registry, "v", "h", two_step_definition)
    lm = local_lm(registry, lm_server)
    with pytest.raises(BridgeError) as raised:
        run_program(entry, lm, QA_INPUTS, max_lm_calls=1, stream=lambda _: None)
    assert raised.value.code == "LIMIT_EXCEEDED" and raised.value.details["limit"] == "lm_calls"
    cancel = threading.Event()

    def cancel_at_first_delta(payload: dict[str, Any]) -> None:
        if payload["kind"] == "delta":
            cancel.set()

    from dspy_bridge.errors import Cancelled

    with pytest.raises(Cancelled):
        run_program(entry, lm, QA_INPUTS, cancel=cancel, stream=cancel_at_first_delta)
    # A parallel map's elements run on anyio threads; one over the budget fails the run the same way.
    entry = define(registry, "m", "h", MAP_DEFINITION)
    with pytest.raises(BridgeError) as raised:
        run_program(entry, lm, {"questions": ["a", "b", "c"]}, max_lm_calls=2, stream=lambda _: None)
    assert raised.value.code == "LIMIT_EXCEEDED"


def test_dspy_s_litellm_path_streams_too_and_reports_the_providers_usage(registry, lm_server):
    """Models DSPy's native engine does not take go through LiteLLM, which streams on the event loop and
    asks for usage in the stream only under DSPy's track_usage (set by a streaming run)."""
    import dspy

    from dspy_bridge.lm import LMEntry

    entry = define(registry, "v", "h", QA_DEFINITION)
    lm = LMEntry(dspy.LM("openai/x", api_base=lm_server + "/v1", api_key="sk-litellm-test", cache=False, num_retries=0, engine="litellm"), "openai/x")
    before = len(FakeLM.requests)
    events: list[dict[str, Any]] = []
    result = run_program(entry, lm, QA_INPUTS, stream=events.append)
    assert FakeLM.requests[before]["stream"] is True and FakeLM.requests[before]["stream_options"] == {"include_usage": True}
    assert result["usage"] == {**USAGE, "lm_calls": 1}  # the provider's numbers, not LiteLLM's count
    check_module_calls(events, result["trace"], {"generate": ("reasoning", "answer")})
    assert len([e for e in events if e["kind"] == "delta"]) > 10


def test_spans_nest_and_count_tokens_as_without_streaming(registry, lm_server, two_step_definition, receiver):
    """The LM calls run on another thread than the request's: the run's span still parents the step spans,
    each step's span its LM call's, and the usage read from the stream reaches the LM call's span."""
    endpoint, spans = receiver
    assert otel.configure(endpoint, "w-test")
    entry = define(registry, "v", "h", two_step_definition)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), QA_INPUTS, traceparent=TRACEPARENT, stream=events.append)
    otel.shutdown()  # flushes
    assert any(e["kind"] == "delta" for e in events)
    [run] = [s for s in spans if s["name"] == "dspy.run"]
    steps = [s for s in spans if s["name"].startswith("dspy.module ")]
    calls = [s for s in spans if s["name"] == "chat openai/x"]
    assert run["parent"] == TRACEPARENT.split("-")[2]
    assert [s["attributes"]["dspy.step"] for s in steps] == [e["step"] for e in result["trace"]]
    assert all(s["parent"] == run["span_id"] for s in steps) and len(calls) == 2
    assert {c["parent"] for c in calls} == {s["span_id"] for s in steps}
    assert all(c["attributes"]["gen_ai.usage.input_tokens"] == USAGE["prompt_tokens"] and c["attributes"]["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"] for c in calls)
    assert run["attributes"]["gen_ai.usage.input_tokens"] == 2 * USAGE["prompt_tokens"]


# --- the pieces --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["plain", 'He said "hi"\n\tok \\ / é 🗼 \u2028', "", "ends with a backslash \\"])
def test_json_text_decodes_a_string_literal_cut_anywhere(value):
    """Pieces of every size: escapes and surrogate pairs cut in two wait for their end; what follows
    the closing quote is not the value's."""
    raw = ' ' + json.dumps(value) + ', "next": 1}'
    for size in (1, 2, 3, 5, 7):
        text = JsonText()
        assert "".join(text.feed(raw[i : i + size]) for i in range(0, len(raw), size)) == value


@pytest.mark.parametrize("raw", ["\n  Paris  is it \n\n", "x", " \t ", "a\n\nb  "])
def test_chat_text_gives_the_stripped_section_piece_by_piece(raw):
    for size in (1, 2, 3):
        text = ChatText()
        assert "".join(text.feed(raw[i : i + size]) for i in range(0, len(raw), size)) == raw.strip()


def test_json_text_gives_nothing_for_a_value_that_is_not_a_string():
    assert JsonText().feed(" 42, ") == ""


def test_shown_holds_back_what_may_be_the_start_of_a_secret():
    register_secret("zq-SECRET-9x8")
    assert shown("key: zq-SEC", final=False) == ("key: ", "zq-SEC")
    assert shown("key: zq-SECRET-9x8 ok", final=False) == ("key: [REDACTED] ok", "")
    assert shown("key: zq-SEC", final=True) == ("key: zq-SEC", "")  # the text ended: it was not the secret
    assert shown("a zq-SECRET-9x8zq-S", final=False) == ("a [REDACTED]", "zq-S")
    assert streaming.STREAMED_PREDICTOR["ChainOfThought"] == "predict"


def test_a_module_end_too_large_for_a_frame_goes_without_its_outputs():
    from dspy_bridge import protocol

    payload = {"kind": "status", "event": "module_end", "step": "gen", "module": "generate", "message": "done", "outputs": {"answer": "x" * protocol.MAX_FRAME_BYTES}}
    frame = protocol.stream("r1", payload)
    assert len(frame) < protocol.MAX_FRAME_BYTES
    assert json.loads(frame)["payload"] == {**payload, "outputs": {}, "outputs_truncated": True}


def test_a_definition_without_streamable_fields_streams_status_only(registry, lm_server):
    definition = {**PREDICT_FIELDS, "modules": {"write": {"type": "Predict", "signature": {"inputs": {"question": {"type": "str"}}, "outputs": {"score": {"type": "int"}}}}}, "forward": [{"call": "write", "with": {"question": "$input.question"}, "as": "w"}, {"return": {"score": "$w.score"}}]}
    entry = define(registry, "v", "h", definition)
    before = len(FakeLM.requests)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), {"question": "q"}, stream=events.append)
    assert result["outputs"] == {"score": 7}
    assert [e["event"] for e in events] == ["module_start", "module_end"]
    assert "stream" not in FakeLM.requests[before]  # nothing to listen to: DSPy is not asked to stream at all
    assert program_of(definition)["modules"]["write"]["type"] == "Predict"


def test_chunks_reach_the_tracer_on_the_lm_calls_own_thread_not_through_the_event_loop(registry, lm_server, monkeypatch):
    """DSPy's LM client sends each chunk with anyio.from_thread.run: streaming.install() has it received at
    once on the LM call's thread (no hop to the loop's thread and back per chunk), with the same deltas."""
    threads: list[str] = []
    receive = StreamingTracer.receive

    def watching(self, chunk):
        threads.append(threading.current_thread().name)
        receive(self, chunk)

    monkeypatch.setattr(StreamingTracer, "receive", watching)
    entry = define(registry, "v-inline", "h", PREDICT_FIELDS)
    events: list[dict[str, Any]] = []
    result = run_program(entry, local_lm(registry, lm_server), {"question": "Write it up."}, stream=events.append)
    assert len(threads) > 3, threads
    assert not any(name.endswith("-loop") for name in threads), set(threads)
    check_module_calls(events, result["trace"], {"write": ("title", "summary")})
