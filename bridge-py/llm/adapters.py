"""DSPy adapter that makes tiny local models produce parseable outputs.

``dspy.JSONAdapter`` only sends ``response_format`` (the signature's JSON schema)
when DSPy's model metadata says the model supports structured outputs. For
``openai/<local-name>`` it knows nothing, so it sends no ``response_format`` at
all and a 135M/270M model's free-form text usually fails to parse.

``StructuredJSONAdapter`` always sends the schema. Served by ``llm/serve.py``
(which maps OpenAI ``json_schema`` to llama.cpp grammar-constrained decoding),
every reply is valid JSON with exactly the signature's output fields, ints as
JSON integers and ``Literal[...]`` fields restricted to their values.
"""

from __future__ import annotations

import dspy

try:  # private helper; present in dspy 3.x
    from dspy.adapters.json_adapter import _get_structured_outputs_response_format
except ImportError:  # pragma: no cover
    _get_structured_outputs_response_format = None


class StructuredJSONAdapter(dspy.JSONAdapter):
    def _prepare_response_format(self, lm, lm_kwargs, signature):
        if _get_structured_outputs_response_format is None:
            return super()._prepare_response_format(lm, lm_kwargs, signature)
        try:
            lm_kwargs["response_format"] = _get_structured_outputs_response_format(
                signature, self.use_native_function_calling)
        except Exception:  # open-ended dict fields etc.: plain JSON mode
            lm_kwargs["response_format"] = {"type": "json_object"}
