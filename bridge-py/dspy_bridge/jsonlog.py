"""The worker's log lines: JSON on stderr, one object per line, like the server's (pino) lines.

`level` and `time` as the server writes them, the worker's id, and while a request runs its id, command
and trace id (from its W3C `traceparent`), so a line joins the server's logs and traces. Messages and
tracebacks pass through the secret redaction every frame gets (errors.redact).
"""

from __future__ import annotations

import json
import logging
import traceback
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from .errors import redact

# What the line of a request's thread says about the request: {"request", "command", "trace_id"}.
LOG_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("dspy_bridge_log_context", default=None)

_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error", logging.CRITICAL: "fatal"}


class JsonFormatter(logging.Formatter):
    def __init__(self, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": _LEVELS.get(record.levelno, "info"),
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "msg": redact(record.getMessage()),
            "worker": self.worker_id,
            "logger": record.name,
        }
        line.update(LOG_CONTEXT.get() or {})
        if record.exc_info:
            line["err"] = redact("".join(traceback.format_exception(*record.exc_info))[-4000:])
        return json.dumps(line, ensure_ascii=False)


def request_context(request_id: str, command: str, traceparent: str | None) -> dict[str, str]:
    context = {"request": request_id, "command": command}
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        context["trace_id"] = parts[1]
    return context
