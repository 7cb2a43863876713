"""The DSPy adapter an LM config names (`configure_lm.config.adapter`, PROTOCOL.md "LM config").

- "chat": dspy.ChatAdapter, DSPy's default (`[[ ## field ## ]]` sections; on a parse failure it
  retries once with JSONAdapter). Also what a config without `adapter` gets.
- "json": dspy.JSONAdapter. It asks for the signature's JSON schema as `response_format` only when
  DSPy's model metadata says the model supports structured outputs; for an `openai/<name>` DSPy does
  not know (a local llama.cpp or vLLM server) it sends no `response_format` at all.
- "json_schema": StructuredJSONAdapter below: JSONAdapter that always sends the signature's JSON schema
  (OpenAI structured outputs). For OpenAI-compatible servers that constrain decoding to a schema but
  that DSPy has no metadata about — small local models then produce parseable outputs every time.
"""

from __future__ import annotations

import dspy

try:  # private helper of dspy 3.x (pinned: 3.4.1); without it, behave like JSONAdapter
    from dspy.adapters.json_adapter import _get_structured_outputs_response_format
except ImportError:  # pragma: no cover
    _get_structured_outputs_response_format = None

ADAPTER_NAMES = ("chat", "json", "json_schema")


class StructuredJSONAdapter(dspy.JSONAdapter):
    """dspy.JSONAdapter that always sends the signature's JSON schema as `response_format`."""

    def _prepare_response_format(self, lm, lm_kwargs, signature):
        if _get_structured_outputs_response_format is None:  # pragma: no cover
            return super()._prepare_response_format(lm, lm_kwargs, signature)
        try:
            lm_kwargs["response_format"] = _get_structured_outputs_response_format(signature, self.use_native_function_calling)
        except Exception:  # open-ended dict fields etc. have no strict schema: plain JSON mode
            lm_kwargs["response_format"] = {"type": "json_object"}


def build_adapter(name: str) -> dspy.Adapter:
    if name == "chat":
        return dspy.ChatAdapter()
    if name == "json":
        return dspy.JSONAdapter()
    if name == "json_schema":
        return StructuredJSONAdapter()
    raise ValueError(f"unknown adapter {name!r}")
