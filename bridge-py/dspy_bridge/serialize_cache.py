"""DSPy's `serialize_for_json`, with the pydantic TypeAdapter of the plain types made once.

DSPy's adapters format every field value of every LM call with `serialize_for_json`, which builds a new
`TypeAdapter(type(value))` each time: 4 times in a one-Predict run, about 0.1 ms of its 0.45 ms. For a
value whose type is exactly one of PLAIN, the adapter of that type is made once and reused; its output
is the same, since it depends only on the type. Any other value (a subclass, a model, a numpy scalar)
goes to DSPy's own function. tests/test_serialize_cache.py checks the two agree.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import dspy.adapters.utils as dspy_utils
from pydantic import TypeAdapter

PLAIN: tuple[type, ...] = (str, int, float, bool, list, dict, tuple, type(None))

# Every DSPy module that calls serialize_for_json by a name of its own (`from … import`).
_USERS = ("dspy.adapters.utils", "dspy.adapters.base", "dspy.adapters.json_adapter", "dspy.adapters.xml_adapter", "dspy.primitives.repl_types")

_adapters: dict[type, TypeAdapter[Any]] = {t: TypeAdapter(t) for t in PLAIN}


def remembering(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def serialize_for_json(value: Any) -> Any:
        adapter = _adapters.get(type(value))
        if adapter is None:
            return original(value)
        try:
            return adapter.dump_python(value, mode="json", fallback=str)
        except Exception:
            return str(value)  # as DSPy's

    serialize_for_json.original = original  # type: ignore[attr-defined]
    return serialize_for_json


def install() -> None:
    """Puts the remembering function where each DSPy module looks it up; idempotent."""
    original = getattr(dspy_utils.serialize_for_json, "original", dspy_utils.serialize_for_json)
    replacement = dspy_utils.serialize_for_json if hasattr(dspy_utils.serialize_for_json, "original") else remembering(original)
    for name in _USERS:
        module = importlib.import_module(name)
        if getattr(module, "serialize_for_json", None) is original:
            module.serialize_for_json = replacement  # type: ignore[attr-defined]
