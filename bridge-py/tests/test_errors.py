"""Error mapping (LM, DSPy), traceback truncation, secret redaction, and the wire codec."""

from __future__ import annotations

import json

import pytest
from dspy.utils import exceptions as dx

from dspy_bridge import protocol
from dspy_bridge import protocol
from dspy_bridge.errors import MAX_MESSAGE, BridgeError, from_run_exception, register_secret, truncate_traceback
from dspy_bridge.lm import build_lm


def raised(exc: BaseException) -> BaseException:
    """The exception with a real traceback, as the runner sees it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    "exc,code,retriable",
    [
        (dx.LMTimeoutError("slow", model="m"), "LM_TIMEOUT", True),
        (dx.LMRateLimitError("429", model="m", status=429), "LM_RATE_LIMITED", True),
        (dx.LMTransportError("refused", model="m"), "LM_UNAVAILABLE", True),
        (dx.LMServerError("503", model="m", status=503), "LM_UNAVAILABLE", True),
        (dx.LMAuthError("bad key", model="m", status=401), "LM_ERROR", False),
        (dx.LMInvalidRequestError("bad request", model="m", status=400), "LM_ERROR", False),
        (dx.ContextWindowExceededError(model="m"), "LM_ERROR", False),
        (dx.LMBillingError("quota", model="m"), "LM_ERROR", False),
        # An error reported inside a streamed answer: no status, the provider's code or type.
        (dx.LMProviderError("overloaded", model="m", provider_code="500"), "LM_UNAVAILABLE", True),
        (dx.LMProviderError("overloaded", model="m", provider_code="overloaded_error"), "LM_UNAVAILABLE", True),
        (dx.LMProviderError("slow down", model="m", provider_code="rate_limit_exceeded"), "LM_RATE_LIMITED", True),
        (dx.LMProviderError("bad", model="m", provider_code="invalid_request_error"), "LM_ERROR", False),
        (dx.LMProviderError("bad", model="m", status=400, provider_code="500"), "LM_ERROR", False),
    ],
)
def test_dspy_lm_errors(exc, code, retriable):
    error = from_run_exception(raised(exc))
    assert (error.code, error.layer, error.retriable) == (code, "lm", retriable)
    assert error.details["exception"] == type(exc).__name__
    assert "Traceback" not in error.message


def test_raw_litellm_errors_and_wrapped_causes():
    import litellm

    cases = [
        (litellm.Timeout("t", model="m", llm_provider="openai"), "LM_TIMEOUT", True),
        (litellm.RateLimitError("r", llm_provider="openai", model="m"), "LM_RATE_LIMITED", True),
        (litellm.APIConnectionError("c", llm_provider="openai", model="m"), "LM_UNAVAILABLE", True),
        (litellm.ServiceUnavailableError("s", llm_provider="openai", model="m"), "LM_UNAVAILABLE", True),
        (litellm.InternalServerError("i", llm_provider="openai", model="m"), "LM_UNAVAILABLE", True),
        (litellm.BadRequestError("b", model="m", llm_provider="openai"), "LM_ERROR", False),
        (litellm.AuthenticationError("a", llm_provider="openai", model="m"), "LM_ERROR", False),
    ]
    for exc, code, retriable in cases:
        error = from_run_exception(raised(exc))
        assert (error.code, error.layer, error.retriable) == (code, "lm", retriable), type(exc)
    # An LM error wrapped by something else is still found through __cause__.
    try:
        try:
            raise litellm.RateLimitError("r", llm_provider="openai", model="m")
        except Exception as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert from_run_exception(outer).code == "LM_RATE_LIMITED"


def test_other_failures_inside_dspy_are_dspy_errors():
    error = from_run_exception(raised(ValueError("odd")))
    assert (error.code, error.layer, error.retriable) == ("DSPY_ERROR", "dspy", False)
    passthrough = BridgeError("INVALID_INPUTS", "validation", "x")
    assert from_run_exception(passthrough) is passthrough


def test_traceback_is_truncated_keeping_its_first_line_and_its_end():
    text = "Traceback (most recent call last):\n" + "frame\n" * 2000 + "ValueError: the end"
    short = truncate_traceback(text)
    assert len(short) <= 4000 and short.startswith("Traceback") and short.endswith("ValueError: the end")
    assert truncate_traceback("short") == "short"


def test_api_keys_never_leave_the_worker():
    entry = build_lm({"model": "openai/x", "api_key": "sk-very-secret-key", "api_base": "http://127.0.0.1:9/v1"})
    assert entry.lm.kwargs["api_key"] == "sk-very-secret-key"
    register_secret("sk-very-secret-key")
    wire = BridgeError("LM_ERROR", "lm", "bad key sk-very-secret-key", False, {"traceback": "... sk-very-secret-key ..."}).to_wire()
    assert "sk-very-secret-key" not in json.dumps(wire)
    with pytest.raises(BridgeError) as bad:
        build_lm({"model": "openai/x", "api_key": 12345678})
    assert bad.value.code == "BAD_MESSAGE" and "12345678" not in bad.value.message


def test_every_frame_that_leaves_the_worker_is_scrubbed_of_keys_in_any_field():
    key = 'sk-frame"secret\\key-0123456789'  # a quote and a backslash: escaped inside the JSON
    register_secret(key)
    progress = protocol.progress("r1", {"phase": "trial", "note": f"provider said: Incorrect API key provided: {key}"})
    reply = protocol.reply_ok("r2", {"outputs": {"answer": key}, "trace": [{"lm_calls": [{"response": f"echo {key}"}]}]}, 1.0)
    error = protocol.reply_error("r3", BridgeError("LM_ERROR", "lm", "denied", False, {"body": {"error": {"message": f"Incorrect API key provided: {key}"}}}), 1.0)
    stream = protocol.stream("r4", {"kind": "delta", "step": "gen", "module": "generate", "field": "answer", "text": f"key: {key}"})
    for frame in (progress, reply, error, stream):
        decoded = json.loads(frame)
        assert key not in json.dumps(decoded) and "[REDACTED]" in json.dumps(decoded), decoded
    assert json.loads(reply)["result"]["outputs"]["answer"] == "[REDACTED]"


def test_a_key_cut_by_the_message_limit_is_redacted_before_the_cut():
    key = "sk-cut-" + "k" * 60
    register_secret(key)
    message = "x" * (MAX_MESSAGE - 20) + key
    wire = BridgeError("LM_ERROR", "lm", message, False).to_wire()
    assert key[:12] not in wire["message"]


@pytest.mark.parametrize(
    "config,path",
    [
        ("x", None),
        ({}, "config.model"),
        ({"model": "dummy"}, "config.answers"),
        ({"model": "dummy", "answers": [1]}, "config.answers"),
        ({"model": "openai/x", "temperature": "hot"}, "config.temperature"),
        ({"model": "openai/x", "num_retries": -1}, "config.num_retries"),
        ({"model": "openai/x", "colour": "red"}, "config.colour"),
        ({"model": "openai/x", "adapter": "xml"}, "config.adapter"),
        ({"model": "openai/x", "adapter": 1}, "config.adapter"),
    ],
)
def test_bad_lm_configs(config, path):
    with pytest.raises(BridgeError) as bad:
        build_lm(config)
    assert bad.value.code == "BAD_MESSAGE" and bad.value.details.get("path") == path


def test_deadline_becomes_a_bounded_set_of_lm_timeouts():
    entry = build_lm({"model": "openai/x", "api_base": "http://127.0.0.1:9/v1"})
    assert entry.for_run(None) is entry.lm
    assert entry.for_run(30_000).kwargs["timeout"] == 32
    assert entry.for_run(29_000) is entry.for_run(31_000)
    assert entry.for_run(10).kwargs["timeout"] == 1
    assert entry.for_run(10**9).kwargs["timeout"] == 1024
    assert build_lm({"model": "openai/x", "timeout": 5}).for_run(30_000).kwargs["timeout"] == 5


def test_lm_defaults_no_retries_and_keyless_local_endpoints(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    local = build_lm({"model": "openai/x", "api_base": "http://127.0.0.1:9/v1"}).lm
    assert local.num_retries == 0  # the product retries executions, not DSPy inside one request
    assert local.kwargs["api_key"] == "no-key-needed"  # DSPy refuses an OpenAI endpoint without a key
    assert build_lm({"model": "openai/x", "api_base": "http://h/v1", "num_retries": 2}).lm.num_retries == 2
    assert "api_key" not in build_lm({"model": "openai/x"}).lm.kwargs  # hosted: DSPy finds the env key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert "api_key" not in build_lm({"model": "openai/x", "api_base": "http://h/v1"}).lm.kwargs


def test_each_run_gets_a_fresh_dummy_lm():
    entry = build_lm({"model": "dummy", "answers": [{"answer": "first"}], "cache": False, "num_retries": 0})
    one, two = entry.for_run(5000), entry.for_run(5000)
    assert one is not two and one is not entry.lm


def test_codec():
    assert protocol.decode(b'{"v":1}') == {"v": 1}
    for frame in (b"{nope", b"\xff\xfe", b'{"v": NaN}', b"[" * 100_000):
        with pytest.raises(BridgeError) as bad:
            protocol.decode(frame)
        assert bad.value.code == "BAD_MESSAGE"
    with pytest.raises(BridgeError) as bad:
        protocol.decode(b'{"v":1,"type":"request","id":"big-1","payload":"' + b"x" * (8 * 1024 * 1024) + b'"}')
    assert bad.value.code == "PAYLOAD_TOO_LARGE" and bad.value.details["id"] == "big-1"
    assert protocol.scan_id(b'{"v":1,"id":"r\\"7","command":') == 'r"7'
    assert protocol.scan_id(b'{"v":1,"payload":{"id":"inner"},"id":"outer"') is None
    # Lone surrogates are escaped, NaN becomes null: the frame is always valid JSON for JavaScript.
    assert json.loads(protocol.dumps({"a": "\ud800", "b": float("nan")})) == {"a": "\ud800", "b": None}
    big = {"outputs": {}, "usage": {}, "trace": [{"step": "s", "inputs": {}, "outputs": {}, "lm_calls": [{"messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}], "response": "y"}]}]}
    slim = json.loads(protocol.reply_ok("r1", big, 1.0))
    assert slim["ok"] and slim["result"]["trace_truncated"] and len(slim["result"]["trace"][0]["lm_calls"][0]["messages"][0]["content"]) < 3000
