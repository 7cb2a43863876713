"""Language models from `configure_lm` configs (PROTOCOL.md "LM config").

`model: "dummy"` builds DSPy's DummyLM (scripted answers); anything else a dspy.LM. The API key is
held only inside the LM object, registered for redaction, and never logged or returned. `adapter`
names the DSPy adapter runs with this LM use (adapters.py); without it, DSPy's default.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.utils.dummies import DummyLM

from . import egress
from .lm_gate import tag
from .adapters import ADAPTER_NAMES, build_adapter
from .errors import bad_message, register_secret

CONFIG_KEYS = ("model", "api_base", "api_key", "temperature", "max_tokens", "cache", "answers", "num_retries", "timeout", "adapter", "egress_allow")
# LM timeouts derived from request deadlines are rounded up to a power of two seconds: DSPy keys
# its connection pools (and its cache) by timeout, so arbitrary values would grow both without bound.
MIN_TIMEOUT_S = 1
KEYLESS_PLACEHOLDER = "no-key-needed"
MAX_TIMEOUT_S = 1024


@dataclass
class LMEntry:
    """A configured LM, and what each run gets from it (see for_run)."""

    lm: dspy.BaseLM
    model: str
    dummy_answers: Any = None  # set for model "dummy"
    explicit_timeout: bool = False
    adapter: dspy.Adapter | None = None  # None: DSPy's default (ChatAdapter)
    # The lm_key it is held under (Registry.configure_lm): every LM for_run gives out carries it, so a
    # request's LM calls are limited and counted per key (lm_gate.py).
    key: str | None = None
    _by_timeout: dict[int, dspy.BaseLM] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def held_as(self, lm_key: str) -> LMEntry:
        """Records the key it is held under, on itself and on its LM (copies made from it inherit the tag)."""
        self.key = lm_key
        tag(self.lm, lm_key)
        return self

    @property
    def dummy(self) -> bool:
        return self.dummy_answers is not None

    def for_run(self, deadline_ms: float | None = None) -> dspy.BaseLM:
        """The LM one run uses.

        - dummy: a fresh DummyLM, so a list of answers starts from its first answer in every run,
          whichever worker serves it and however many runs came before (PROTOCOL.md);
        - otherwise the configured dspy.LM, bounded by the request's deadline: a copy whose timeout
          is the deadline rounded up to a power of two seconds (unless the config set a timeout).
        """
        return self._keyed(self._for_run(deadline_ms))

    def _keyed(self, lm: dspy.BaseLM) -> dspy.BaseLM:
        return tag(lm, self.key) if self.key is not None else lm

    def _for_run(self, deadline_ms: float | None) -> dspy.BaseLM:
        if self.dummy:
            # DummyLM writes its answers in the format of the adapter the run uses.
            return DummyLM(copy.deepcopy(self.dummy_answers), follow_examples=False, adapter=self.adapter)
        if self.explicit_timeout or deadline_ms is None:
            return self.lm
        seconds = max(MIN_TIMEOUT_S, min(MAX_TIMEOUT_S, 2 ** math.ceil(math.log2(max(deadline_ms, 1) / 1000))))
        with self._lock:
            lm = self._by_timeout.get(seconds)
            if lm is None:
                # copy() shares DSPy's engines and keeps the API key; only the timeout differs.
                lm = self._by_timeout[seconds] = self.lm.copy(timeout=seconds)
            return lm


def build_lm(config: Any) -> LMEntry:
    """Validates a config and builds its LM; BAD_MESSAGE (with the offending key) when it does not fit."""
    if not isinstance(config, dict):
        raise bad_message("config must be an object")
    unknown = [key for key in config if key not in CONFIG_KEYS]
    if unknown:
        raise bad_message(f"unknown LM config key '{unknown[0]}' (expected {', '.join(CONFIG_KEYS)})", path=f"config.{unknown[0]}")
    model = config.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_message("config.model must be a non-empty string", path="config.model")
    adapter = _adapter(config)
    allow = config.get("egress_allow")
    if allow is not None and not (isinstance(allow, list) and all(isinstance(entry, str) for entry in allow)):
        raise bad_message("config.egress_allow must be a list of strings", path="config.egress_allow")
    egress.configure(allow)
    if model == "dummy":
        answers = config.get("answers")
        return LMEntry(_dummy(answers), model, dummy_answers=copy.deepcopy(answers), adapter=adapter)

    kwargs: dict[str, Any] = {}
    _optional(config, "api_base", str, kwargs)
    _optional(config, "api_key", str, kwargs)
    _optional(config, "temperature", (int, float), kwargs)
    _optional(config, "max_tokens", int, kwargs)
    _optional(config, "cache", bool, kwargs)
    _optional(config, "num_retries", int, kwargs)
    _optional(config, "timeout", (int, float), kwargs)
    if kwargs.setdefault("num_retries", 0) < 0:
        # Default 0: a failed execution is retried by the product, not inside one request.
        raise bad_message("config.num_retries must be >= 0", path="config.num_retries")
    if "timeout" in kwargs and not kwargs["timeout"] > 0:
        raise bad_message("config.timeout must be > 0 (seconds)", path="config.timeout")
    register_secret(kwargs.get("api_key"))
    _keyless_endpoint(model, kwargs)
    try:
        lm = dspy.LM(model, **kwargs)
    except Exception as exc:  # DSPy refuses some settings up front (e.g. reasoning models)
        raise bad_message(f"DSPy refused the LM config: {type(exc).__name__}: {exc}", path="config") from None
    return LMEntry(lm, model, explicit_timeout="timeout" in kwargs, adapter=adapter)


def _adapter(config: dict[str, Any]) -> dspy.Adapter | None:
    name = config.get("adapter")
    if name is None:
        return None
    if not isinstance(name, str) or name not in ADAPTER_NAMES:
        raise bad_message(f"config.adapter must be one of {', '.join(ADAPTER_NAMES)}", path="config.adapter")
    return build_adapter(name)


def _keyless_endpoint(model: str, kwargs: dict[str, Any]) -> None:
    """An explicit api_base without an api_key is a server that needs none (llama.cpp, vLLM, a test
    double): DSPy refuses to call an OpenAI-style endpoint without a key, so send a placeholder.
    A key in the worker's environment (e.g. OPENAI_API_KEY) still wins."""
    if "api_key" in kwargs or "api_base" not in kwargs:
        return
    provider = model.split("/", 1)[0].upper().replace("-", "_")
    if not os.environ.get(f"{provider}_API_KEY"):
        kwargs["api_key"] = KEYLESS_PLACEHOLDER


def _optional(config: dict[str, Any], key: str, types: type | tuple[type, ...], out: dict[str, Any]) -> None:
    if key not in config or config[key] is None:
        return
    value = config[key]
    if isinstance(value, bool) and types is not bool:
        raise bad_message(f"config.{key} has the wrong type", path=f"config.{key}")
    if not isinstance(value, types):
        raise bad_message(f"config.{key} has the wrong type", path=f"config.{key}")
    out[key] = value


def _dummy(answers: Any) -> DummyLM:
    """DummyLM(answers): a list of dicts answered in turn, or a dict of prompt substring → dict."""
    if isinstance(answers, list):
        if not all(isinstance(a, dict) for a in answers):
            raise bad_message("config.answers must be a list of objects", path="config.answers")
    elif isinstance(answers, dict):
        if not all(isinstance(a, dict) for a in answers.values()):
            raise bad_message("config.answers must map prompt substrings to objects", path="config.answers")
    else:
        raise bad_message(
            "the dummy model needs config.answers: a list of objects, or an object mapping a substring of the prompt to an object",
            path="config.answers",
        )
    return DummyLM(answers, follow_examples=False)
