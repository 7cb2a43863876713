"""serialize_cache: DSPy's serialize_for_json with the plain types' TypeAdapter made once gives what DSPy's gives."""

from __future__ import annotations

import datetime
import importlib
from typing import Any

import dspy.adapters.utils as dspy_utils
import pydantic

from dspy_bridge import serialize_cache


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


def test_the_remembering_function_gives_dspys_output_for_every_kind_of_value() -> None:
    serialize_cache.install()
    fast = dspy_utils.serialize_for_json
    original = fast.original  # type: ignore[attr-defined]
    for value in VALUES:
        assert repr(fast(value)) == repr(original(value)), repr(value)


def test_install_reaches_every_dspy_module_that_imported_it_and_is_idempotent() -> None:
    serialize_cache.install()
    installed = dspy_utils.serialize_for_json
    serialize_cache.install()
    assert dspy_utils.serialize_for_json is installed
    assert not hasattr(installed.original, "original")  # type: ignore[attr-defined]
    for name in serialize_cache._USERS:
        module = importlib.import_module(name)
        assert module.serialize_for_json is installed, name
