"""callback_dispatch: the remembered choice of a callback's handler is DSPy's own, for every kind of call."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import dspy
import dspy.utils.callback as dspy_callback
from dspy.utils.callback import BaseCallback
from dspy.utils.dummies import DummyLM

from dspy_bridge import callback_dispatch


class Recorder(BaseCallback):
    """Records which handler DSPy called, for which kind of instance."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")
            return lambda **kwargs: calls.append(f"{name}:{type(kwargs.get('instance', None)).__name__}")
        return object.__getattribute__(self, name)


def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


def calls_made() -> list[str]:
    recorder = Recorder()
    lm = DummyLM([{"answer": "Paris"}, {"reasoning": "r", "answer": "Rome"}])
    with dspy.context(lm=lm, callbacks=[recorder]):
        dspy.Predict("question -> answer")(question="Capital of France?")
        dspy.ChainOfThought("question -> answer")(question="Capital of Italy?")
    with dspy.context(lm=DummyLM([{"answer": "y"}], adapter=dspy.JSONAdapter()), adapter=dspy.JSONAdapter(), callbacks=[recorder]):
        dspy.Predict("question -> answer")(question="again")
    with dspy.context(callbacks=[recorder]):
        dspy.Tool(add)(a=1, b=2)
    return recorder.calls


def test_the_remembered_choice_is_dspys_own_for_modules_adapters_lms_and_tools() -> None:
    callback_dispatch.install()
    remembered = calls_made()
    start, end = dspy_callback._get_on_start_handler, dspy_callback._get_on_end_handler
    try:
        dspy_callback._get_on_start_handler, dspy_callback._get_on_end_handler = start.original, end.original  # type: ignore[attr-defined]
        original = calls_made()
    finally:
        dspy_callback._get_on_start_handler, dspy_callback._get_on_end_handler = start, end
    assert remembered == original
    kinds = {call.split(":")[0] for call in remembered}
    # Every kind of call was seen, so the comparison covered each branch DSPy takes here.
    assert {"on_module_start", "on_module_end", "on_lm_start", "on_lm_end", "on_adapter_format_start", "on_adapter_parse_end", "on_tool_start", "on_tool_end"} <= kinds


def test_install_is_idempotent_and_keeps_dspys_chooser() -> None:
    callback_dispatch.install()
    first = dspy_callback._get_on_start_handler
    callback_dispatch.install()
    assert dspy_callback._get_on_start_handler is first
    assert not hasattr(first.original, "original")  # type: ignore[attr-defined]


class Shapes:
    def plain(self, a: int, b: int = 2) -> None: ...

    def star(self, a: int, *rest: int, key: str = "k", **extra: Any) -> None: ...

    def keyword_only(self, *, prompt: str | None = None, messages: list | None = None, **kwargs: Any) -> None: ...

    @dspy_callback.with_callbacks
    def wrapped(self, question: str) -> None: ...


def test_remembered_signatures_map_arguments_as_getcallargs_does() -> None:
    instance = Shapes()
    calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
        (Shapes.plain, (1,), {}),
        (Shapes.plain, (1, 3), {}),
        (Shapes.plain, (), {"b": 5, "a": 4}),
        (Shapes.star, (1, 2, 3), {"key": "x", "z": 9}),
        (Shapes.star, (1,), {}),
        (Shapes.keyword_only, (), {"prompt": "p", "temperature": 0.5}),
        # with_callbacks' wrapper: getcallargs reads the wrapper's own (instance, *args, **kwargs), not __wrapped__.
        (Shapes.wrapped, ("q",), {"extra": 1}),
    ]
    for fn, args, kwargs in calls:
        assert callback_dispatch.getcallargs(fn, instance, *args, **kwargs) == inspect.getcallargs(fn, instance, *args, **kwargs), fn.__name__
        # Twice: the second call reads the remembered signature.
        assert callback_dispatch.getcallargs(fn, instance, *args, **kwargs) == inspect.getcallargs(fn, instance, *args, **kwargs), fn.__name__
    for fn, args, kwargs in [(Shapes.plain, (), {}), (Shapes.plain, (1, 2, 3), {}), (Shapes.plain, (1,), {"c": 1})]:
        with pytest.raises(TypeError):
            inspect.getcallargs(fn, instance, *args, **kwargs)
        with pytest.raises(TypeError):
            callback_dispatch.getcallargs(fn, instance, *args, **kwargs)


def test_install_gives_dspy_the_remembering_getcallargs_and_the_rest_of_inspect() -> None:
    callback_dispatch.install()
    assert dspy_callback.inspect.getcallargs is callback_dispatch.getcallargs
    assert dspy_callback.inspect.iscoroutinefunction is inspect.iscoroutinefunction
