"""stream_loop: runs on a worker thread of a loop that outlives them, in the caller's context."""

from __future__ import annotations

import contextvars
from typing import Callable
import threading

import anyio
import pytest

from dspy_bridge import stream_loop
from dspy_bridge.errors import Cancelled

REQUEST = contextvars.ContextVar("REQUEST", default="none")


def test_runs_in_a_copy_of_the_callers_context_on_an_anyio_worker_thread() -> None:
    token = REQUEST.set("run-1")
    try:
        def body() -> tuple[str, bool, str]:
            seen = REQUEST.get()
            REQUEST.set("changed inside")  # a copy: the caller's value stays
            # DSPy sends stream chunks this way: it works only on an anyio worker thread.
            sent = anyio.from_thread.run(_echo, "chunk")
            return seen, threading.current_thread() is threading.main_thread(), sent

        seen, on_main, sent = stream_loop.run_on_worker_thread(body)
        assert (seen, on_main, sent) == ("run-1", False, "chunk")
        assert REQUEST.get() == "run-1"
    finally:
        REQUEST.reset(token)


async def _echo(value: str) -> str:
    return value


def test_base_exceptions_are_raised_to_the_caller_and_the_loop_lives_on() -> None:
    def cancelled() -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        stream_loop.run_on_worker_thread(cancelled)
    with pytest.raises(ValueError, match="bad value"):
        stream_loop.run_on_worker_thread(lambda: int("bad value"))
    assert stream_loop.run_on_worker_thread(lambda: 42) == 42


def test_runs_reuse_the_loop_and_its_threads_instead_of_making_new_ones() -> None:
    stream_loop.run_on_worker_thread(lambda: None)  # this thread's loop exists from here on
    before = threading.active_count()
    names = {stream_loop.run_on_worker_thread(lambda: threading.current_thread().ident) for _ in range(50)}
    assert len(names) == 1, f"50 sequential runs used {len(names)} threads"
    assert threading.active_count() == before


def test_each_calling_thread_has_a_loop_of_its_own() -> None:
    portals: list[int] = []

    def caller() -> None:
        assert stream_loop.run_on_worker_thread(lambda: 7) == 7
        portals.append(id(stream_loop._portal()))

    threads = [threading.Thread(target=caller, name=f"run-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stream_loop.run_on_worker_thread(lambda: None)
    assert len(set(portals + [id(stream_loop._portal())])) == 3


def test_a_loop_that_cannot_start_is_an_error_not_a_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __init__(self) -> None:
            raise OSError("no self-pipe")

    monkeypatch.setattr(stream_loop, "BlockingPortal", Broken)
    with pytest.raises(RuntimeError, match="did not start.*no self-pipe"):
        stream_loop._start_loop("broken-loop")


def test_a_loop_that_ended_is_replaced_for_the_next_run() -> None:
    def ended_loop() -> None:
        assert stream_loop.run_on_worker_thread(lambda: 1) == 1
        portal = stream_loop._portal()
        loop_thread = next(t for t in threading.enumerate() if t.name == "run-ended-loop")
        portal.call(portal.stop)  # as if the loop had died
        loop_thread.join(timeout=5)
        assert not loop_thread.is_alive()
        assert stream_loop.run_on_worker_thread(lambda: 2) == 2
        assert stream_loop._portal() is not portal

    caller = threading.Thread(target=ended_loop, name="run-ended")
    errors: list[BaseException] = []
    caller.run = lambda: _capture(ended_loop, errors)  # type: ignore[method-assign]
    caller.start()
    caller.join()
    assert errors == []


def _capture(fn: Callable[[], None], errors: list[BaseException]) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 (reported by the test's own thread)
        errors.append(exc)
