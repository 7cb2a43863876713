"""The protocol against a real worker process, over a real ZeroMQ ROUTER socket bound here.

The test plays the pool: it binds ROUTER on a short ipc:// path, starts
`python -m dspy_bridge.worker`, sends heartbeats like the pool does, and checks replies, heartbeats,
reconnects and shutdowns. An OpenAI-compatible HTTP server in this process stands in for a real LM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import zmq

from conftest import BRIDGE_DIR, QA_DEFINITION, QA_INPUTS, reply_json, serving, wire

HEARTBEAT_MS = 200
LIVENESS = 3
SLOW_S = 2.0
API_KEY = "sk-test-4f9d2c-do-not-leak"


class Pool:
    """The pool side: one ROUTER socket, one worker process."""

    def __init__(self, heartbeat_ms: int = HEARTBEAT_MS, liveness: int = LIVENESS, concurrency: int = 4) -> None:
        self.worker_id = f"w-test-{uuid.uuid4().hex[:6]}"
        self.ipc_path = f"/tmp/dspyb-{uuid.uuid4().hex[:10]}.sock"
        self.endpoint = f"ipc://{self.ipc_path}"
        assert len(self.endpoint) < 100
        self.heartbeat_s = heartbeat_ms / 1000
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, -1)
        self.router.bind(self.endpoint)
        self.beat = True  # send heartbeats to the worker, as the pool does
        self.worker_heartbeats: list[float] = []
        self.readies: list[dict[str, Any]] = []
        self.inbox: list[dict[str, Any]] = []
        self._received: list[bytes] = []  # frames of the last multipart message not yet looked at
        self.multipart_sizes: list[int] = []  # frames per message received from the worker
        self._next_beat = 0.0
        self.stderr = tempfile.NamedTemporaryFile(prefix="dspyb-worker-", suffix=".log", delete=False)
        self.cache_dir = tempfile.mkdtemp(prefix="dspyb-cache-")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DSPY_CACHEDIR": self.cache_dir}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dspy_bridge.worker", "--connect", self.endpoint, "--id", self.worker_id,
             "--concurrency", str(concurrency), "--heartbeat-ms", str(heartbeat_ms), "--liveness", str(liveness)],
            cwd=BRIDGE_DIR, stdout=subprocess.DEVNULL, stderr=self.stderr, env=env,
        )

    # --- I/O ----------------------------------------------------------------------------------------

    def send(self, message: dict[str, Any] | bytes) -> None:
        frame = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.router.send_multipart([self.worker_id.encode(), frame])

    def pump(self, timeout: float) -> dict[str, Any] | None:
        """Next message other than a heartbeat (None on timeout); heartbeats the worker meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self.beat and now >= self._next_beat:
                self.send({"v": 1, "type": "heartbeat"})
                self._next_beat = now + self.heartbeat_s
            remaining = deadline - now
            if remaining <= 0:
                return None
            wait = min(remaining, max(0.0, self._next_beat - now) if self.beat else remaining)
            if not self._received:
                if not self.router.poll(int(wait * 1000) + 1):
                    continue
                identity, *frames = self.router.recv_multipart()
                assert identity.decode() == self.worker_id
                self.multipart_sizes.append(len(frames))
                self._received.extend(frames)  # the worker batches messages, one per frame
            message = json.loads(self._received.pop(0))
            if message.get("type") == "heartbeat":
                self.worker_heartbeats.append(time.monotonic())
                continue
            if message.get("type") == "ready":
                self.readies.append(message)
            return message

    def next_message(self, timeout: float = 10) -> dict[str, Any]:
        if self.inbox:
            return self.inbox.pop(0)
        message = self.pump(timeout)
        assert message is not None, f"nothing from the worker within {timeout} s; its stderr:\n{self.log()}"
        return message

    def wait_ready(self, timeout: float = 30) -> dict[str, Any]:
        while True:
            message = self.next_message(timeout)
            if message["type"] == "ready":
                return message

    def reply(self, req_id: str, timeout: float = 10) -> dict[str, Any]:
        for i, message in enumerate(self.inbox):
            if message.get("id") == req_id:
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pump(deadline - time.monotonic())
            if message is None:
                break
            if message.get("type") == "reply" and message.get("id") == req_id:
                return message
            self.inbox.append(message)
        raise AssertionError(f"no reply to {req_id} within {timeout} s; worker stderr:\n{self.log()}")

    def request(self, command: str, payload: Any = None, req_id: str | None = None, timeout: float = 10, **extra: Any) -> dict[str, Any]:
        req_id = req_id or f"r-{uuid.uuid4().hex[:8]}"
        self.send({"v": 1, "type": "request", "id": req_id, "command": command, "deadline_ms": 30000, "payload": payload if payload is not None else {}, **extra})
        return self.reply(req_id, timeout)

    def result(self, command: str, payload: Any = None, **kw: Any) -> Any:
        reply = self.request(command, payload, **kw)
        assert reply["ok"], reply
        return reply["result"]

    def error(self, command: str, payload: Any = None, **kw: Any) -> dict[str, Any]:
        reply = self.request(command, payload, **kw)
        assert reply["ok"] is False, reply
        return reply["error"]

    def assert_alive(self) -> None:
        """The worker still answers (and answered nothing else in between)."""
        assert not self.inbox, self.inbox
        echo = uuid.uuid4().hex
        reply = self.request("ping", {"echo": echo}, req_id=f"ping-{echo[:6]}")
        assert reply["ok"] and reply["result"]["echo"] == echo
        assert not self.inbox, f"unexpected messages before the pong: {self.inbox}"

    def log(self) -> str:
        return Path(self.stderr.name).read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.router.close(linger=0)
        self.ctx.term()
        self.stderr.close()
        for path in (self.ipc_path, self.stderr.name):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.cache_dir, ignore_errors=True)


class FakeOpenAI(BaseHTTPRequestHandler):
    """OpenAI chat completions in DSPy's ChatAdapter format; a question containing SLOW waits first."""

    prompts: list[str] = []  # every request's messages, joined, in arrival order

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        text = "\n".join(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in body["messages"])
        FakeOpenAI.prompts.append(text)
        if "SLOW" in text:
            time.sleep(SLOW_S)
        content = "[[ ## reasoning ## ]]\nThe passage names it.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
        reply_json(self, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body.get("model", "x"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        })

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def lm_server():
    with serving(FakeOpenAI) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def pool():
    p = Pool()
    try:
        p.wait_ready()
        yield p
    finally:
        p.close()


@pytest.fixture
def fresh_pool():
    p = Pool()
    try:
        p.wait_ready()
        yield p
    finally:
        p.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_lm(api_base: str) -> dict[str, Any]:
    # The fake servers listen on loopback, which the worker's egress guard refuses unless allowed.
    return {"model": "openai/x", "api_base": api_base, "api_key": API_KEY, "num_retries": 0, "cache": False, "egress_allow": ["127.0.0.0/8"]}


def setup_qa(p: Pool, version: str, lm_key: str, config: dict[str, Any]) -> None:
    assert p.result("configure_lm", {"lm_key": lm_key, "config": config}) == {"lm_key": lm_key}
    defined = p.result("define_program", {"version_id": version, "hash": "h", **wire(QA_DEFINITION), "compiled_state": None})
    assert defined == {"version_id": version, "hash": "h", "predictors": ["generate.predict"]}


def run_payload(version: str, lm_key: str, question: str = QA_INPUTS["question"]) -> dict[str, Any]:
    return {"version_id": version, "hash": "h", "lm_key": lm_key, "inputs": {**QA_INPUTS, "question": question}}


# --- lifecycle and commands ------------------------------------------------------------------------


def test_ready_on_connect_and_ping(pool):
    ready = pool.readies[0]
    assert ready == {"v": 1, "type": "ready", "worker": pool.worker_id, "pid": pool.proc.pid, "concurrency": 4, "dspy": "3.4.1", "protocol": 1}
    reply = pool.request("ping", {"echo": {"n": [1, "two"]}}, req_id="ping-1")
    assert reply["v"] == 1 and reply["type"] == "reply" and reply["id"] == "ping-1" and reply["ok"] is True
    assert reply["result"] == {"pong": True, "worker": pool.worker_id, "pid": pool.proc.pid, "echo": {"n": [1, "two"]}}
    assert reply["elapsed_ms"] >= 0


def test_a_multipart_message_carries_one_message_per_frame_and_replies_come_batched(pool):
    # Framing (PROTOCOL.md): each non-empty frame is one message, answered as if it came alone; what
    # the worker answers in one pass of its loop goes back as one multipart message.
    pings = [json.dumps({"v": 1, "type": "request", "id": f"burst-{i}", "command": "ping", "deadline_ms": 1000, "payload": {"echo": i}}).encode() for i in range(200)]
    broken = b'{"v":1,"type":"request","id":"burst-bad","command":"ping"'
    pool.router.send_multipart([pool.worker_id.encode(), b"", *pings[:100], broken, *pings[100:]])
    sizes_before = len(pool.multipart_sizes)
    for i in range(200):
        reply = pool.reply(f"burst-{i}")
        assert reply["ok"] is True and reply["result"]["echo"] == i
    assert pool.reply("burst-bad")["error"]["code"] == "BAD_MESSAGE"
    sizes = pool.multipart_sizes[sizes_before:]
    assert max(sizes) == 32 and len(sizes) < 201, sizes
    assert pool.result("ping", {"echo": "after"})["echo"] == "after"  # and it keeps serving


def test_unknown_program_then_define_then_run(pool):
    assert pool.result("configure_lm", {"lm_key": "dummy:qa", "config": {"model": "dummy", "answers": {"capital": {"reasoning": "Named.", "answer": "Paris"}}}})
    error = pool.error("run", run_payload("v-qa", "dummy:qa"))
    assert {k: error[k] for k in ("code", "layer", "retriable")} == {"code": "UNKNOWN_PROGRAM", "layer": "protocol", "retriable": True}
    pool.result("define_program", {"version_id": "v-qa", "hash": "h", **wire(QA_DEFINITION)})
    result = pool.result("run", run_payload("v-qa", "dummy:qa"))
    assert result["outputs"] == {"answer": "Paris"}
    assert result["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 1}
    [entry] = result["trace"]
    assert (entry["step"], entry["module"], entry["type"]) == ("gen", "generate", "ChainOfThought")
    assert "Answer the question from the context." in json.dumps(entry["lm_calls"][0]["messages"])
    error = pool.error("run", run_payload("v-qa", "no-such-lm"))
    assert (error["code"], error["retriable"]) == ("UNKNOWN_LM", True)


def test_invalid_definition_and_inputs(pool):
    # The worker checks only the normalized shape (program.schema.json) and the module types it can build.
    bad = wire(QA_DEFINITION)
    del bad["program"]["forward"][0]["as"]
    error = pool.error("define_program", {"version_id": "v-bad", "hash": "h", **bad})
    assert (error["code"], error["layer"], error["retriable"]) == ("INVALID_DEFINITION", "validation", False)
    assert error["details"]["issues"][0]["path"] == "definition.forward[0]"
    assert error["message"].startswith("definition.forward[0]: not a normalized program")
    bad = wire(QA_DEFINITION)
    bad["program"]["modules"]["generate"]["type"] = "Telepathy"
    error = pool.error("define_program", {"version_id": "v-bad", "hash": "h", **bad})
    assert error["code"] == "INVALID_DEFINITION"
    [issue] = error["details"]["issues"]
    assert issue["path"] == "definition.modules.generate.type"
    assert issue["reason"].startswith("unknown module type 'Telepathy' (this worker builds Predict, ChainOfThought, MultiChainComparison")
    pool.result("configure_lm", {"lm_key": "dummy:any", "config": {"model": "dummy", "answers": []}})
    pool.result("define_program", {"version_id": "v-in", "hash": "h", **wire(QA_DEFINITION)})
    error = pool.error("run", {"version_id": "v-in", "hash": "h", "lm_key": "dummy:any", "inputs": {"question": 3}})
    assert error["code"] == "INVALID_INPUTS" and error["details"]["issues"][0] == {"path": "inputs.context", "reason": "is required"}


def test_dump_state_and_load_state(pool):
    pool.result("define_program", {"version_id": "v-st", "hash": "h", **wire(QA_DEFINITION)})
    state = pool.result("dump_state", {"version_id": "v-st", "hash": "h"})["state"]
    assert list(state) == ["generate.predict"] and state["generate.predict"]["demos"] == []
    state["generate.predict"]["demos"] = [{"context": ["Rome is in Italy."], "question": "DEMO-QUESTION capital of Italy?", "reasoning": "Said.", "answer": "Rome"}]
    assert pool.result("load_state", {"version_id": "v-st", "hash": "h", "state": state}) == {"version_id": "v-st", "hash": "h"}
    assert pool.result("dump_state", {"version_id": "v-st", "hash": "h"})["state"] == state
    pool.result("configure_lm", {"lm_key": "dummy:st", "config": {"model": "dummy", "answers": {"capital": {"reasoning": "r", "answer": "Paris"}}}})
    result = pool.result("run", {"version_id": "v-st", "hash": "h", "lm_key": "dummy:st", "inputs": QA_INPUTS})
    assert "DEMO-QUESTION" in json.dumps(result["trace"][0]["lm_calls"][0]["messages"])
    error = pool.error("load_state", {"version_id": "v-st", "hash": "h", "state": {"generate": {}}})
    assert (error["code"], error["layer"]) == ("INVALID_STATE", "validation")
    assert error["details"]["issues"][0]["path"] == "state.generate"
    error = pool.error("define_program", {"version_id": "v-st2", "hash": "h", **wire(QA_DEFINITION), "compiled_state": {"x": 1}})
    assert error["code"] == "INVALID_STATE" and error["details"]["issues"][0]["path"] == "compiled_state.x"


# --- malformed input: a structured error when an id can be read, and the worker keeps serving ------


@pytest.mark.parametrize(
    "frame",
    [b"this is not json", b"\xff\xfe\xfd", b"[1, 2, 3]", b'"a string"', b"null",
     json.dumps({"v": 1, "type": "request", "command": "ping"}).encode(),  # no id
     json.dumps({"v": 1, "type": "request", "id": 17, "command": "ping"}).encode(),  # id not a string
     json.dumps({"v": 1, "type": "reply", "ok": True}).encode()],
    ids=["not-json", "not-utf8", "array", "string", "null", "missing-id", "numeric-id", "unexpected-type-without-id"],
)
def test_unanswerable_messages_are_ignored(pool, frame):
    pool.send(frame)
    pool.assert_alive()


@pytest.mark.parametrize(
    "message,code",
    [
        ({"v": 2, "type": "request", "id": "x", "command": "ping"}, "UNSUPPORTED_VERSION"),
        ({"type": "request", "id": "x", "command": "ping"}, "UNSUPPORTED_VERSION"),
        ({"v": True, "type": "request", "id": "x", "command": "ping"}, "UNSUPPORTED_VERSION"),
        ({"v": 1, "type": "request", "id": "x", "command": "explode"}, "UNKNOWN_COMMAND"),
        ({"v": 1, "type": "request", "id": "x"}, "BAD_MESSAGE"),
        ({"v": 1, "type": "request", "id": "x", "command": "run", "payload": [1]}, "BAD_MESSAGE"),
        ({"v": 1, "type": "request", "id": "x", "command": "run", "payload": {}}, "BAD_MESSAGE"),
        ({"v": 1, "type": "request", "id": "x", "command": "ping", "deadline_ms": "soon"}, "BAD_MESSAGE"),
        ({"v": 1, "type": "request", "id": "x", "command": "configure_lm", "payload": {"lm_key": "k", "config": {"model": "dummy"}}}, "BAD_MESSAGE"),
        ({"v": 1, "type": "request", "id": "x", "command": "define_program", "payload": {"version_id": "v", "hash": "h"}}, "BAD_MESSAGE"),
        ({"v": 1, "type": "bogus", "id": "x"}, "BAD_MESSAGE"),
    ],
)
def test_malformed_requests_get_structured_errors(pool, message, code):
    message = {**message, "id": f"bad-{uuid.uuid4().hex[:6]}"}
    pool.send(message)
    reply = pool.reply(message["id"])
    assert reply["ok"] is False and reply["error"]["code"] == code and reply["error"]["layer"] == "protocol"
    assert reply["error"]["retriable"] is False and isinstance(reply["error"]["message"], str)
    pool.assert_alive()


def test_truncated_json_is_answered_when_its_id_can_be_read(pool):
    pool.send(b'{"v":1,"type":"request","id":"trunc-1","command":"ping","payl')
    reply = pool.reply("trunc-1")
    assert reply["error"]["code"] == "BAD_MESSAGE"
    pool.assert_alive()


def test_oversized_frame_is_payload_too_large(pool):
    frame = b'{"v":1,"type":"request","id":"huge-1","command":"run","payload":{"inputs":"' + b"x" * (8 * 1024 * 1024 + 10) + b'"}}'
    pool.send(frame)
    reply = pool.reply("huge-1")
    assert reply["ok"] is False
    assert {k: reply["error"][k] for k in ("code", "layer", "retriable")} == {"code": "PAYLOAD_TOO_LARGE", "layer": "protocol", "retriable": False}
    pool.assert_alive()


# --- real LM calls over HTTP ---------------------------------------------------------------------


def test_lm_connection_refused_is_lm_unavailable_quickly(pool):
    pool.result("define_program", {"version_id": "v-down", "hash": "h", **wire(QA_DEFINITION)})
    pool.result("configure_lm", {"lm_key": "down", "config": http_lm(f"http://127.0.0.1:{closed_port()}/v1")})
    started = time.monotonic()
    reply = pool.request("run", run_payload("v-down", "down"))
    assert time.monotonic() - started < 5
    error = reply["error"]
    assert {k: error[k] for k in ("code", "layer", "retriable")} == {"code": "LM_UNAVAILABLE", "layer": "lm", "retriable": True}
    assert len(error["details"]["traceback"]) <= 4000 and "Traceback" not in error["message"]
    assert API_KEY not in json.dumps(reply)


def test_a_worker_process_refuses_lm_requests_to_loopback_unless_its_config_allows_them(pool, lm_server):
    guarded = {**http_lm(lm_server), "egress_allow": []}
    pool.result("define_program", {"version_id": "v-egress", "hash": "h", **wire(QA_DEFINITION)})
    pool.result("configure_lm", {"lm_key": "egress", "config": guarded})
    error = pool.request("run", run_payload("v-egress", "egress"))["error"]
    assert {k: error[k] for k in ("code", "layer", "retriable")} == {"code": "LM_EGRESS_REFUSED", "layer": "lm", "retriable": False}
    assert "127.0.0.1" in error["message"] and "LM_EGRESS_ALLOW" in error["message"]
    pool.result("configure_lm", {"lm_key": "egress-ok", "config": http_lm(lm_server)})
    assert pool.request("run", run_payload("v-egress", "egress-ok"))["ok"]


def test_heartbeats_and_pings_flow_while_a_slow_lm_call_runs(pool, lm_server):
    setup_qa(pool, "v-http", "http", http_lm(lm_server))
    before = len(pool.worker_heartbeats)
    started = time.monotonic()
    pool.send({"v": 1, "type": "request", "id": "slow-1", "command": "run", "deadline_ms": 30000, "payload": run_payload("v-http", "http", "SLOW: capital?")})
    pool.send({"v": 1, "type": "request", "id": "slow-2", "command": "run", "deadline_ms": 30000, "payload": run_payload("v-http", "http", "SLOW: again?")})
    time.sleep(0.3)
    ping_started = time.monotonic()
    assert pool.request("ping", req_id="ping-during-run")["ok"]
    assert time.monotonic() - ping_started < 1.0  # answered by the I/O thread while the LM calls wait
    first, second = pool.reply("slow-1"), pool.reply("slow-2")
    elapsed = time.monotonic() - started
    assert first["ok"] and second["ok"], (first, second)
    assert elapsed < 2 * SLOW_S + 1  # the two runs overlapped on the worker's threads
    beats = [t for t in pool.worker_heartbeats[before:] if t <= started + elapsed]
    assert len(beats) >= int(SLOW_S / (HEARTBEAT_MS / 1000)) - 2
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert max(gaps) < LIVENESS * HEARTBEAT_MS / 1000
    result = first["result"]
    assert result["outputs"] == {"answer": "Paris"}
    [entry] = result["trace"]
    [call] = entry["lm_calls"]
    assert call["model"] == "openai/x" and call["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    assert call["latency_ms"] >= SLOW_S * 1000 * 0.9 and "Paris" in call["response"]
    assert result["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14, "lm_calls": 1}
    assert API_KEY not in json.dumps(first)


def test_cancel_stops_a_run_before_its_next_lm_call(pool, lm_server, two_step_definition):
    pool.result("configure_lm", {"lm_key": "http-2", "config": http_lm(lm_server)})
    pool.result("define_program", {"version_id": "v-two", "hash": "h", **wire(two_step_definition)})
    question = f"SLOW: capital? {uuid.uuid4().hex}"
    payload = {"version_id": "v-two", "hash": "h", "lm_key": "http-2", "inputs": {**QA_INPUTS, "question": question}}
    prompts_before = len(FakeOpenAI.prompts)
    pool.send({"v": 1, "type": "request", "id": "run-cancel", "command": "run", "deadline_ms": 30000, "payload": payload})
    deadline = time.monotonic() + 10
    while len(FakeOpenAI.prompts) == prompts_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.result("cancel", {"id": "run-cancel"}) == {"id": "run-cancel", "cancelled": True}  # while the first LM call waits
    reply = pool.reply("run-cancel", timeout=SLOW_S + 10)
    assert reply["ok"] is False and {k: reply["error"][k] for k in ("code", "layer", "retriable")} == {"code": "CANCELLED", "layer": "worker", "retriable": False}
    # The first step's call ran to its end; the second step's was never made.
    time.sleep(0.3)
    sent = FakeOpenAI.prompts[prompts_before:]
    assert len(sent) == 1 and question in sent[0], sent
    # Control: the same run, not cancelled, goes on to the second step's call.
    prompts_before = len(FakeOpenAI.prompts)
    pool.request("run", {**payload, "inputs": {**QA_INPUTS, "question": "fast"}}, timeout=20)
    sent = FakeOpenAI.prompts[prompts_before:]
    assert len(sent) >= 2 and "`summary`" in sent[1], sent
    pool.assert_alive()


# --- shutdown, signals, reconnects -----------------------------------------------------------------


def test_shutdown_drains_running_requests_and_exits_0(fresh_pool, lm_server):
    p = fresh_pool
    setup_qa(p, "v-http", "http", http_lm(lm_server))
    p.send({"v": 1, "type": "request", "id": "slow", "command": "run", "deadline_ms": 30000, "payload": run_payload("v-http", "http", "SLOW?")})
    time.sleep(0.3)
    assert p.result("shutdown", req_id="bye") == {"draining": 1}
    assert p.result("ping")["pong"] is True  # still answers pings while draining
    refused = p.error("define_program", {"version_id": "v2", "hash": "h", **wire(QA_DEFINITION)})
    assert (refused["code"], refused["layer"], refused["retriable"]) == ("WORKER_SHUTTING_DOWN", "worker", True)
    assert p.reply("slow")["ok"] is True
    assert p.proc.wait(10) == 0


def test_sigterm_drains_and_exits_0(fresh_pool, lm_server):
    p = fresh_pool
    setup_qa(p, "v-http", "http", http_lm(lm_server))
    p.send({"v": 1, "type": "request", "id": "slow", "command": "run", "deadline_ms": 30000, "payload": run_payload("v-http", "http", "SLOW?")})
    time.sleep(0.3)
    p.proc.send_signal(signal.SIGTERM)
    assert p.reply("slow")["ok"] is True
    assert p.proc.wait(10) == 0


def test_a_silent_pool_makes_the_worker_reconnect_and_say_ready_again(fresh_pool):
    p = fresh_pool
    p.result("configure_lm", {"lm_key": "d", "config": {"model": "dummy", "answers": {"capital": {"reasoning": "r", "answer": "Paris"}}}})
    p.result("define_program", {"version_id": "v", "hash": "h", **wire(QA_DEFINITION)})
    p.beat = False  # the pool goes silent
    started = time.monotonic()
    ready = p.wait_ready(timeout=6)
    waited = time.monotonic() - started
    # liveness × heartbeat of silence, then the first backoff (1 s), then `ready` again.
    assert LIVENESS * HEARTBEAT_MS / 1000 + 0.9 <= waited < 4, waited
    assert ready["worker"] == p.worker_id and ready["pid"] == p.proc.pid
    p.beat = True
    p.assert_alive()
    assert p.pump(1.0) is None  # heard again: no further reconnect
    # The process did not restart: it still holds what it was given (the pool re-sends it anyway).
    assert p.result("run", {"version_id": "v", "hash": "h", "lm_key": "d", "inputs": QA_INPUTS})["outputs"] == {"answer": "Paris"}


def test_logs_are_json_lines_naming_the_worker(pool):
    # Whatever the worker has logged so far (at least its "ready" line): one JSON object per line,
    # with the server's level names, a timestamp and the worker's id.
    lines = [line for line in pool.log().splitlines() if line.strip()]
    assert lines, "the worker logged nothing"
    for line in lines:
        entry = json.loads(line)
        assert entry["level"] in ("debug", "info", "warn", "error", "fatal") and entry["time"].endswith("Z")
        assert entry["worker"] and isinstance(entry["msg"], str)
    assert any("ready" in json.loads(line)["msg"] for line in lines)
