"""Which handler of a callback DSPy calls, remembered per kind of call.

For every call it wraps (a module's forward, an adapter's format and parse, an LM call), DSPy picks each
callback's handler with a chain of isinstance checks (`dspy.utils.callback._get_on_start_handler` and
`_get_on_end_handler`), one of them against `dspy.CodeInterpreter`, a runtime-checkable Protocol: on
Python 3.11 that check walks the protocol's members every time, tens of µs. A run of a one-Predict program
makes about 20 such choices (5 wrapped calls, start and end, 2 or 3 callbacks): measured, most of the
worker's time above DSPy's own. The choice depends only on the instance's type, the wrapped function and
the instance's `supports_decision_requests` flag, so it is made once per such triple and remembered; the
handler is then read off the callback as DSPy would. DSPy is pinned (requirements.txt), and
tests/test_callback_dispatch.py checks the remembered choice against DSPy's own for every kind of call.

Before those choices, DSPy maps the call's arguments to their names with `inspect.getcallargs`, which
rebuilds the function's signature every time: 5 times a run, about 0.1 ms of a one-Predict run's 0.5 ms
(cProfile). The signature is remembered per function too, and the mapping made with it (`bind` and the
defaults, what getcallargs returns); tests/test_callback_dispatch.py checks it against getcallargs.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import dspy.utils.callback as dspy_callback

from .module_with import ModuleWith


class _HandlerName:
    """Stands in for a callback: the attribute DSPy asks for is the handler's name."""

    def __getattr__(self, name: str) -> str:
        return name


def remembered(choose: Callable[[Any, Any, Callable], Callable]) -> Callable[[Any, Any, Callable], Callable]:
    names: dict[tuple[type, Callable, bool], str] = {}
    asker = _HandlerName()

    def handler(callback: Any, instance: Any, fn: Callable) -> Callable:
        key = (type(instance), fn, getattr(instance, "supports_decision_requests", False) is True)
        name = names.get(key)
        if name is None:
            name = names[key] = choose(asker, instance, fn)
        return getattr(callback, name)

    handler.original = choose  # type: ignore[attr-defined]
    return handler


_signatures: dict[Callable, inspect.Signature] = {}


def getcallargs(fn: Callable, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`inspect.getcallargs`, with `fn`'s signature made once (as getcallargs, not following `__wrapped__`)."""
    signature = _signatures.get(fn)
    if signature is None:
        signature = _signatures[fn] = inspect.Signature.from_callable(fn, follow_wrapped=False)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def install() -> None:
    """Replaces DSPy's two choosers (looked up by name at each call) with remembering ones, and its
    `inspect` (read at each call) with one that remembers signatures; idempotent."""
    if hasattr(dspy_callback._get_on_start_handler, "original"):
        return
    dspy_callback._get_on_start_handler = remembered(dspy_callback._get_on_start_handler)
    dspy_callback._get_on_end_handler = remembered(dspy_callback._get_on_end_handler)
    # What DSPy's callback module sees as `inspect`: the module itself, but for getcallargs.
    dspy_callback.inspect = ModuleWith(inspect, getcallargs=getcallargs)  # type: ignore[assignment]
