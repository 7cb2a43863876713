"""What the server's native adapter (src/native) asks DSPy itself: `parse_answer` and `lm_capabilities`.

The native adapter formats prompts and parses answers in Node, identically to DSPy's ChatAdapter and
JSONAdapter (its conformance suite holds it to that). Two things it does not redo:
- parsing an answer that json_repair would have to mend (a malformed list or object): `parse_answer`
  runs DSPy's own `parse` on it;
- which `response_format` DSPy's JSONAdapter fallback sends for a model (DSPy's model metadata):
  `lm_capabilities`.
"""

from __future__ import annotations

from typing import Any

import dspy
from dspy.utils.exceptions import AdapterParseError

from .errors import bad_message
from .signatures import build_signature
from .tracing import to_jsonable


def parse_answer(payload: dict[str, Any]) -> dict[str, Any]:
    """`{adapter: "chat" | "json", outputs: {name: {type}}, completion}` → `{ok, fields}` or `{ok: false, reason}`."""
    adapter, outputs, completion = payload.get("adapter"), payload.get("outputs"), payload.get("completion")
    if adapter not in ("chat", "json"):
        raise bad_message("payload.adapter must be 'chat' or 'json'", path="payload.adapter")
    if not isinstance(outputs, dict) or not outputs:
        raise bad_message("payload.outputs must be an object of output fields", path="payload.outputs")
    if not isinstance(completion, str):
        raise bad_message("payload.completion must be a string", path="payload.completion")
    # parse() reads only the output fields; the signature needs an input to be one.
    source = next(name for name in ("question", "text", "source") if name not in outputs)
    try:
        signature = build_signature({"inputs": {source: {"type": "str"}}, "outputs": outputs})
    except Exception as exc:
        raise bad_message(f"payload.outputs: {exc}", path="payload.outputs") from None
    parser = dspy.ChatAdapter() if adapter == "chat" else dspy.JSONAdapter()
    try:
        fields = parser.parse(signature, completion)
    except AdapterParseError as exc:
        return {"ok": False, "reason": str(exc)[:1000]}
    return {"ok": True, "fields": to_jsonable(fields)}


def lm_capabilities(payload: dict[str, Any]) -> dict[str, Any]:
    """`{model, api_base?}` → what DSPy's JSONAdapter reads to choose its `response_format` for the model."""
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise bad_message("payload.model must be a non-empty string", path="payload.model")
    api_base = payload.get("api_base")
    kwargs: dict[str, Any] = {"api_key": "no-key-needed", "num_retries": 0}
    if isinstance(api_base, str):
        kwargs["api_base"] = api_base
    lm = dspy.LM(model, **kwargs)  # never called: only its capabilities are read
    return {"response_format": "response_format" in lm.supported_params, "response_schema": bool(lm.supports_response_schema)}
