"""Structured errors: `{code, layer, message, retriable, details}` (PROTOCOL.md "Errors").

A Python traceback only ever travels in details.traceback, truncated; messages stay short and
human. Known API keys are scrubbed from messages and tracebacks before they leave the worker.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from typing import Any

LAYERS = frozenset({"validation", "transport", "protocol", "worker", "dspy", "lm", "storage", "scheduler"})
MAX_TRACEBACK = 4000
MAX_MESSAGE = 2000


class Cancelled(BaseException):
    """Raised inside DSPy when the request was cancelled (`cancel`). A BaseException, so DSPy's
    `except Exception` handlers (its callback runner's included) let it through."""


def cancelled_error() -> "BridgeError":
    return BridgeError("CANCELLED", "worker", "the request was cancelled", False)


class BridgeError(Exception):
    def __init__(self, code: str, layer: str, message: str, retriable: bool = False, details: dict[str, Any] | None = None):
        assert layer in LAYERS, layer
        super().__init__(message)
        self.code = code
        self.layer = layer
        self.message = message
        self.retriable = retriable
        self.details = details or {}

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "layer": self.layer,
            # Redacted before it is shortened: a cut must not leave half a key behind.
            "message": _shorten(redact(self.message), MAX_MESSAGE),
            "retriable": self.retriable,
        }
        if self.details:
            details = dict(self.details)
            if "traceback" in details:
                details["traceback"] = redact(details["traceback"])
            error["details"] = details
        return error


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def truncate_traceback(text: str, limit: int = MAX_TRACEBACK) -> str:
    """At most `limit` characters: the first line, then the end (innermost frames and the exception)."""
    if len(text) <= limit:
        return text
    head = text.split("\n", 1)[0][:200] + "\n…\n"
    return head + text[-(limit - len(head)) :]


def traceback_of(exc: BaseException) -> str:
    return truncate_traceback("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


# --- secrets -----------------------------------------------------------------------------------

_secrets: set[str] = set()
# Each secret as it appears inside an encoded frame: its JSON string body, in UTF-8 and \u-escaped ASCII.
_secret_forms: tuple[bytes, ...] = ()
_secrets_lock = threading.Lock()
REDACTED = "[REDACTED]"


def register_secret(secret: str | None) -> None:
    """An API key the worker holds; never to appear in anything it sends."""
    global _secret_forms
    if secret and len(secret) >= 4:
        with _secrets_lock:
            if secret in _secrets:
                return
            _secrets.add(secret)
            forms = {json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8"), json.dumps(secret)[1:-1].encode("ascii")}
            # Longest first, so a key that contains another is replaced whole.
            _secret_forms = tuple(sorted(set(_secret_forms) | forms, key=len, reverse=True))


def registered_secrets() -> tuple[str, ...]:
    """The secrets registered so far (streaming holds back text that may be the start of one)."""
    with _secrets_lock:
        return tuple(_secrets)


def redact(text: str) -> str:
    with _secrets_lock:
        secrets = list(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_frame(frame: bytes) -> bytes:
    """An encoded protocol message with every registered secret replaced: what leaves the worker
    (replies, errors' messages and details, traces, progress, stream) is scrubbed here, in one place."""
    forms = _secret_forms
    for form in forms:
        if form in frame:
            frame = frame.replace(form, REDACTED.encode("ascii"))
    return frame


# --- helpers -----------------------------------------------------------------------------------


def bad_message(message: str, **details: Any) -> BridgeError:
    return BridgeError("BAD_MESSAGE", "protocol", message, False, details or None)


def internal(exc: BaseException) -> BridgeError:
    return BridgeError(
        "WORKER_INTERNAL",
        "worker",
        f"internal error in the worker: {type(exc).__name__}: {exc}",
        False,
        {"exception": type(exc).__name__, "traceback": traceback_of(exc)},
    )


def _chain(exc: BaseException, limit: int = 12) -> list[BaseException]:
    """The exception and its causes/contexts, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < limit and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _lm_code(exc: BaseException) -> tuple[str, bool] | None:
    """LM failure classification of one exception: DSPy's public LM errors, then raw litellm ones."""
    from dspy.utils import exceptions as dx

    if isinstance(exc, dx.LMTimeoutError):
        return "LM_TIMEOUT", True
    if isinstance(exc, dx.LMRateLimitError):
        return "LM_RATE_LIMITED", True
    if isinstance(exc, (dx.LMTransportError, dx.LMServerError, dx.LMLockTimeoutError)):
        return "LM_UNAVAILABLE", True
    if isinstance(exc, dx.LMProviderError) and getattr(exc, "status", None) is None:
        in_stream = _in_stream_code(getattr(exc, "provider_code", None))
        if in_stream is not None:
            return in_stream
    if isinstance(exc, dx.LMError):
        return "LM_ERROR", False
    # Raw SDK errors (litellm's classes subclass openai's). Neither module is imported here: an
    # exception cannot be an instance of a class whose module was never loaded.
    for module_name in ("litellm", "openai"):
        module = sys.modules.get(module_name)
        if module is None:
            continue

        def cls(name: str) -> Any:
            found = getattr(module, name, None)
            return found if isinstance(found, type) else ()

        if isinstance(exc, (cls("Timeout"), cls("APITimeoutError"))):
            return "LM_TIMEOUT", True
        if isinstance(exc, cls("RateLimitError")):
            return "LM_RATE_LIMITED", True
        unavailable = ("APIConnectionError", "ServiceUnavailableError", "InternalServerError", "BadGatewayError")
        if isinstance(exc, tuple(c for c in map(cls, unavailable) if c != ())):
            return "LM_UNAVAILABLE", True
        if isinstance(exc, cls("APIError")):
            status = getattr(exc, "status_code", None)
            if status == 408:
                return "LM_TIMEOUT", True
            if status == 429:
                return "LM_RATE_LIMITED", True
            if isinstance(status, int) and status >= 500:
                return "LM_UNAVAILABLE", True
            return "LM_ERROR", False
    return None


_UNAVAILABLE_CODES = frozenset({"server_error", "internal_error", "overloaded", "overloaded_error", "service_unavailable", "api_error"})


def _in_stream_code(provider_code: Any) -> tuple[str, bool] | None:
    """An error the provider reported inside a streamed answer has no HTTP status (the stream began
    with 200): DSPy raises a plain LMProviderError carrying the error's `code` or `type`. Read as the
    status or error the same failure gets without streaming, so a run fails with the same code either way."""
    code = str(provider_code or "").strip().lower()
    if code.isdigit():
        status = int(code)
        if status == 408:
            return "LM_TIMEOUT", True
        if status == 429:
            return "LM_RATE_LIMITED", True
        if status >= 500:
            return "LM_UNAVAILABLE", True
        return None
    if "rate_limit" in code:
        return "LM_RATE_LIMITED", True
    if "timeout" in code:
        return "LM_TIMEOUT", True
    if code in _UNAVAILABLE_CODES:
        return "LM_UNAVAILABLE", True
    return None


def from_run_exception(exc: BaseException) -> BridgeError:
    """Classifies what a DSPy module call raised: LM failure, DSPy failure, or a worker bug."""
    if isinstance(exc, BridgeError):
        return exc
    from dspy.utils.exceptions import AdapterParseError

    from .egress import EgressRefused

    for link in _chain(exc):
        if isinstance(link, EgressRefused):
            return BridgeError("LM_EGRESS_REFUSED", "lm", str(link), False, {"exception": "EgressRefused"})
    for link in _chain(exc):
        lm = _lm_code(link)
        if lm is not None:
            code, retriable = lm
            details: dict[str, Any] = {"exception": type(link).__name__, "traceback": traceback_of(exc)}
            for attr in ("status", "provider", "retry_after", "request_id"):
                value = getattr(link, attr, None)
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    details[attr] = value
            return BridgeError(code, "lm", f"{type(link).__name__}: {link}", retriable, details)
        if isinstance(link, AdapterParseError):
            return BridgeError(
                "DSPY_ERROR",
                "dspy",
                f"the LM's answer did not parse into the signature: {_shorten(str(link), 500)}",
                False,
                {"exception": type(link).__name__, "traceback": traceback_of(exc)},
            )
    # Anything else raised inside a DSPy module call is DSPy failing (our own bugs raise BridgeError
    # or surface outside the call).
    return BridgeError(
        "DSPY_ERROR",
        "dspy",
        f"{type(exc).__name__}: {exc}",
        False,
        {"exception": type(exc).__name__, "traceback": traceback_of(exc)},
    )
