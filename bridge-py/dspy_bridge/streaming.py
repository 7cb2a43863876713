"""Token streaming of a `run`'s output fields (PROTOCOL.md "Streaming"): `run` with `"stream": true`.

What a streaming run sends, besides its reply:
- status events from the trace as it is made (StreamingTracer is the run's RunTracer), so steps, module
  names and outputs are exactly the trace's: module_start / module_end, tool_start / tool_end (ReAct),
  retrieval_end (Retrieve, ColBERTv2), retry;
- deltas of output fields, cut by DSPy's own StreamListeners from the chunks DSPy's LM sends to
  `settings.send_stream` while it streams the answer.

DSPy (3.4.1) sends a chunk with `anyio.from_thread.run(stream.send, chunk)` on the thread that calls the
LM, which works only on an anyio worker thread: `call` runs the program on one, under the event loop the
request's thread keeps (stream_loop.py), and a parallel `map` runs its elements on more of them (RUN_PARALLEL). A chunk
of DSPy's LM client is received at once on the thread of the LM call (install(), no hop to the loop and back); DSPy's
other sends are handled on the loop, in a copy of the calling thread's context. Either way CURRENT_STEP names the step.

Which predictor streams: per module type, the one whose outputs are the module call's outputs
(STREAMED_PREDICTOR), and of it the `str` output fields. Listeners are per run and, below them, per LM
call (a parallel map calls one predictor on several threads at once; DSPy's listener keeps state per
stream). What DSPy's listeners give is normalized here (ChatText, JsonText), secrets are held back and
redacted (shown), and at the end of each module call the deltas are made to add up to the outputs
exactly (StreamingTracer._settle), whatever the listener did.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from queue import Queue
from typing import Any, Callable, TypeVar

import anyio
import dspy
from dspy.adapters.base import Adapter
from dspy.streaming import StreamListener
from dspy.utils.exceptions import AdapterParseError, LMTransportError

from . import stream_loop
from .catalog import MODULE_TYPES
from .errors import Cancelled, redact, registered_secrets
from .module_with import ModuleWith
from .run_context import CURRENT_STEP, RUN_PARALLEL
from .tracing import RunTracer

log = logging.getLogger("dspy_bridge.streaming")

T = TypeVar("T")
Send = Callable[[dict[str, Any]], None]

# Per module type, the predictor (attribute path below the module; "" the module itself) whose outputs
# become the module call's outputs, called once per call. The others do not stream: ReAct's `react`
# (thoughts and tool choices, not outputs), MultiChainComparison's attempts and ProgramOfThought's code
# (not the outputs either), BestOfN / Refine (each attempt runs on a deep copy of the module, which no
# listener can name: DSPy matches a listener to a predictor by identity).
STREAMED_PREDICTOR: dict[str, str | None] = {
    "Predict": "",
    "ChainOfThought": "predict",
    "MultiChainComparison": "compare.predict",
    "ReAct": "extract.predict",
    "ProgramOfThought": "generate_output.predict",
    "BestOfN": None,
    "Refine": None,
    "Retrieve": None,
    "ColBERTv2": None,
}
assert set(STREAMED_PREDICTOR) == set(MODULE_TYPES), f"streaming knows {sorted(STREAMED_PREDICTOR)}, the catalog {sorted(MODULE_TYPES)}"
RETRIEVERS = frozenset({"Retrieve", "ColBERTv2"})

# DSPy's listener picks its markers by the class name of settings.adapter (ChatAdapter, JSONAdapter,
# XMLAdapter only): it reads chunks under one of these, so subclasses (the json_schema adapter, the
# fallback-keeping adapter below) stream too.
_CHAT = dspy.ChatAdapter()
_JSON = dspy.JSONAdapter()

# The streaming run's tracer, for the adapter's fallback (the adapter is built without arguments:
# Refine subclasses the run's adapter and instantiates it bare).
_TRACER: ContextVar[StreamingTracer | None] = ContextVar("dspy_bridge_stream_tracer", default=None)
# Set while VisibleFallbackChatAdapter's JSON fallback runs: its chunks are JSON, not chat sections.
_JSON_ATTEMPT: ContextVar[bool] = ContextVar("dspy_bridge_stream_json_attempt", default=False)


@dataclass(frozen=True)
class Target:
    """A predictor whose fields stream, and the module of the definition it answers for."""

    module: str  # the definition's module name
    module_type: str
    predictor: dspy.Predict
    fields: tuple[str, ...]  # its `str` output fields, in signature order


def targets(program: Any) -> dict[int, Target]:
    """id(predictor) → Target, for the modules of a built program (program_builder.DefinedProgram)."""
    found: dict[int, Target] = {}
    for name, spec in program._program["modules"].items():
        path = STREAMED_PREDICTOR.get(spec["type"])
        if path is None:
            continue
        predictor = getattr(program, name)
        for attribute in filter(None, path.split(".")):
            predictor = getattr(predictor, attribute)
        fields = tuple(f for f, info in predictor.signature.output_fields.items() if info.annotation is str)
        if fields:
            found[id(predictor)] = Target(name, spec["type"], predictor, fields)
    return found


# --- field text: what DSPy's listener gives → the field's value so far -------------------------------

_MARKER = re.compile(r"\[\[ ## \w+ ## \]\]")
# A proper beginning of a marker ("[", "[[ #", "[[ ## answ", "[[ ## answer ## ]").
_MARKER_PREFIX = re.compile(r"\[(?:\[(?: (?:#(?:#(?: (?:\w+(?: (?:#(?:#(?: (?:\])?)?)?)?)?)?)?)?)?)?)?")


class ChatListener(StreamListener):
    """DSPy's StreamListener, with the one step that loses text fixed. For the chat format DSPy's `flush`
    keeps the buffered text up to its first `[[`, meant to cut off the next field's marker; but it also
    flushes in mid-stream, whenever the buffer turns out not to be a marker, so a value with `[[` in it
    (`[[wiki links]]`) lost the characters from there to the flush. Here the cut is at a whole marker, or
    at a marker's beginning where the buffer ends; otherwise nothing is cut."""

    def flush(self) -> str:
        if isinstance(dspy.settings.adapter, (dspy.JSONAdapter, dspy.XMLAdapter)):
            return super().flush()
        text = "".join(self.field_end_queue.queue)
        self.field_end_queue = Queue()
        marker = _MARKER.search(text)
        if marker is not None:
            return text[: marker.start()]
        return text[: _marker_beginning(text)]


def _marker_beginning(text: str) -> int:
    """Where a marker that `text` ends in the middle of begins (len(text) when it ends in none)."""
    window = max(0, len(text) - 160)  # a marker is "[[ ## " + a field name + " ## ]]"
    start = text.rfind("[", window)
    cut = len(text)
    while start >= window:
        if _MARKER_PREFIX.fullmatch(text, start):
            cut = start
        start = text.rfind("[", 0, start)
    return cut


class ChatText:
    """A ChatAdapter field. ChatAdapter.parse strips a section; DSPy's listener already drops leading
    whitespace and holds trailing whitespace back, but not when it flushes a stream that ended without
    a next marker (finalize), so here too: `feed` returns what the piece adds to the stripped value
    (whitespace only once text follows it)."""

    __slots__ = ("_started", "_held")

    def __init__(self) -> None:
        self._started = False
        self._held = ""

    def feed(self, piece: str) -> str:
        if not self._started:
            piece = piece.lstrip()
            if not piece:
                return ""
            self._started = True
        body = piece.rstrip()
        if not body:
            self._held += piece
            return ""
        added, self._held = self._held + body, piece[len(body) :]
        return added


_JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JsonText:
    """A JSONAdapter field. DSPy's listener passes the raw JSON of the value: its quotes, escapes, and at
    times what follows it (`", "next_field": `). This decodes the string literal the text starts with,
    as far as it has arrived (an escape cut in two waits for its end): `feed` returns what the piece adds
    to the decoded value. A value that is not a string gives nothing."""

    __slots__ = ("_raw", "_pos", "_done")

    def __init__(self) -> None:
        self._raw = ""
        self._pos = -1  # next character of _raw to decode; -1 before the opening quote
        self._done = False

    def feed(self, piece: str) -> str:
        if self._done:
            return ""
        self._raw = self._raw[max(self._pos, 0) :] + piece  # what is decoded is not needed again
        self._pos = 0 if self._pos >= 0 else -1
        return self._decode()

    def _decode(self) -> str:
        raw, i = self._raw, self._pos
        if i < 0:
            body = raw.lstrip()
            if not body:
                return ""
            if body[0] != '"':
                self._done = True
                return ""
            i = len(raw) - len(body) + 1
        parts = []
        while i < len(raw):
            stop = _next_special(raw, i)
            parts.append(raw[i:stop])
            i = stop
            if i >= len(raw):
                break
            if raw[i] == '"':
                self._done = True
                break
            decoded, used = _escape(raw, i)
            if not used:
                break
            parts.append(decoded)
            i += used
        self._pos = i
        return "".join(parts)


def _next_special(raw: str, start: int) -> int:
    quote, slash = raw.find('"', start), raw.find("\\", start)
    candidates = [p for p in (quote, slash) if p >= 0]
    return min(candidates) if candidates else len(raw)


def _escape(raw: str, i: int) -> tuple[str, int]:
    """The escape at raw[i] ("\\"): (its text, characters used), or ("", 0) when it has not all arrived."""
    if i + 1 >= len(raw):
        return "", 0
    kind = raw[i + 1]
    if kind != "u":
        return _JSON_ESCAPES.get(kind, kind), 2
    code = _hex4(raw, i + 2)
    if code is None:
        return ("", 0) if i + 6 > len(raw) else ("\\u", 2)
    if 0xD800 <= code < 0xDC00:  # a high surrogate: its low half may follow
        if i + 12 > len(raw) and "\\u".startswith(raw[i + 6 : i + 8]):
            return "", 0
        low = _hex4(raw, i + 8) if raw[i + 6 : i + 8] == "\\u" else None
        if low is not None and 0xDC00 <= low < 0xE000:
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
    return chr(code), 6


def _hex4(raw: str, start: int) -> int | None:
    digits = raw[start : start + 4]
    if len(digits) < 4:
        return None
    try:
        return int(digits, 16)
    except ValueError:
        return None


# --- secrets ----------------------------------------------------------------------------------------


def shown(text: str, final: bool) -> tuple[str, str]:
    """(what of a field's new text may be sent, what is held back). Registered secrets are redacted (as in
    every frame), and until the text is final a tail that may be the start of a secret still arriving is
    held, so that no secret ever leaves in pieces the frame-level redaction could not recognize. What
    was sent before never ends in such a tail, so no secret spans it and the new text alone decides."""
    secrets = registered_secrets()
    if not secrets:
        return text, ""
    end = len(text) if final else _safe_end(text, secrets)
    return redact(text[:end]), text[end:]


def _safe_end(text: str, secrets: tuple[str, ...]) -> int:
    end = len(text)
    moved = True
    while moved and end > 0:
        moved = False
        for secret in secrets:
            tail = _partial_tail(text, end, secret)
            if tail:
                end -= tail
                moved = True
            # A whole secret across the cut goes whole to one side of it.
            start = text.find(secret, max(0, end - len(secret) + 1))
            if 0 <= start < end:
                end = start
                moved = True
    return end


def _partial_tail(text: str, end: int, secret: str) -> int:
    """The length of the longest proper prefix of `secret` that text[:end] ends with."""
    if end == 0 or text[end - 1] not in secret:
        return 0
    for size in range(min(len(secret) - 1, end), 0, -1):
        if text.endswith(secret[:size], 0, end):
            return size
    return 0


# --- the tracer that streams -----------------------------------------------------------------------


@dataclass
class _FieldStream:
    """One field in one LM call: its listener, the field's text, and what of it waits (see `shown`)."""

    listener: StreamListener
    text: ChatText | JsonText
    pending: str = ""

    def take(self, piece: str, final: bool) -> str:
        """What may be sent now, given the next piece the listener gave (or "" at the end)."""
        self.pending += self.text.feed(piece) if piece else ""
        out, self.pending = shown(self.pending, final)
        return out


@dataclass
class _LMCall:
    target: Target
    json: bool
    fields: dict[str, _FieldStream]
    started: float = field(default_factory=time.monotonic)  # its first chunk, right after the headers


@dataclass
class _ModuleCall:
    """A module call (a trace entry) with a streamed predictor: what its deltas added up to, per field."""

    target: Target
    streamed: bool = False
    sent: dict[str, list[str]] = field(default_factory=dict)  # the deltas, per field


class StreamingTracer(RunTracer):
    """The run's tracer (tracing.py) that also streams: status events as it makes the trace's entries,
    and the deltas DSPy's listeners cut from the chunks `receive` gets. `send(payload)` puts one stream
    message on the worker's results queue; it is called under one lock, so messages go out in the order
    their events happened."""

    def __init__(
        self,
        modules: dict[int, tuple[str, str]],
        streamed: dict[int, Target],
        send: Send,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
    ) -> None:
        """`timeout`: the run's LM timeout in seconds (lm.py: the deadline rounded up, or the config's)."""
        super().__init__(modules)
        self._targets = streamed
        self._by_module = {t.module: t for t in streamed.values()}
        self._send = send
        self._cancel = cancel
        self._timeout = timeout
        self._stream_lock = threading.Lock()
        self._calls: dict[str, _ModuleCall] = {}  # by step
        self._lm_calls: dict[tuple[str, int], _LMCall] = {}  # by (step, id(predictor))
        self._tools: dict[str, tuple[str, str, str]] = {}  # tool call id → (step, module, tool)
        # What DSPy's settings.stream_listeners get: a predictor streams iff one of these names it.
        self.listeners = [StreamListener(f, predict=t.predictor, predict_name=t.module, allow_reuse=True) for t in streamed.values() for f in t.fields]

    # --- status events ------------------------------------------------------------------------------

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        super().on_module_start(call_id, instance, inputs)
        entry = self._entry(call_id)
        if entry is None:
            return
        with self._stream_lock:
            target = self._by_module.get(entry["module"])
            if target is not None:
                self._calls[entry["step"]] = _ModuleCall(target)
            self._status("module_start", entry["step"], entry["module"], f"{entry['module']} ({entry['type']}) started")

    def on_module_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        entry = self._entry(call_id)  # before the tracer closes it
        super().on_module_end(call_id, outputs, exception)
        if entry is None:
            return
        step, module = entry["step"], entry["module"]
        with self._stream_lock:
            call = self._calls.pop(step, None)
            if call is not None:
                self._settle(entry, call)
            failed = "error" in entry
            if entry["type"] in RETRIEVERS and not failed:
                count = len(entry["outputs"].get("passages") or [])
                self._status("retrieval_end", step, module, f"{module} retrieved {count} passage{'' if count == 1 else 's'}", passages=count)
            verb = f"failed: {_first_line(entry['error'])}" if failed else f"finished in {entry['duration_ms']:.0f} ms"
            extra: dict[str, Any] = {"outputs": entry["outputs"]}
            if failed:
                extra["error"] = entry["error"]
            self._status("module_end", step, module, f"{module} ({entry['type']}) {verb}", **extra)

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        super().on_tool_start(call_id, instance, inputs)
        tool = str(getattr(instance, "name", "?"))
        entry = self._innermost()
        if entry is None or tool == "finish":  # ReAct's way to stop, not one of the definition's tools
            return
        with self._stream_lock:
            self._tools[call_id] = (entry["step"], entry["module"], tool)
            self._status("tool_start", entry["step"], entry["module"], f"calling tool {tool}", tool=tool)

    def on_tool_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        super().on_tool_end(call_id, outputs, exception)
        with self._stream_lock:
            opened = self._tools.pop(call_id, None)
            if opened is None:
                return
            step, module, tool = opened
            verb = f"failed: {type(exception).__name__}" if exception is not None else "returned"
            self._status("tool_end", step, module, f"tool {tool} {verb}", tool=tool)

    def _status(self, event: str, step: str, module: str, message: str, **extra: Any) -> None:
        self._send({"kind": "status", "event": event, "step": step, "module": module, "message": message, **extra})

    def _entry(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            opened = self._open.get(call_id)
        return opened[0] if opened else None

    def _innermost(self) -> dict[str, Any] | None:
        with self._lock:
            stack = self._stack()
            return stack[-1] if stack else None

    # --- deltas -------------------------------------------------------------------------------------

    def receive(self, chunk: Any) -> None:
        """A chunk of an LM's streamed answer (DSPy's send_stream). Runs on the thread whose LM call read it
        (_receive_inline), or on the event loop's thread in a copy of that thread's context."""
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()  # a streaming LM call stops at its next chunk; DSPy closes the connection
        target = self._targets.get(getattr(chunk, "predict_id", None))  # type: ignore[arg-type]
        if target is None:
            return
        step = CURRENT_STEP.get() or target.module
        key = (step, id(target.predictor))
        with self._stream_lock:
            lm_call = self._lm_calls.get(key)
            if lm_call is None:
                lm_call = self._lm_calls[key] = self._lm_call(target)
                self._calls.setdefault(step, _ModuleCall(target)).streamed = True
            self._check_time(lm_call)
            # Streaming never fails a run: a chunk the listener chokes on is dropped, and the module
            # call's end sends what is missing (_settle).
            try:
                with dspy.context(adapter=_JSON if lm_call.json else _CHAT):
                    for name, stream in lm_call.fields.items():
                        if stream.listener.stream_end:
                            # Its field is over. (A listener allowed reuse would start over at a second
                            # marker of the field in the same answer, which ChatAdapter.parse ignores.)
                            continue
                        response = stream.listener.receive(chunk)
                        if response is not None and response.chunk:
                            self._advance(step, target, name, stream, response.chunk, final=False)
            except Exception:
                log.warning("a stream chunk of %s could not be read; the step's end sends the rest", step, exc_info=True)

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        super().on_lm_end(call_id, outputs, exception)
        predictor = dspy.settings.caller_predict
        target = self._targets.get(id(predictor)) if predictor is not None else None
        if target is None:
            return
        with self._stream_lock:
            self._end_lm_call((CURRENT_STEP.get() or target.module, id(predictor)), flush=exception is None)

    def fallback(self) -> None:
        """The predictor being called failed to parse its chat answer and is asked again in JSON (see
        VisibleFallbackChatAdapter): what its module call streamed is void."""
        predictor = dspy.settings.caller_predict
        target = self._targets.get(id(predictor)) if predictor is not None else None
        if target is None:
            return
        step = CURRENT_STEP.get() or target.module
        with self._stream_lock:
            self._lm_calls.pop((step, id(predictor)), None)
            call = self._calls.get(step)
            if call is not None:
                call.sent = {}
            self._status("retry", step, target.module, f"{target.module}: the answer did not parse; asking again for JSON (discard what was streamed for this step)")

    def _check_time(self, lm_call: _LMCall) -> None:
        """The LM timeout bounds a streamed answer as a whole, as it bounds an answer that is not streamed
        (its headers come only once it is written): past it the pool has given up on the run (the timeout
        is at least its deadline), so the answer stops with the error a timeout gives without streaming."""
        if self._timeout is not None and time.monotonic() - lm_call.started > self._timeout:
            model = str(getattr(dspy.settings.lm, "model", "?"))
            raise LMTransportError(f"read timed out: the streamed answer took more than {self._timeout:g} s (the LM timeout)", model=model)

    def _lm_call(self, target: Target) -> _LMCall:
        json = _JSON_ATTEMPT.get() or isinstance(dspy.settings.adapter, dspy.JSONAdapter)
        fields = {
            name: _FieldStream(ChatListener(name, predict=target.predictor, predict_name=target.module, allow_reuse=True), JsonText() if json else ChatText())
            for name in target.fields
        }
        return _LMCall(target, json, fields)

    def _advance(self, step: str, target: Target, name: str, stream: _FieldStream, piece: str, final: bool) -> None:
        delta = stream.take(piece, final)
        if not delta:
            return
        call = self._calls.get(step)
        if call is not None:
            call.sent.setdefault(name, []).append(delta)
        self._delta(step, target.module, name, delta)

    def _end_lm_call(self, key: tuple[str, int], flush: bool) -> None:
        """An LM call ended: its listeners give up what they held back (a stream that ended without the
        next field's marker), and go; the predictor's next call gets new ones."""
        lm_call = self._lm_calls.pop(key, None)
        if lm_call is None or not flush:
            return
        try:
            with dspy.context(adapter=_JSON if lm_call.json else _CHAT):
                for name, stream in lm_call.fields.items():
                    rest = stream.listener.finalize()
                    self._advance(key[0], lm_call.target, name, stream, rest.chunk if rest is not None and rest.chunk else "", final=True)
        except Exception:
            log.warning("a stream of %s could not be flushed; the step's end sends the rest", key[0], exc_info=True)

    def _settle(self, entry: dict[str, Any], call: _ModuleCall) -> None:
        """At a module call's end, its deltas are made to add up to its outputs: what is missing is sent
        (text a listener never saw, e.g. a field that came whole in one chunk), and if what was sent is
        not how the outputs begin, a `retry` and then the outputs whole."""
        step = entry["step"]
        for key in [k for k in self._lm_calls if k[0] == step]:
            self._end_lm_call(key, flush=True)
        if not call.streamed or "error" in entry:
            return
        outputs = entry["outputs"]
        # As the reply will show them: a frame's secrets are redacted.
        finals = {name: redact(outputs[name]) for name in call.target.fields if isinstance(outputs.get(name), str)}
        sent = {name: "".join(call.sent.get(name, ())) for name in finals}
        module = call.target.module
        if all(final.startswith(sent[name]) for name, final in finals.items()):
            for name, final in finals.items():
                rest = final[len(sent[name]) :]
                if rest:
                    self._delta(step, module, name, rest)
            return
        log.warning("the deltas of %s did not match its outputs; sent them whole after a retry", step)
        self._status("retry", step, module, f"{module}: the streamed text differs from the parsed outputs; they follow whole (discard what was streamed for this step)")
        for name, final in finals.items():
            if final:
                self._delta(step, module, name, final)

    def _delta(self, step: str, module: str, name: str, text: str) -> None:
        self._send({"kind": "delta", "step": step, "module": module, "field": name, "text": text})


def _first_line(text: str) -> str:
    """A message is one short sentence; DSPy's LM errors add lines of advice (the `error` key has them)."""
    return text.strip().split("\n", 1)[0][:300]


# --- keeping DSPy's JSON fallback -------------------------------------------------------------------


class VisibleFallbackChatAdapter(dspy.ChatAdapter):
    """dspy.ChatAdapter for streaming runs. DSPy's ChatAdapter asks again with JSONAdapter when an answer
    does not parse, but (3.4.1) not once anything of the answer was streamed: the run would fail where
    the same run without streaming succeeds. This one always falls back, as DSPy does without
    streaming, and first tells the stream (a `retry` status: what was streamed for the step is void).
    The fallback's chunks are read as JSON."""

    def __call__(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return Adapter.__call__(self, lm, lm_kwargs, signature, demos, inputs)
        except AdapterParseError:
            if not self.use_json_adapter_fallback:
                raise
            tracer = _TRACER.get()
            if tracer is not None:
                tracer.fallback()
            token = _JSON_ATTEMPT.set(True)
            try:
                # Inside the except, as DSPy does: a failed fallback carries the parse error as its context.
                return self._make_json_adapter_fallback()(lm, lm_kwargs, signature, demos, inputs)
            finally:
                _JSON_ATTEMPT.reset(token)


def streaming_adapter(adapter: dspy.Adapter | None) -> dspy.Adapter | None:
    """The adapter of a streaming run: DSPy's default ChatAdapter (a config without `adapter`, or "chat",
    both a plain ChatAdapter()) becomes VisibleFallbackChatAdapter; the JSON adapters have no fallback."""
    if adapter is None or type(adapter) is dspy.ChatAdapter:
        return VisibleFallbackChatAdapter()
    return adapter


# --- running the program where DSPy can stream -----------------------------------------------------


class _Sink:
    """DSPy's settings.send_stream: DSPy awaits `send(chunk)` on the event loop, or (its LM client, the
    path of every chunk) calls it through `anyio.from_thread.run`, which here receives the chunk on the
    calling thread instead (_receive_inline)."""

    def __init__(self, tracer: StreamingTracer) -> None:
        self.tracer = tracer

    async def send(self, chunk: Any) -> None:
        self.tracer.receive(chunk)


def _receive_inline(func: Callable[..., Any], *args: Any) -> Any:
    """`anyio.from_thread.run` for DSPy's LM client, which sends each chunk of a streamed answer with
    `anyio.from_thread.run(stream.send, chunk)`: a hop to the event loop's thread and back per chunk (a
    token, with most servers), ~80 µs of the worker's CPU each. The tracer's `receive` needs no loop (it
    takes its own lock, as chunks of a parallel map's calls come from several threads), so a chunk for our
    sink is handled on the thread of the LM call that read it, in that thread's context, and what it raises
    (Cancelled, the LM timeout) is raised in that call as before. Anything else goes to anyio."""
    sink = getattr(func, "__self__", None)
    if isinstance(sink, _Sink) and getattr(func, "__func__", None) is _Sink.send:
        return sink.tracer.receive(*args)
    return anyio.from_thread.run(func, *args)


def install() -> None:
    """Gives DSPy's LM client module an `anyio` whose `from_thread.run` is _receive_inline; idempotent."""
    import dspy.clients.execution as dspy_execution

    if not isinstance(dspy_execution.anyio, ModuleWith):
        dspy_execution.anyio = ModuleWith(anyio, from_thread=ModuleWith(anyio.from_thread, run=_receive_inline))  # type: ignore[assignment]


def context_settings(tracer: StreamingTracer, adapter: dspy.Adapter | None) -> dict[str, Any]:
    """The dspy.context settings of a streaming run that streams deltas (see `streams`). `track_usage`:
    DSPy's LiteLLM path asks for usage in the stream only with it (its native path always does);
    without, LiteLLM counts the streamed tokens itself, which is not what the provider bills. It does
    nothing else here: DSPy's own usage tracking stays off while the run's tracer is the usage_tracker."""
    return {"send_stream": _Sink(tracer), "stream_listeners": tracer.listeners, "adapter": streaming_adapter(adapter), "track_usage": True}


def streams(tracer: StreamingTracer, dummy: bool) -> bool:
    """Whether the run can stream deltas: some predictor has str fields to listen to (with no listener
    at all DSPy would stream every predictor) and the LM is not DummyLM (it never sends chunks)."""
    return bool(tracer.listeners) and not dummy


def call(tracer: StreamingTracer, fn: Callable[[], T]) -> T:
    """fn() on an anyio worker thread, below the event loop this thread keeps (stream_loop.py), and
    parallel maps inside it on more of them. Contexts are copied down (the run's LM, callbacks,
    RunContext, span, log context). What fn raises is raised here, BaseExceptions (Cancelled,
    LimitExceeded) included."""
    tokens = (_TRACER.set(tracer), RUN_PARALLEL.set(_parallel))
    try:
        return stream_loop.run_on_worker_thread(fn)
    finally:
        RUN_PARALLEL.reset(tokens[1])
        _TRACER.reset(tokens[0])


def _parallel(calls: list[Callable[[], Any]], workers: int) -> list[Any]:
    """forward.py's parallel map on anyio worker threads (called from one)."""
    return anyio.from_thread.run(_gather, calls, workers)


async def _gather(calls: list[Callable[[], Any]], workers: int) -> list[Any]:
    """As forward.in_threads: every call runs to its end, then results in order or the first failure by
    index. Failures are kept, not raised in the task group (no exception group, no cancelling the rest)."""
    limiter = anyio.CapacityLimiter(workers)
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(calls)

    async def one(index: int) -> None:
        try:
            outcomes[index] = (True, await anyio.to_thread.run_sync(calls[index], limiter=limiter))
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # noqa: BLE001 (Cancelled, LimitExceeded: re-raised below)
            outcomes[index] = (False, exc)

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(one, index)
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]
