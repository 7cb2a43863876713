"""An event loop that outlives the run: where a streaming run's program runs (streaming.call).

DSPy sends stream chunks with `anyio.from_thread.run`, which works only on an anyio worker thread, so a
streaming run's program runs on one, below an event loop. That loop was made per run (`anyio.run`): a new
loop, its self-pipe, and a new worker thread each time, since a loop's idle worker threads go with it. In
a profile of the worker under load (1 ms OpenAI-compatible LM), that was ~0.2 ms of thread and loop set-up
per run, and a new thread for every run. Here each run thread of the worker keeps one loop (on a daemon
thread of its own, behind anyio's BlockingPortal) for as long as the process lives, and that loop keeps
its worker threads, so a run starts on a thread already there.

A run's program runs in a copy of the calling thread's context (the run's LM, callbacks, RunContext, span,
log context), as `anyio.run` gave it. What it raises comes back as a value and is raised on the calling
thread: a BaseException (Cancelled, LimitExceeded) raised inside the portal's task would end the portal.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

T = TypeVar("T")

_local = threading.local()


def run_on_worker_thread(fn: Callable[[], T]) -> T:
    """fn() on a worker thread of this thread's loop, in a copy of this thread's context."""
    context = contextvars.copy_context()
    ok, value = _portal().call(_run, context, fn)
    if not ok:
        raise value
    return value


async def _run(context: contextvars.Context, fn: Callable[[], Any]) -> tuple[bool, Any]:
    def guarded() -> tuple[bool, Any]:
        try:
            return True, context.run(fn)
        except BaseException as exc:  # noqa: BLE001 (re-raised by run_on_worker_thread, on the caller's thread)
            return False, exc

    return await anyio.to_thread.run_sync(guarded)


def _portal() -> BlockingPortal:
    portal: BlockingPortal | None = getattr(_local, "portal", None)
    # A loop that ended (it should not: nothing raises into it) is replaced, rather than failing every
    # later run on this thread with "portal is not running".
    if portal is None or not _local.thread.is_alive():
        portal, _local.thread = _start_loop(f"{threading.current_thread().name}-loop")
        _local.portal = portal
    return portal


def _start_loop(name: str) -> tuple[BlockingPortal, threading.Thread]:
    """A loop on a daemon thread (the process never waits for it at exit), and its portal."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with BlockingPortal() as portal:
            box["portal"] = portal
            started.set()
            await portal.sleep_until_stopped()

    def loop() -> None:
        try:
            anyio.run(serve)
        except BaseException as exc:  # noqa: BLE001 (the caller waiting for the portal raises it)
            box["error"] = exc
        finally:
            started.set()  # also when the loop could not start: the caller must not wait forever

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    started.wait()
    if "portal" not in box:
        raise RuntimeError(f"the streaming event loop did not start: {box.get('error')!r}")
    return box["portal"], thread
