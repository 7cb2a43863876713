"""A real LM, offline: Gemma 3 270M served by llama-cpp-python on 127.0.0.1 (llm/serve.py), run through
the worker's own configure_lm / run path with DSPy's ordinary dspy.LM("openai/<name>", api_base=...).

Needs bridge-py/.venv-llm (scripts/ensure-llm.sh). Missing: skipped, or a failure when REQUIRE_REAL_LM=1
(as CI sets). test/realLm.test.ts does the same through the TypeScript pool and a worker process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import define

from dspy_bridge.errors import BridgeError
from dspy_bridge.registry import Registry
from dspy_bridge.runner import run_program
from llm.serve import LlamaServer, llm_python

LLM_VENV = Path(__file__).resolve().parent.parent / ".venv-llm"
READY = "LLM_PYTHON" in os.environ or (LLM_VENV / ".installed").exists()

DEFINITION = {
    "inputs": {"question": "str"},
    "modules": {
        "answer": {
            "type": "Predict",
            "signature": {
                "instructions": "Answer the question with a whole number and say how sure you are.",
                "inputs": {"question": "str"},
                "outputs": {"number": "int", "confidence": {"type": "enum", "values": ["low", "high"]}, "explanation": "str"},
            },
        }
    },
    "forward": [
        {"call": "answer", "with": {"question": "$input.question"}, "as": "a"},
        {"return": {"number": "$a.number", "confidence": "$a.confidence", "explanation": "$a.explanation"}},
    ],
}
QUESTIONS = ["What is 2 + 3?", "How many days are in a week?", "How many legs does a dog have?"]


@pytest.fixture(scope="module")
def server_url():
    if not READY:
        if os.environ.get("REQUIRE_REAL_LM") == "1":
            pytest.fail("REQUIRE_REAL_LM=1 but bridge-py/.venv-llm is missing: run scripts/ensure-llm.sh")
        pytest.skip("bridge-py/.venv-llm is missing (scripts/ensure-llm.sh): the real-LM test did not run")
    server = LlamaServer(python=llm_python())
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        assert server.proc is not None and server.proc.poll() is not None, "the LLM server is still running"


def test_outputs_parse_into_typed_fields_with_the_json_schema_adapter(server_url):
    registry = Registry()
    entry = define(registry, "real-1", "h", DEFINITION)
    registry.configure_lm("gemma:1", {
        "model": "openai/gemma", "api_base": server_url, "temperature": 0, "max_tokens": 256, "cache": False,
        "adapter": "json_schema",
    })
    for question in QUESTIONS:
        result = run_program(entry, registry.lm("gemma:1"), {"question": question}, deadline_ms=60_000)
        outputs = result["outputs"]
        assert isinstance(outputs["number"], int) and not isinstance(outputs["number"], bool), outputs
        assert outputs["confidence"] in ("low", "high"), outputs
        assert isinstance(outputs["explanation"], str), outputs
        [lm_call] = result["trace"][0]["lm_calls"]
        assert lm_call["model"] == "openai/gemma"
        assert question in lm_call["messages"][-1]["content"]
        # strict=False: a free string may carry a raw control character, which DSPy's parser takes too.
        assert set(json.loads(lm_call["response"], strict=False)) == {"number", "confidence", "explanation"}
        assert lm_call["latency_ms"] > 0 and lm_call["usage"]["completion_tokens"] > 0


def test_default_chat_adapter_reaches_the_server_and_fails_cleanly_or_parses(server_url):
    """Without structured outputs a 270M base model rarely follows ChatAdapter's format; whatever it does,
    the worker answers with typed outputs or a DSPY_ERROR that carries the LM calls made."""
    registry = Registry()
    entry = define(registry, "real-2", "h", DEFINITION)
    registry.configure_lm("gemma:chat", {"model": "openai/gemma", "api_base": server_url, "temperature": 0, "max_tokens": 128})
    try:
        result = run_program(entry, registry.lm("gemma:chat"), {"question": QUESTIONS[0]}, deadline_ms=60_000)
    except BridgeError as error:
        assert error.code == "DSPY_ERROR", error.message
        assert error.details["trace"][0]["lm_calls"], "the failed run still shows what the LM answered"
    else:
        assert isinstance(result["outputs"]["number"], int)
