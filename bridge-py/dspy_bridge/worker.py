"""The worker process: `python -m dspy_bridge.worker --connect <endpoint> --id <worker-id> ...`.

Threads: the main thread owns the ZeroMQ socket and does only I/O and heartbeats; requests run on
`concurrency` threads that take them from a queue. A finished request puts its encoded reply on a
queue and writes one byte to a pipe the main thread polls together with the socket, so the reply
goes out at once while the socket stays with the thread that owns it. What the main thread sends
in one pass of its loop goes out as one multipart message (see `_flush_outbox`). Paranoid Pirate:
a pool silent for liveness × heartbeat means close, wait (1 s doubling to 32 s), reconnect and say
`ready` again.
"""

from __future__ import annotations

import os

# Without this, litellm and DSPy fetch a model price list from the internet on first use (several
# seconds, on a request's thread); the bundled copy is enough. Set it to "False" to fetch.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Optimizers draw tqdm progress bars on stderr (the pool's log); progress goes out as messages instead.
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import threading  # noqa: E402
from typing import Any, Callable  # noqa: E402

import dspy  # noqa: E402
import zmq  # noqa: E402

from . import answers, corpora, corpus_commands, egress, otel, protocol  # noqa: E402
from .errors import BridgeError, Cancelled, bad_message, cancelled_error, internal, register_secret  # noqa: E402
from .optimize import compile_program, evaluate_program, saved_state  # noqa: E402
from .registry import Registry  # noqa: E402
from .runner import run_program  # noqa: E402
from .lm_gate import LmGate, parse_limited_lms  # noqa: E402
from .jsonlog import LOG_CONTEXT, JsonFormatter, request_context  # noqa: E402
from .state_io import import_state  # noqa: E402
from .mcp_tool import list_tools as list_mcp_tools  # noqa: E402
from .run_context import RUN_CONTEXT, RunContext  # noqa: E402

log = logging.getLogger("dspy_bridge.worker")

BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 32.0
# Hard cap on what ZeroMQ accepts at all (it drops the connection beyond it); frames between the
# protocol limit and this get a PAYLOAD_TOO_LARGE reply instead.
HARD_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
FINAL_LINGER_MS = 2000
# Plain ints: pyzmq's enum flags cost a Python-level Flag.__and__ per message.
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
# Replies gathered while a burst of requests is read go out together once this many wait (or the
# burst ends): one multipart message, one protocol message per frame (PROTOCOL.md "Framing").
OUTBOX_FLUSH_FRAMES = 32
# Requests `cancel` can stop: a run before its next module or LM call, evaluate and compile at their
# next metric call.
CANCELLABLE = frozenset({"run", "evaluate", "compile"})
# Of those, the long jobs: they send `progress` messages before their reply.
LONG_JOBS = frozenset({"evaluate", "compile"})


class _Progress:
    """A progress or stream frame on the results queue: sent like a reply, but it does not end a request."""

    __slots__ = ("frame",)

    def __init__(self, frame: bytes) -> None:
        self.frame = frame


class Worker:
    def __init__(
        self,
        endpoint: str,
        worker_id: str,
        concurrency: int = 4,
        heartbeat_ms: int = 1000,
        liveness: int = 3,
        max_programs: int = 256,
        max_lms: int = 64,
        parent_pid: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        # A local worker exits when the process that started it is gone (killed, say), instead of
        # reconnecting forever to a pool that no longer exists. Remote workers pass none.
        self.parent_pid = parent_pid
        self._orphaned = False
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.heartbeat_s = heartbeat_ms / 1000
        self.liveness = liveness
        self.registry = Registry(max_programs, max_lms)
        self.pid = os.getpid()
        self._ctx = zmq.Context()
        self._socket: zmq.Socket | None = None
        # Plain threads on a SimpleQueue: a ThreadPoolExecutor adds a Future, a lock and a semaphore
        # per request that nobody here needs. Daemon threads: exiting never waits on an LM call.
        self._jobs: queue.SimpleQueue[tuple[protocol.Request, float] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run_jobs, name=f"dspy-run-{i}", daemon=True) for i in range(concurrency)]
        # Replies (bytes) and progress / stream messages (_Progress), in the order the run threads made them.
        self._results: queue.SimpleQueue[bytes | _Progress] = queue.SimpleQueue()
        # Cancel flags of the evaluate/compile requests queued or running, by request id (set by the
        # I/O thread on `cancel`, read by the run thread; dict operations are atomic under the GIL).
        self._cancels: dict[str, threading.Event] = {}
        # The LM-call gates of the requests that named `limited_lms`, by request id: the I/O thread
        # hands each `grant` to its request's gate, which wakes the run thread waiting for it.
        self._gates: dict[str, LmGate] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # One poller for the life of the worker (the socket is registered while connected).
        self._poller = zmq.Poller()
        self._poller.register(self._wake_r, zmq.POLLIN)
        self._inflight = 0  # touched by the I/O thread only
        self._outbox: list[bytes] = []  # frames to send at the end of this pass of the loop
        self._draining = False
        self._signalled = False
        self._backoff = BACKOFF_INITIAL_S
        self._reconnect_at: float | None = None
        self._last_heard = 0.0
        self._next_heartbeat = 0.0

    # --- life cycle --------------------------------------------------------------------------------

    def run(self) -> int:
        for thread in self._threads:
            thread.start()
        self._install_signal_handlers()
        self._connect()
        try:
            while True:
                self._tick()
                if self._orphaned:
                    log.warning("parent process %d is gone; exiting", self.parent_pid)
                    return 0
                if self._draining and self._inflight == 0:
                    self._flush_results()
                    self._flush_outbox()
                    log.info("drained; exiting")
                    return 0
        finally:
            self._close()

    def _install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            # Only set a flag and wake the loop: the socket belongs to the loop.
            self._signalled = True
            self._wake()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)

    def _connect(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.ROUTING_ID, self.worker_id.encode("utf-8"))
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, HARD_MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.setsockopt(zmq.RCVHWM, 10_000)
        sock.connect(self.endpoint)
        self._socket = sock
        self._poller.register(sock, zmq.POLLIN)
        self._reconnect_at = None
        self._interrupt_gates()  # grants asked for while there was no connection never come
        now = time.monotonic()
        self._last_heard = now
        self._next_heartbeat = now + self.heartbeat_s
        self._send(protocol.ready(self.worker_id, self.pid, self.concurrency, dspy.__version__))
        self._flush_outbox()
        log.info("connected to %s as %s; ready", self.endpoint, self.worker_id)

    def _disconnect(self) -> None:
        self._outbox.clear()  # a new connection starts with `ready`; replies to the old one are moot
        self._interrupt_gates()  # nor will the old connection's grants come
        if self._socket is not None:
            self._poller.unregister(self._socket)
            self._socket.close(linger=0)
            self._socket = None

    def _close(self) -> None:
        if self._socket is not None:
            # Let the last replies (and the shutdown reply) reach the pool.
            self._socket.close(linger=FINAL_LINGER_MS)
            self._socket = None
        for _ in self._threads:
            self._jobs.put(None)
        self._ctx.term()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # --- the loop ----------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if self._socket is not None:
            wake_at = min(self._next_heartbeat, self._last_heard + self.liveness * self.heartbeat_s)
        else:
            wake_at = self._reconnect_at if self._reconnect_at is not None else now
        readable = False
        for item, _ in self._poller.poll(max(0, int((wake_at - now) * 1000)) + 1):
            if item is self._socket:
                readable = True
            else:
                self._drain_wake_pipe()
        if self._signalled and not self._draining:
            log.info("signal received: draining %d request(s)", self._inflight)
            self._draining = True
        self._flush_results()
        if readable:
            self._receive()
        self._flush_outbox()  # replies first; the heartbeat bookkeeping below can wait

        now = time.monotonic()
        if self._socket is not None:
            if now >= self._next_heartbeat:
                self._orphaned = self._parent_gone()
                self._send(protocol.HEARTBEAT)
                self._next_heartbeat = now + self.heartbeat_s
            if now - self._last_heard > self.liveness * self.heartbeat_s:
                log.warning("pool silent for %.1f s; reconnecting in %.0f s", now - self._last_heard, self._backoff)
                self._disconnect()
                self._reconnect_at = now + self._backoff
                self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
        elif self._parent_gone():
            self._orphaned = True
        elif self._reconnect_at is not None and now >= self._reconnect_at:
            self._connect()
        self._flush_outbox()

    def _parent_gone(self) -> bool:
        # Orphans are re-parented (to init or a subreaper), so the parent id changes.
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def _receive(self) -> None:
        sock = self._socket
        assert sock is not None
        budget = 1000  # frames per call, so heartbeats keep flowing under a flood
        while budget > 0:
            try:
                # A Frame carries its RCVMORE flag (read in C), where recv_multipart asks the socket
                # again through Python for every message.
                part = sock.recv(_NOBLOCK, copy=False)
            except zmq.Again:
                return
            # One protocol message per frame (the pool batches them); empty frames (an envelope
            # delimiter) are skipped.
            while True:
                budget -= 1
                if len(part):
                    self._handle(part.bytes)
                if not part.more:
                    break
                part = sock.recv(_NOBLOCK, copy=False)
            self._last_heard = time.monotonic()
            self._backoff = BACKOFF_INITIAL_S
            # Finished replies go out between requests of a burst, not after all of it.
            if not self._results.empty():
                self._flush_results()
            if not sock.getsockopt(_EVENTS) & _POLLIN:  # half the cost of a recv that raises Again
                return

    def _send(self, frame: bytes) -> None:
        outbox = self._outbox
        outbox.append(frame)
        if len(outbox) >= OUTBOX_FLUSH_FRAMES:
            self._flush_outbox()

    def _flush_outbox(self) -> None:
        """Sends what this pass of the loop produced as one multipart message (usually one frame)."""
        frames = self._outbox
        if not frames:
            return
        self._outbox = []
        sock = self._socket
        if sock is None:
            log.warning("no connection: dropped %d message(s)", len(frames))
            return
        try:
            if len(frames) > 1:
                # A multipart message is atomic: once its first frame is taken, the rest are too.
                for frame in frames[:-1]:
                    sock.send(frame, _SNDMORE_NOBLOCK)
            sock.send(frames[-1], _NOBLOCK)
        except zmq.Again:
            log.warning("send queue full: dropped %d message(s)", len(frames))

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the loop is already going to wake up

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _flush_results(self) -> None:
        results = self._results
        while not results.empty():  # this thread is the only consumer
            item = results.get_nowait()
            if item.__class__ is bytes:
                self._inflight -= 1
                self._send(item)
            else:
                self._send(item.frame)

    # --- messages ----------------------------------------------------------------------------------

    def _handle(self, frame: bytes) -> None:
        received = time.perf_counter()
        req_id: str | None = None
        try:
            try:
                message = protocol.decode(frame)
            except BridgeError as error:
                req_id = error.details.pop("id", None)
                raise
            req_id = protocol.message_id(message)
            protocol.check_version(message)
            kind = message.get("type")
            if kind == "heartbeat":
                return
            if kind == "grant":
                self._grant(req_id, message.get("payload"))
                return
            if kind != "request":
                raise BridgeError("BAD_MESSAGE", "protocol", f"unexpected message type {str(kind)[:40]!r} (a worker takes request, heartbeat and grant)")
            if req_id is None:
                raise BridgeError("BAD_MESSAGE", "protocol", "a request needs a string 'id'")
            request = protocol.parse_request(message, req_id)
        except BridgeError as error:
            if req_id is None:
                log.warning("ignored a message without a readable id: %s: %s", error.code, error.message)
                return
            self._send(protocol.reply_error(req_id, error, _ms_since(received)))
            return
        except Exception as exc:  # a bug in the worker: answer if we can, never crash
            log.exception("failed to handle a message")
            if req_id is not None:
                self._send(protocol.reply_error(req_id, internal(exc), _ms_since(received)))
            return

        if request.command == "ping":
            result = {"pong": True, "worker": self.worker_id, "pid": self.pid, "echo": request.payload.get("echo")}
            self._send(protocol.reply_ok(request.id, result, _ms_since(received)))
        elif request.command == "cancel":
            target = request.payload.get("id")
            event = self._cancels.get(target) if isinstance(target, str) else None
            if event is not None:
                event.set()
                gate = self._gates.get(target)  # type: ignore[arg-type]
                if gate is not None:
                    gate.interrupt()  # a call waiting for its grant stops now
            self._send(protocol.reply_ok(request.id, {"id": target, "cancelled": event is not None}, _ms_since(received)))
        elif request.command == "shutdown":
            self._send(protocol.reply_ok(request.id, {"draining": self._inflight}, _ms_since(received)))
            if not self._draining:
                log.info("shutdown requested: draining %d request(s)", self._inflight)
            self._draining = True
        elif self._draining:
            error = BridgeError("WORKER_SHUTTING_DOWN", "worker", "the worker is shutting down and takes no new requests", True)
            self._send(protocol.reply_error(request.id, error, _ms_since(received)))
        else:
            self._inflight += 1
            if request.command in CANCELLABLE:
                self._cancels[request.id] = threading.Event()
            self._jobs.put((request, received))

    def _run_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._job(*job)

    def _job(self, request: protocol.Request, received: float) -> None:
        """Runs on a pool thread; never touches the socket."""
        LOG_CONTEXT.set(request_context(request.id, request.command, getattr(request, "traceparent", None)))
        try:
            try:
                self._open_gate(request, received)
                result = self._dispatch(request)
                frame = protocol.reply_ok(request.id, result, _ms_since(received))
            except BridgeError as error:
                frame = protocol.reply_error(request.id, error, _ms_since(received))
            except Cancelled:
                frame = protocol.reply_error(request.id, cancelled_error(), _ms_since(received))
            except Exception as exc:
                log.exception("request %s (%s) failed", request.id, request.command)
                frame = protocol.reply_error(request.id, internal(exc), _ms_since(received))
        except BaseException as exc:  # even encoding failed: still answer, minimally
            frame = protocol.reply_error(request.id, internal(exc), _ms_since(received))
        self._cancels.pop(request.id, None)
        self._gates.pop(request.id, None)
        LOG_CONTEXT.set(None)
        self._results.put(frame)
        self._wake()

    def _dispatch(self, request: protocol.Request) -> dict[str, Any]:
        p = request.payload
        if request.command == "configure_lm":
            lm_key = protocol.require_str(p, "lm_key")
            self.registry.configure_lm(lm_key, p.get("config"))
            return {"lm_key": lm_key}
        if request.command == "define_program":
            version_id, hash_ = protocol.require_str(p, "version_id"), protocol.require_str(p, "hash")
            if "program" not in p:
                raise bad_message("payload.program is required", path="payload.program")
            entry = self.registry.define_program(version_id, hash_, p["program"], p.get("compiled_state"), p.get("inputs_schema"))
            return {"version_id": version_id, "hash": hash_, "predictors": entry.predictors}
        if request.command == "run":
            version_id, hash_ = protocol.require_str(p, "version_id"), protocol.require_str(p, "hash")
            lm_key = protocol.require_str(p, "lm_key")
            entry = self.registry.program(version_id, hash_)
            lm = self.registry.lm(lm_key)
            programs = self.registry.dependencies(p.get("dependencies"))
            max_lm_calls = p.get("max_lm_calls")
            if max_lm_calls is not None and (isinstance(max_lm_calls, bool) or not isinstance(max_lm_calls, int) or max_lm_calls < 1):
                raise bad_message("payload.max_lm_calls must be an integer >= 1", path="payload.max_lm_calls")
            stream = p.get("stream")
            if stream is not None and not isinstance(stream, bool):
                raise bad_message("payload.stream must be a boolean", path="payload.stream")
            attributes = {"dspy.worker.id": self.worker_id, "dspy.program.version_id": version_id, "gen_ai.request.model": lm.model}
            send = self._stream_sender(request.id) if stream else None
            return run_program(
                entry, lm, p.get("inputs"), request.deadline_ms, self._cancels.get(request.id), programs, max_lm_calls, _secrets(p), _corpora(p), request.traceparent, attributes, send,
                gate=self._gates.get(request.id),
            )
        if request.command == "dump_state":
            version_id, hash_ = protocol.require_str(p, "version_id"), protocol.require_str(p, "hash")
            return {"state": self.registry.dump_state(version_id, hash_)}
        if request.command == "load_state":
            version_id, hash_ = protocol.require_str(p, "version_id"), protocol.require_str(p, "hash")
            if "state" not in p:
                raise bad_message("payload.state is required", path="payload.state")
            self.registry.load_state(version_id, hash_, p["state"])
            return {"version_id": version_id, "hash": hash_}
        if request.command in LONG_JOBS:
            return self._long_job(request)
        if request.command == "export_state":
            version_id, hash_ = protocol.require_str(p, "version_id"), protocol.require_str(p, "hash")
            return {"dspy_state": saved_state(self.registry.program(version_id, hash_).module)}
        if request.command == "import_state":
            if "program" not in p:
                raise bad_message("payload.program is required", path="payload.program")
            if "state" not in p:
                raise bad_message("payload.state is required", path="payload.state")
            return import_state(p["program"], p["state"])
        if request.command == "list_mcp_tools":
            allow = p.get("egress_allow")
            if allow is not None:
                if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
                    raise bad_message("payload.egress_allow must be a list of strings", path="payload.egress_allow")
                egress.configure(allow)
            return list_mcp_tools(p)
        if request.command == "parse_answer":
            return answers.parse_answer(p)
        if request.command == "lm_capabilities":
            return answers.lm_capabilities(p)
        if request.command in corpus_commands.COMMANDS:
            return corpus_commands.handle(request.command, p)
        raise BridgeError("UNKNOWN_COMMAND", "protocol", f"unknown command '{request.command}'")

    # --- per-LM limits (PROTOCOL.md "Per-LM limits") ------------------------------------------------------

    def _open_gate(self, request: protocol.Request, received: float) -> None:
        """A gate for a run / evaluate / compile whose payload names `limited_lms` (none otherwise: such a
        request takes exactly the path it took before). Its waits end at the request's deadline."""
        if request.command not in CANCELLABLE:
            return
        limited = parse_limited_lms(request.payload)
        if not limited:
            return
        deadline_at = None
        if request.deadline_ms is not None:
            deadline_at = time.monotonic() + request.deadline_ms / 1000 - _ms_since(received) / 1000
        req_id = request.id

        def send(kind: str, payload: dict[str, Any]) -> None:
            # The results queue: in order with the request's progress / stream messages, before its reply.
            self._results.put(_Progress(protocol.lm_gate_message(kind, req_id, payload)))
            self._wake()

        self._gates[req_id] = LmGate(limited, send, self._cancels.get(req_id), deadline_at)

    def _grant(self, req_id: str | None, payload: Any) -> None:
        """The pool's answer to an `acquire`. One for a request or seq nobody waits for (it ended, was
        cancelled, timed out) is ignored, and so is a malformed one: a grant is never answered (an error
        reply with its id would read as the request's own reply)."""
        gate = self._gates.get(req_id) if req_id is not None else None
        if gate is None or not isinstance(payload, dict) or not gate.grant(payload):
            log.debug("ignored a grant for %s", req_id)

    def _interrupt_gates(self) -> None:
        lost = BridgeError("LM_UNAVAILABLE", "lm", "the connection to the pool was lost while an LM call waited for its grant", True)
        for gate in list(self._gates.values()):
            gate.interrupt(lost)

    def _stream_sender(self, req_id: str) -> Callable[[dict[str, Any]], None]:
        """A streaming run's `send`: each message goes out as soon as the I/O thread wakes, in order and
        before the reply (it is queued before the reply is)."""

        def send(payload: dict[str, Any]) -> None:
            self._results.put(_Progress(protocol.stream(req_id, payload)))
            self._wake()

        return send

    def _long_job(self, request: protocol.Request) -> dict[str, Any]:
        """evaluate / compile: progress messages go out through the results queue before the reply."""
        p = request.payload
        version_id, hash_ = protocol.require_str(p, "version_id"), protocol.require_str(p, "hash")
        lm_key = protocol.require_str(p, "lm_key")
        entry = self.registry.program(version_id, hash_)
        lm = self.registry.lm(lm_key)
        cancel = self._cancels.get(request.id)
        if cancel is not None and cancel.is_set():
            raise Cancelled()

        def send_progress(payload: dict[str, Any]) -> None:
            self._results.put(_Progress(protocol.progress(request.id, payload)))
            self._wake()

        job = evaluate_program if request.command == "evaluate" else compile_program
        token = RUN_CONTEXT.set(RunContext(programs=self.registry.dependencies(p.get("dependencies")), secrets=_secrets(p), corpora=_corpora(p)))
        try:
            return job(entry, lm, p, self.registry.lm, send_progress, cancel, self._gates.get(request.id))
        finally:
            RUN_CONTEXT.reset(token)


def _secrets(payload: dict[str, Any]) -> dict[str, str]:
    """The tool secrets a request carries, each registered for redaction before anything can echo it."""
    secrets = payload.get("secrets") or {}
    if not isinstance(secrets, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise bad_message("payload.secrets must map names to strings", path="payload.secrets")
    for value in secrets.values():
        register_secret(value)
    return secrets


def _corpora(payload: dict[str, Any]) -> dict[str, str]:
    """The corpora a request searches (`[{corpus_key, hash}]`), each checked held now: one this worker
    lacks is UNKNOWN_CORPUS before anything runs (and the server sends it)."""
    listed = payload.get("corpora") or []
    if not isinstance(listed, list) or not all(isinstance(c, dict) and isinstance(c.get("corpus_key"), str) and isinstance(c.get("hash"), str) for c in listed):
        raise bad_message("payload.corpora must be an array of {corpus_key, hash}", path="payload.corpora")
    for c in listed:
        corpora.CORPORA.corpus(c["corpus_key"], c["hash"])
    return {c["corpus_key"]: c["hash"] for c in listed}


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dspy_bridge.worker", description="DSPy worker for the subgraph's worker pool")
    parser.add_argument("--connect", required=True, help="the pool's ROUTER endpoint, e.g. ipc:///tmp/pool.sock or tcp://127.0.0.1:5555")
    parser.add_argument("--id", required=True, help="routing id, unique per worker (local: w-<n>-<generation>)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests run at once (threads)")
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    parser.add_argument("--liveness", type=int, default=3, help="heartbeats missed before the pool counts as gone")
    parser.add_argument("--max-programs", type=int, default=256, help="program versions held (least recently used evicted)")
    parser.add_argument("--max-lms", type=int, default=64, help="LMs held (least recently used evicted)")
    parser.add_argument("--max-corpora", type=int, default=corpora.DEFAULT_MAX_CORPORA, help="corpora held (least recently used evicted)")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is no longer the parent (local workers)")
    parser.add_argument("--log-level", default=os.environ.get("DSPY_BRIDGE_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.heartbeat_ms < 10 or args.liveness < 1 or args.max_programs < 1 or args.max_lms < 1 or args.max_corpora < 1:
        parser.error("--concurrency, --liveness, --max-programs, --max-lms and --max-corpora must be >= 1 and --heartbeat-ms >= 10")
    corpora.CORPORA.max_corpora = args.max_corpora
    # JSON lines on stderr, like the server's; the pool passes a local worker's lines on to the server's log.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(args.id))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    # Every connection an LM request makes from here on is checked against the egress policy.
    egress.install()
    # Traces only when the pool (or a remote worker's operator) sets the endpoint.
    otel.configure(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"), args.id)
    worker = Worker(args.connect, args.id, args.concurrency, args.heartbeat_ms, args.liveness, args.max_programs, args.max_lms, args.parent_pid)
    try:
        return worker.run()
    finally:
        otel.shutdown()  # what is still buffered goes out before the process ends


if __name__ == "__main__":
    sys.exit(main())
