"""answers.py: DSPy's own parse and model facts, as the server's native adapter asks for them."""

from __future__ import annotations

import pytest

from dspy_bridge.answers import lm_capabilities, parse_answer
from dspy_bridge.errors import BridgeError

TYPED = {"reasoning": {"type": "str"}, "score": {"type": "int"}, "tags": {"type": {"list": "str"}}}


def test_parse_answer_runs_dspys_chat_parse() -> None:
    completion = "[[ ## reasoning ## ]]\nr\n\n[[ ## score ## ]]\n7.0\n\n[[ ## tags ## ]]\n['a', 'b'\n\n[[ ## completed ## ]]"
    assert parse_answer({"adapter": "chat", "outputs": TYPED, "completion": completion}) == {"ok": True, "fields": {"reasoning": "r", "score": 7, "tags": ["a", "b"]}}


def test_parse_answer_reports_dspys_parse_failure() -> None:
    result = parse_answer({"adapter": "chat", "outputs": TYPED, "completion": "[[ ## reasoning ## ]]\nr"})
    assert result["ok"] is False and "score" in result["reason"]


def test_parse_answer_runs_dspys_json_parse_with_repairs() -> None:
    result = parse_answer({"adapter": "json", "outputs": TYPED, "completion": '```json\n{"reasoning": "r", "score": "3", "tags": ["x",]}\n```'})
    assert result == {"ok": True, "fields": {"reasoning": "r", "score": 3, "tags": ["x"]}}


def test_parse_answer_works_whatever_the_outputs_are_named() -> None:
    outputs = {"question": {"type": "str"}, "text": {"type": "bool"}}
    assert parse_answer({"adapter": "chat", "outputs": outputs, "completion": "[[ ## question ## ]]\nq\n[[ ## text ## ]]\nyes"})["fields"] == {"question": "q", "text": True}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"adapter": "xml", "outputs": TYPED, "completion": ""}, "payload.adapter"),
        ({"adapter": "chat", "outputs": {}, "completion": ""}, "payload.outputs"),
        ({"adapter": "chat", "outputs": TYPED, "completion": 3}, "payload.completion"),
        ({"adapter": "chat", "outputs": {"a": {"type": "tuple"}}, "completion": ""}, "payload.outputs"),
    ],
)
def test_parse_answer_refuses_a_bad_payload(payload: dict, path: str) -> None:
    with pytest.raises(BridgeError) as raised:
        parse_answer(payload)
    assert raised.value.code == "BAD_MESSAGE" and raised.value.details["path"] == path


def test_lm_capabilities_from_dspys_model_metadata() -> None:
    assert lm_capabilities({"model": "openai/some-local-model", "api_base": "http://127.0.0.1:1/v1"}) == {"response_format": False, "response_schema": False}
    assert lm_capabilities({"model": "openai/gpt-4o-mini"}) == {"response_format": True, "response_schema": True}
    with pytest.raises(BridgeError):
        lm_capabilities({"model": ""})
