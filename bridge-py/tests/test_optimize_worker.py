"""evaluate / compile / cancel / export_state / import_state through a real worker process: progress
messages before the reply, in order; cancellation; a compiled version rehydrated in a fresh worker."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import wire

from test_optimize import ANSWERS, EXACT, EXAMPLES, NO_USAGE, QA
from test_worker import Pool


# Two workers, started together: the test pool heartbeats a worker only while it waits on that one,
# so each gets a 10 s silence allowance (1000 ms x 10) instead of test_worker's 0.6 s: a test that
# works with one for a few seconds on a busy machine must not make the other reconnect (it drops
# what it was sending when it does).
@pytest.fixture(scope="module")
def pools():
    p, fresh = Pool(heartbeat_ms=1000, concurrency=2, liveness=10), Pool(heartbeat_ms=1000, liveness=10)
    try:
        p.wait_ready()
        fresh.wait_ready()
        for q in (p, fresh):
            q.result("configure_lm", {"lm_key": "lm", "config": {"model": "dummy", "answers": ANSWERS}})
        p.result("define_program", {"version_id": "v1", "hash": "h1", **wire(QA)})
        yield p, fresh
    finally:
        p.close()
        fresh.close()


@pytest.fixture
def pool(pools):
    return pools[0]


def job(p: Pool, command: str, payload: dict, req_id: str | None = None, timeout: float = 30) -> tuple[list[dict], dict]:
    """Sends a request; returns its progress messages and its reply."""
    req_id = req_id or f"r-{uuid.uuid4().hex[:8]}"
    p.send({"v": 1, "type": "request", "id": req_id, "command": command, "payload": payload})
    return collect(p, req_id, timeout)


def collect(p: Pool, req_id: str, timeout: float = 30) -> tuple[list[dict], dict]:
    """Progress and reply of `req_id`, those already in the inbox first; others' messages stay there."""
    mine = [m for m in p.inbox if m.get("id") == req_id]
    p.inbox[:] = [m for m in p.inbox if m.get("id") != req_id]
    progress = []
    deadline = time.monotonic() + timeout
    while True:
        message = mine.pop(0) if mine else p.pump(max(0.0, deadline - time.monotonic()))
        assert message is not None, f"no reply to {req_id} within {timeout} s; worker stderr:\n{p.log()}"
        if message.get("id") != req_id:
            p.inbox.append(message)
            continue
        if message["type"] == "progress":
            progress.append(message["payload"])
            continue
        assert message["type"] == "reply"
        return progress, message


def test_evaluate_streams_progress_in_order_then_replies(pool):
    payload = {"version_id": "v1", "hash": "h1", "lm_key": "lm", "examples": EXAMPLES * 3, "metric": EXACT}
    progress, reply = job(pool, "evaluate", payload)
    assert reply["ok"], reply
    assert reply["result"]["score"] == 100.0 and len(reply["result"]["results"]) == 12
    assert progress[0] == {"phase": "evaluate", "done": 0, "total": 12, "trials": 0, "best_score": None, "metric_calls": 0, "usage": NO_USAGE}
    assert progress[-1]["phase"] == "done" and progress[-1]["done"] == 12
    dones = [e["done"] for e in progress]
    assert dones == sorted(dones)


def test_compile_then_a_fresh_worker_runs_the_compiled_version_with_its_demos(pools):
    pool, fresh = pools
    payload = {
        "version_id": "v1", "hash": "h1", "lm_key": "lm", "optimizer": "BOOTSTRAP_FEW_SHOT",
        "config": {"max_bootstrapped_demos": 2, "max_labeled_demos": 0}, "trainset": EXAMPLES, "devset": EXAMPLES[:2], "metric": EXACT,
    }
    progress, reply = job(pool, "compile", payload)
    assert reply["ok"], reply
    result = reply["result"]
    assert result["score"] == 100.0 and result["scored_on"] == "devset"
    phases = [e["phase"] for e in progress]
    assert phases[0] == "compile" and phases[-1] == "done"
    assert phases == sorted(phases, key=["compile", "evaluate", "done"].index)
    demos = result["compiled_state"]["answer"]["demos"]
    assert [d["question"] for d in demos] == ["What is 1+1?", "What is 2+2?"]

    # export_state of the original version: DSPy's save() of the uncompiled program
    exported = pool.result("export_state", {"version_id": "v1", "hash": "h1"})["dspy_state"]
    assert exported["answer"]["demos"] == [] and "metadata" in exported
    # import_state checks the compiled file against the definition
    imported = pool.result("import_state", {**wire(QA), "state": result["dspy_state"]})
    assert imported["compiled_state"] == result["compiled_state"]
    tampered = {**result["dspy_state"], "answer": {**result["dspy_state"]["answer"], "demos": ["What is 1+1? 2"]}}
    error = pool.error("import_state", {**wire(QA), "state": tampered})
    assert error["code"] == "INVALID_STATE" and error["details"]["issues"][0]["path"] == "state.answer.demos[0]"

    # a worker that has seen neither the program nor the compile: definition + compiled_state only
    assert fresh.error("run", {"version_id": "v2", "hash": "h2", "lm_key": "lm", "inputs": {"question": "x"}})["code"] == "UNKNOWN_PROGRAM"
    fresh.result("define_program", {"version_id": "v2", "hash": "h2", **wire(QA), "compiled_state": result["compiled_state"]})
    run = fresh.result("run", {"version_id": "v2", "hash": "h2", "lm_key": "lm", "inputs": {"question": "What is 3+3?"}})
    assert run["outputs"] == {"answer": "6"}
    messages = run["trace"][0]["lm_calls"][0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "What is 1+1?" in messages[1]["content"] and "What is 2+2?" in messages[3]["content"]
    # the same prompt the compiling worker builds for that version
    pool.result("define_program", {"version_id": "v2", "hash": "h2", **wire(QA), "compiled_state": result["compiled_state"]})
    same = pool.result("run", {"version_id": "v2", "hash": "h2", "lm_key": "lm", "inputs": {"question": "What is 3+3?"}})
    assert same["trace"][0]["lm_calls"][0]["messages"] == messages


def test_cancel_a_running_evaluation(pool):
    req_id = f"r-{uuid.uuid4().hex[:8]}"
    payload = {"version_id": "v1", "hash": "h1", "lm_key": "lm", "examples": EXAMPLES * 2500, "metric": EXACT}
    pool.send({"v": 1, "type": "request", "id": req_id, "command": "evaluate", "payload": payload})
    first = pool.next_message(30)
    assert first["type"] == "progress" and first["id"] == req_id and first["payload"]["phase"] == "evaluate"
    assert pool.result("cancel", {"id": req_id}) == {"id": req_id, "cancelled": True}
    progress, reply = collect(pool, req_id)
    assert reply["ok"] is False and reply["error"]["code"] == "CANCELLED" and reply["error"]["layer"] == "worker"
    assert all(e["done"] < 10_000 for e in progress)
    # unknown or finished ids: nothing to cancel
    assert pool.result("cancel", {"id": req_id}) == {"id": req_id, "cancelled": False}
    pool.assert_alive()


def test_failures_before_the_job_runs(pool):
    base = {"version_id": "v1", "hash": "h1", "lm_key": "lm", "trainset": EXAMPLES, "metric": EXACT}
    progress, reply = job(pool, "compile", {**base, "optimizer": "BOOTSTRAP_FEW_SHOT", "metric": {**EXACT, "output": "nope"}})
    assert progress == [] and reply["error"]["code"] == "INVALID_METRIC" and reply["error"]["details"]["issues"][0]["path"] == "metric.output"
    progress, reply = job(pool, "compile", {**base, "optimizer": "COPRO", "config": {"depth": 0}})
    assert progress == [] and reply["error"]["code"] == "INVALID_CONFIG" and reply["error"]["message"].startswith("config.depth: ")
    progress, reply = job(pool, "compile", {**base, "optimizer": "GEPA", "config": {"max_metric_calls": 5}, "reflection_lm_key": "missing"})
    assert progress == [] and reply["error"]["code"] == "UNKNOWN_LM"
