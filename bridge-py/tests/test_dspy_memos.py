"""dspy_memos: what is remembered of DSPy's serialize_for_json and model_info is what DSPy's own give."""

from __future__ import annotations

import datetime
import importlib
from typing import Any

import dspy.adapters.utils as dspy_utils
import dspy.clients.model_metadata as dspy_model_metadata
import pydantic

from dspy_bridge import dspy_memos


class Point(pydantic.BaseModel):
    x: int


class Text(str):
    pass


class Unprintable:
    def __str__(self) -> str:
        return "unprintable"


VALUES: list[Any] = [
    "Capital of France?", "", 3, -7, 2.5, float("nan"), True, None,
    [1, "a", None, [2.0]], {"a": 1, "b": [True, {"c": None}]}, (1, "two"),
    {"when": datetime.date(2026, 12, 4), "obj": Unprintable()}, [Point(x=1), Unprintable()],
    Point(x=2), Text("subclass"), datetime.datetime(2026, 12, 4, 22, 0), Unprintable(), {1: "int key"},
]


def test_serialize_for_json_gives_dspys_output_for_every_kind_of_value() -> None:
    dspy_memos.install()
    fast = dspy_utils.serialize_for_json
    original = fast.original  # type: ignore[attr-defined]
    for value in VALUES:
        assert repr(fast(value)) == repr(original(value)), repr(value)


MODELS: list[tuple[Any, Any, Any]] = [
    ("openai", "gpt-4o-mini", None),
    ("openai", "bench-model", None),  # named nowhere: DSPy scans every entry's aliases
    ("anthropic", "claude-3-5-sonnet-20241022", None),
    ("openai", "gpt-4o-mini", ()),  # declared with no namespace: nothing
    ("openai", "gpt-4o-mini", ("openai",)),
    ("vllm", "meta-llama/Llama-3.1-8B-Instruct", None),
    ("nonsense-provider", "x", None),
]


def test_model_info_gives_dspys_answer_each_time_and_a_copy_of_its_own() -> None:
    dspy_memos.install()
    fast = dspy_model_metadata.model_info
    original = fast.original  # type: ignore[attr-defined]
    assert original("openai", "gpt-4o-mini"), "the snapshot knows gpt-4o-mini: the comparison covers a found entry"
    for provider, model, namespaces in MODELS:
        expected = original(provider, model, namespaces=namespaces)
        first = fast(provider, model, namespaces=namespaces)
        assert first == expected, (provider, model, namespaces)
        first["input_cost_per_token"] = "changed by a caller"  # a caller's copy: the next one is untouched
        assert fast(provider, model, namespaces=namespaces) == expected, (provider, model, namespaces)
    # Unhashable arguments are DSPy's business, not a crash here.
    assert fast("openai", "gpt-4o-mini", namespaces=[["openai"]]) == original("openai", "gpt-4o-mini", namespaces=[["openai"]])


def test_install_reaches_every_dspy_module_that_imported_them_and_is_idempotent() -> None:
    dspy_memos.install()
    serialize, info = dspy_utils.serialize_for_json, dspy_model_metadata.model_info
    dspy_memos.install()
    assert dspy_utils.serialize_for_json is serialize and dspy_model_metadata.model_info is info
    assert not hasattr(serialize.original, "original") and not hasattr(info.original, "original")  # type: ignore[attr-defined]
    for name in dspy_memos.SERIALIZE_USERS:
        assert importlib.import_module(name).serialize_for_json is serialize, name
    for name in dspy_memos.MODEL_INFO_USERS:
        assert importlib.import_module(name).model_info is info, name
