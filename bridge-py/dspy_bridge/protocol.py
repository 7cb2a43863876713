"""Wire format of PROTOCOL.md: one frame of UTF-8 JSON per message, version 1, 8 MiB per frame.

Messages are parsed and written with orjson (several times faster than the json module, which was
most of the worker's per-message cost) wherever it gives exactly what the json module gives;
for the rest (integers beyond 64 bits, lone surrogates, NaN, non-string keys, deep nesting) the
json module's path below decides, as it always did.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import BridgeError, bad_message, redact, redact_frame
from .tracing import to_jsonable

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 8 * 1024 * 1024
COMMANDS = (
    "ping",
    "configure_lm",
    "define_program",
    "run",
    "dump_state",
    "load_state",
    "evaluate",
    "compile",
    "cancel",
    "export_state",
    "import_state",
    "shutdown",
    # MCP tools (mcp_tool.py)
    "list_mcp_tools",
    # Corpora (corpus_commands.py)
    "embed",
    "define_corpus",
    "search",
    # The server's native adapter (answers.py)
    "parse_answer",
    "lm_capabilities",
)
_COMMAND_SET = frozenset(COMMANDS)
MAX_ID_LENGTH = 256

# Where to find the id of a frame too large (or too broken) to parse: the pool writes
# {"v":1,"type":"request","id":"r17",...,"payload":...}, so the id comes before the payload.
_ID_IN_PREFIX = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.){1,256})"')
_PREFIX_BYTES = 64 * 1024
# W3C Trace Context, version 00 (lower-case hex; all-zero ids are invalid and checked by the tracer).
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
# orjson reads integers beyond 64 bits as floats, where the json module keeps them exact: a frame
# with a run of 19 digits or more (such a number, or just digits in a string) takes the json path.
# (translate + find runs at memory speed; a regex took longer than parsing the frame.)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


@dataclass(slots=True)
class Request:
    id: str
    command: str
    payload: dict[str, Any]
    deadline_ms: float | None
    # W3C trace context the request continues (PROTOCOL.md "Trace context"); None when absent or malformed.
    traceparent: str | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(frame: bytes) -> dict[str, Any]:
    """The message as an object; BridgeError BAD_MESSAGE / PAYLOAD_TOO_LARGE (with `id` in details when readable)."""
    if len(frame) > MAX_FRAME_BYTES:
        raise BridgeError(
            "PAYLOAD_TOO_LARGE",
            "protocol",
            f"frame is {len(frame)} bytes; the limit is {MAX_FRAME_BYTES}",
            False,
            {"id": scan_id(frame)},
        )
    try:
        if _LONG_DIGIT_RUN in frame.translate(_DIGITS_AS_ZERO):
            raise ValueError("a long integer: parse with json")
        message = orjson.loads(frame)
    except ValueError:  # orjson.JSONDecodeError too; the json module decides, and words the error
        message = _decode_with_json(frame)
    if not isinstance(message, dict):
        raise bad_message("message must be a JSON object")
    return message


def _decode_with_json(frame: bytes) -> Any:
    try:
        return json.loads(frame.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad_message(f"frame is not UTF-8 JSON: {type(exc).__name__}: {str(exc)[:200]}", id=scan_id(frame)) from None


def scan_id(frame: bytes) -> str | None:
    """Best effort: the request id from the start of a frame that cannot be parsed whole."""
    head = frame[:_PREFIX_BYTES].decode("utf-8", errors="replace")
    cut = head.find('"payload"')
    match = _ID_IN_PREFIX.search(head if cut < 0 else head[:cut])
    if not match:
        return None
    try:
        value = json.loads(f'"{match.group(1)}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def message_id(message: dict[str, Any]) -> str | None:
    value = message.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH else None


def check_version(message: dict[str, Any]) -> None:
    v = message.get("v")
    if v.__class__ is int and v == PROTOCOL_VERSION:  # the common case, in one test
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != PROTOCOL_VERSION:
        raise BridgeError(
            "UNSUPPORTED_VERSION", "protocol", f"protocol version {json.dumps(v)[:40]} is not supported; this worker speaks v{PROTOCOL_VERSION}"
        )


def parse_request(message: dict[str, Any], req_id: str) -> Request:
    command = message.get("command")
    if not isinstance(command, str):
        raise bad_message("a request needs a string 'command'")
    if command not in _COMMAND_SET:
        raise BridgeError("UNKNOWN_COMMAND", "protocol", f"unknown command '{command[:60]}' (expected {', '.join(COMMANDS)})")
    payload = message.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise bad_message("payload must be an object")
    deadline = message.get("deadline_ms")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not deadline > 0):
        raise bad_message("deadline_ms must be a positive number")
    traceparent = message.get("traceparent")
    # Malformed trace context is ignored, as W3C Trace Context says: the request starts a new trace.
    if not isinstance(traceparent, str) or not _TRACEPARENT.fullmatch(traceparent):
        traceparent = None
    return Request(req_id, command, payload, float(deadline) if deadline is not None else None, traceparent)


def require_str(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise bad_message(f"payload.{key} must be a non-empty string", path=f"payload.{key}")
    return value


_ORJSON_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; lone surrogates escaped, NaN/Infinity as null (as JSON.stringify does);
    scrubbed of every API key the worker holds (redact_frame), whatever field carried it."""
    return redact_frame(_encode(message))


def _encode(message: dict[str, Any]) -> bytes:
    try:
        # Dataclasses and datetimes go to `default` (repr), as with the json module.
        return orjson.dumps(message, default=repr, option=_ORJSON_PASSTHROUGH)
    except TypeError:  # orjson.JSONEncodeError: a non-string key, a lone surrogate, a huge int, deep nesting
        pass
    try:
        text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=repr)
    except ValueError:
        text = json.dumps(to_jsonable(message), ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=repr)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def ready(worker_id: str, pid: int, concurrency: int, dspy_version: str) -> bytes:
    return dumps(
        {"v": PROTOCOL_VERSION, "type": "ready", "worker": worker_id, "pid": pid, "concurrency": concurrency, "dspy": dspy_version, "protocol": PROTOCOL_VERSION}
    )


HEARTBEAT = dumps({"v": PROTOCOL_VERSION, "type": "heartbeat"})


def progress(req_id: str, payload: dict[str, Any]) -> bytes:
    """A progress message of a long request (evaluate, compile); the pool may ignore it."""
    return dumps({"v": PROTOCOL_VERSION, "type": "progress", "id": req_id, "payload": payload})


def stream(req_id: str, payload: dict[str, Any]) -> bytes:
    """A stream message of a `run` asked with `"stream": true` (PROTOCOL.md "Streaming"); the pool may ignore it.
    A module_end whose outputs would not fit in a frame goes without them (the reply's trace has them)."""
    frame = dumps({"v": PROTOCOL_VERSION, "type": "stream", "id": req_id, "payload": payload})
    if len(frame) > MAX_FRAME_BYTES and "outputs" in payload:
        slim = {**payload, "outputs": {}, "outputs_truncated": True}
        frame = dumps({"v": PROTOCOL_VERSION, "type": "stream", "id": req_id, "payload": slim})
    return frame


def lm_gate_message(kind: str, req_id: str, payload: dict[str, Any]) -> bytes:
    """An `acquire` (`{seq, lm_key}`) or `spent` (`{lm_key, tokens}`) of a request whose payload named
    `limited_lms` (PROTOCOL.md "Per-LM limits"): the pool answers an acquire with a `grant`."""
    assert kind in ("acquire", "spent"), kind
    return dumps({"v": PROTOCOL_VERSION, "type": kind, "id": req_id, "payload": payload})


def reply_ok(req_id: str, result: Any, elapsed_ms: float) -> bytes:
    """A success reply; a run result too large for one frame loses its trace detail first."""
    frame = dumps({"v": PROTOCOL_VERSION, "type": "reply", "id": req_id, "ok": True, "result": result, "elapsed_ms": round(elapsed_ms, 3)})
    if len(frame) <= MAX_FRAME_BYTES:
        return frame
    if isinstance(result, dict) and isinstance(result.get("trace"), list):
        slim = {**result, "trace": _slim_trace(result["trace"]), "trace_truncated": True}
        frame = dumps({"v": PROTOCOL_VERSION, "type": "reply", "id": req_id, "ok": True, "result": slim, "elapsed_ms": round(elapsed_ms, 3)})
        if len(frame) <= MAX_FRAME_BYTES:
            return frame
    error = BridgeError("PAYLOAD_TOO_LARGE", "protocol", f"the result is {len(frame)} bytes; the limit is {MAX_FRAME_BYTES}")
    return reply_error(req_id, error, elapsed_ms)


def reply_error(req_id: str, error: BridgeError, elapsed_ms: float) -> bytes:
    wire = error.to_wire()
    frame = dumps({"v": PROTOCOL_VERSION, "type": "reply", "id": req_id, "ok": False, "error": wire, "elapsed_ms": round(elapsed_ms, 3)})
    if len(frame) > MAX_FRAME_BYTES:  # a huge partial trace or issue list: keep code and message
        wire = {k: v for k, v in wire.items() if k != "details"}
        frame = dumps({"v": PROTOCOL_VERSION, "type": "reply", "id": req_id, "ok": False, "error": wire, "elapsed_ms": round(elapsed_ms, 3)})
    return frame


def _slim_trace(trace: list[dict[str, Any]], keep: int = 2000) -> list[dict[str, Any]]:
    def cut(value: Any) -> Any:
        text = redact(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr))
        return text if len(text) <= keep else text[:keep] + "…"

    slim = []
    for entry in trace:
        calls = [
            {**call, "messages": [{"role": m.get("role"), "content": cut(m.get("content"))} if isinstance(m, dict) else cut(m) for m in (call.get("messages") or [])], "response": cut(call.get("response"))}
            for call in entry.get("lm_calls", [])
        ]
        slim.append({**entry, "inputs": {k: cut(v) for k, v in entry.get("inputs", {}).items()}, "outputs": {k: cut(v) for k, v in entry.get("outputs", {}).items()}, "lm_calls": calls})
    return slim
