"""One request's LM calls, per LM key: the server's grant before each call of a limited LM, and usage.

PROTOCOL.md "Per-LM limits" and "Usage of evaluate and compile":
- `LmGate`: before each call of an LM listed in the request's `limited_lms`, the calling thread sends
  `acquire` and blocks until the pool's `grant` (routed here by the worker's I/O thread), a cancel, or the
  request's deadline; after the call, `spent` with its tokens.
- `LmMeter`: a DSPy callback (on_lm_start / on_lm_end) that is also the request's DSPy usage tracker
  (add_usage, the source RunTracer reads): it applies the gate and adds each call's usage up per LM key.

Which LM a call is made with: DSPy hands callbacks the LM instance. Each LM the worker holds is tagged with
its lm_key (`tag`, set by the registry on the configured LM and by LMEntry.for_run on what a run gets); an
attribute, so it survives the copies DSPy and its optimizers make (`lm.copy(rollout_id=…)`, deepcopy),
which an id() → key map made before the run would miss.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from dspy.utils.callback import ACTIVE_CALL_ID, BaseCallback

from .errors import LAYERS, BridgeError, Cancelled
from .tracing import _usage_numbers

LM_KEY_ATTR = "_bridge_lm_key"
# Longest a call waits for its grant when the request has no deadline (the pool always sends one); a
# grant lost with a connection must not hold a request thread forever.
MAX_GRANT_WAIT_S = 1024.0
TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


def tag(lm: Any, lm_key: str) -> Any:
    """Marks an LM object as the one configured under `lm_key`; returns it."""
    try:
        setattr(lm, LM_KEY_ATTR, lm_key)
    except AttributeError:  # an LM type with __slots__: it cannot be limited or metered by key
        pass
    return lm


def key_of(lm: Any) -> str:
    """The lm_key of an LM instance; an LM the worker did not configure (none today) by its model name."""
    key = getattr(lm, LM_KEY_ATTR, None)
    return key if isinstance(key, str) else str(getattr(lm, "model", type(lm).__name__))


class LmRefused(BaseException):
    """A call the server did not grant (or whose grant did not come in time). A BaseException, so DSPy's
    callback runner (which swallows an Exception from a callback) lets it stop the call; the worker's own
    code turns it back into its BridgeError (runner.py, optimize.py)."""

    def __init__(self, error: BridgeError) -> None:
        super().__init__(error.message)
        self.error = error


def parse_limited_lms(payload: dict[str, Any]) -> frozenset[str]:
    """`limited_lms` of a run / evaluate / compile payload: absent, null or [] is none."""
    value = payload.get("limited_lms")
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
        raise BridgeError("BAD_MESSAGE", "protocol", "payload.limited_lms must be an array of lm_keys", False, {"path": "payload.limited_lms"})
    return frozenset(value)


def grant_error(payload: dict[str, Any]) -> BridgeError:
    """The error of a refused grant, exactly as the pool sent it (defaults where a field is unusable)."""
    error = payload.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    layer = error.get("layer")
    message = error.get("message")
    retriable = error.get("retriable")
    return BridgeError(
        code if isinstance(code, str) and code else "LM_RATE_LIMITED",
        layer if layer in LAYERS else "lm",
        message if isinstance(message, str) else "the server refused the LM call",
        retriable if isinstance(retriable, bool) else True,
    )


@dataclass
class _Waiting:
    """One call waiting for its grant: `answer` is True (granted) or the error it fails with."""

    event: threading.Event = field(default_factory=threading.Event)
    answer: BridgeError | bool | None = None


class LmGate:
    """The limited LMs of one request and its grants. `send(kind, payload)` queues an `acquire` / `spent`
    message with the request's other messages (the worker's results queue: in order, before the reply).
    `acquire` runs on the calling thread; `grant` and `interrupt` on the worker's I/O thread."""

    def __init__(
        self,
        limited: frozenset[str],
        send: Callable[[str, dict[str, Any]], None],
        cancel: threading.Event | None = None,
        deadline_at: float | None = None,
    ) -> None:
        self.limited = limited
        self._send = send
        self._cancel = cancel
        self._deadline_at = deadline_at  # time.monotonic() past which no grant is awaited
        self._lock = threading.Lock()
        self._seq = 0
        self._waiting: dict[int, _Waiting] = {}

    def limits(self, lm_key: str) -> bool:
        return lm_key in self.limited

    def acquire(self, lm_key: str) -> None:
        """Blocks until the pool grants a call of `lm_key`. Raises Cancelled on a cancel (at once, also
        while waiting), LmRefused with the pool's error on a refusal, and LmRefused LM_TIMEOUT once the
        request's deadline has passed."""
        waiting = _Waiting()
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._waiting[seq] = waiting
        try:
            # Checked once registered: a cancel that came earlier is seen here, a later one interrupts.
            self._check_cancel()
            self._send("acquire", {"seq": seq, "lm_key": lm_key})
            self._wait(waiting, lm_key)
        finally:
            with self._lock:
                self._waiting.pop(seq, None)
        self._check_cancel()  # an interrupt for a cancel leaves `answer` empty
        if isinstance(waiting.answer, BridgeError):
            raise LmRefused(waiting.answer)

    def _wait(self, waiting: _Waiting, lm_key: str) -> None:
        started = time.monotonic()
        until = self._deadline_at if self._deadline_at is not None else started + MAX_GRANT_WAIT_S
        # One wait, woken by the grant, a cancel or a lost connection (interrupt): nothing polls.
        if not waiting.event.wait(max(0.0, until - started)):
            waited = time.monotonic() - started
            raise LmRefused(BridgeError("LM_TIMEOUT", "lm", f"no grant for a call of LM '{lm_key}' within the request's deadline (waited {waited:.1f} s)", True))

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()

    def spent(self, lm_key: str, tokens: int) -> None:
        self._send("spent", {"lm_key": lm_key, "tokens": tokens})

    # --- the I/O thread -------------------------------------------------------------------------------

    def grant(self, payload: dict[str, Any]) -> bool:
        """A `grant` message's payload for this request; False when no call waits for its seq (ignored)."""
        seq = payload.get("seq")
        with self._lock:
            waiting = self._waiting.get(seq) if isinstance(seq, int) and not isinstance(seq, bool) else None
        if waiting is None:
            return False
        waiting.answer = True if payload.get("ok") is True else grant_error(payload)
        waiting.event.set()
        return True

    def interrupt(self, error: BridgeError | None = None) -> None:
        """Ends every wait now: for a cancel (None: the waiter sees the cancel flag), or with `error` (the
        connection to the pool was lost, and with it the acquire or its grant)."""
        with self._lock:
            waiting = list(self._waiting.values())
        for w in waiting:
            if error is not None and w.answer is None:
                w.answer = error
            w.event.set()


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "lm_calls": 0}


class LmMeter(BaseCallback):
    """Applies the gate to each LM call and counts usage per LM key; it is the request's DSPy usage
    tracker (`dspy.context(usage_tracker=meter)`), passing each report on to `inner` (a run's RunTracer)
    so the run's trace gets exactly what it got before. `on_usage()` is called after each call's end,
    outside the meter's lock (evaluate / compile send progress from it)."""

    def __init__(self, gate: LmGate | None = None, inner: Any = None, on_usage: Callable[[], None] | None = None) -> None:
        self.gate = gate
        self._inner = inner
        self._on_usage = on_usage
        self._lock = threading.Lock()
        self._open: dict[str, tuple[str, dict[str, int], bool]] = {}  # call id → (lm key, usage, granted)
        self._last: dict[str, int] | None = None
        self._by_lm: dict[str, dict[str, int]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> LmMeter:
        # DSPy's ParallelExecutor (dspy.Evaluate with num_threads > 1) deep-copies the usage tracker per
        # thread so each counts its own; this one counts for the whole request, thread-safely.
        return self

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        key = key_of(instance)
        gate = self.gate
        granted = gate is not None and gate.limits(key)
        if gate is not None and granted:
            gate.acquire(key)  # blocks; what it raises is a BaseException, past DSPy's callback runner
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        with self._lock:
            self._open[call_id] = (key, usage, granted)
            self._last = usage
            self._by_lm.setdefault(key, _zero_usage())["lm_calls"] += 1

    def add_usage(self, lm: str, usage_entry: dict[str, Any]) -> None:
        numbers = _usage_numbers(usage_entry)
        with self._lock:
            opened = self._open.get(ACTIVE_CALL_ID.get() or "")
            usage = opened[1] if opened else self._last
            if usage is not None:
                for name, value in numbers.items():
                    usage[name] += value
        if self._inner is not None:
            self._inner.add_usage(lm, usage_entry)

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        with self._lock:
            opened = self._open.pop(call_id, None)
            if opened is None:
                return
            key, usage, granted = opened
            totals = self._by_lm.setdefault(key, _zero_usage())
            for name in TOKEN_KEYS:
                totals[name] += usage[name]
        if granted and self.gate is not None:
            # Answered or failed, the call is over: the pool settles its tokens against what it reserved.
            self.gate.spent(key, usage["total_tokens"])
        if self._on_usage is not None:
            self._on_usage()

    def usage(self) -> dict[str, Any]:
        """`{prompt_tokens, completion_tokens, total_tokens, lm_calls, by_lm: {lm_key: {…}}}` of the calls
        made so far (a call still in flight counts as a call, its tokens once it has ended)."""
        with self._lock:
            by_lm = {key: dict(values) for key, values in self._by_lm.items()}
        totals: dict[str, Any] = _zero_usage()
        for values in by_lm.values():
            for name, value in values.items():
                totals[name] += value
        totals["by_lm"] = by_lm
        return totals
