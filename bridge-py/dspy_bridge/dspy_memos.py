"""What DSPy works out again on every LM call although it cannot have changed, remembered here.

- `serialize_for_json`: DSPy's adapters format every field value of every LM call with it, and it builds
  a new pydantic `TypeAdapter(type(value))` each time: 4 times in a one-Predict run, about 0.1 ms of its
  0.45 ms. For a value whose type is exactly one of PLAIN, the adapter of that type is made once and
  reused; its output is the same, since it depends only on the type. Any other value (a subclass, a
  model, a numpy scalar) goes to DSPy's own function.
- `model_info`: the metadata of a model (capabilities, prices) from DSPy's bundled snapshot, read twice
  per LM call (capabilities, cost). For a model the snapshot does not name (a self-hosted one, an
  OpenAI-compatible server's own name) it scans every entry's aliases: ~1.5 ms a call in a profile of
  the worker, most of a 1 ms LM's run. The snapshot never changes once loaded, so the answer is kept per
  (provider, model, namespaces), and each caller gets its own copy, as from DSPy's.

DSPy is pinned (requirements.txt); tests/test_dspy_memos.py checks each remembered answer against DSPy's.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any, Callable

import dspy.adapters.utils as dspy_utils
import dspy.clients.model_metadata as dspy_model_metadata
from pydantic import TypeAdapter

PLAIN: tuple[type, ...] = (str, int, float, bool, list, dict, tuple, type(None))
# Models remembered at most (a worker holds up to --max-lms LMs); past it the memory starts again.
MAX_MODEL_INFOS = 1024

# Every DSPy module that calls a remembered function by a name of its own (`from … import`).
SERIALIZE_USERS = ("dspy.adapters.utils", "dspy.adapters.base", "dspy.adapters.json_adapter", "dspy.adapters.xml_adapter", "dspy.primitives.repl_types")
MODEL_INFO_USERS = ("dspy.clients.model_metadata", "dspy.clients.costs", "dspy.clients.capabilities")

_adapters: dict[type, TypeAdapter[Any]] = {t: TypeAdapter(t) for t in PLAIN}


def remembering_serialize(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
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


def remembering_model_info(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    infos: dict[tuple[Any, ...], dict[str, Any]] = {}

    def model_info(provider: Any, model: Any, *, namespaces: Any = None) -> dict[str, Any]:
        try:
            key = (provider, model, None if namespaces is None else tuple(namespaces))
            hash(key)
        except TypeError:  # not something a model is named by: DSPy's answer, whatever it is
            return original(provider, model, namespaces=namespaces)
        info = infos.get(key)
        if info is None:
            if len(infos) >= MAX_MODEL_INFOS:
                infos.clear()
            info = infos[key] = original(provider, model, namespaces=namespaces)
        return copy.deepcopy(info)

    model_info.original = original  # type: ignore[attr-defined]
    return model_info


def _replace(users: tuple[str, ...], module: Any, name: str, remembering: Callable[[Any], Any]) -> None:
    current = getattr(module, name)
    original = getattr(current, "original", current)
    replacement = current if hasattr(current, "original") else remembering(original)
    for user in users:
        imported = importlib.import_module(user)
        if getattr(imported, name, None) is original:
            setattr(imported, name, replacement)


def install() -> None:
    """Puts the remembering functions where each DSPy module looks them up; idempotent."""
    _replace(SERIALIZE_USERS, dspy_utils, "serialize_for_json", remembering_serialize)
    _replace(MODEL_INFO_USERS, dspy_model_metadata, "model_info", remembering_model_info)
