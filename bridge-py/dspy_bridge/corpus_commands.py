"""The worker's corpus commands (PROTOCOL.md "Corpora"): `embed`, `define_corpus`, `search`."""

from __future__ import annotations

from typing import Any

from . import corpora
from .corpora import encode_vector
from .embeddings import build_embedder, parse_model
from .errors import bad_message

COMMANDS = frozenset({"embed", "define_corpus", "search"})
# Texts one `embed` takes: the reply (384 floats a text, as JSON about 5 KB) stays far below 8 MiB.
MAX_EMBED_TEXTS = 512
VECTOR_ENCODINGS = ("list", "base64")


def handle(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    if command == "embed":
        return _embed(payload)
    if command == "define_corpus":
        return corpora.CORPORA.define(payload)
    if command == "search":
        corpus_key = _require_str(payload, "corpus_key")
        hash_ = _require_str(payload, "hash")
        return {"results": corpora.search(corpus_key, hash_, payload.get("query"), payload.get("k", 5))}
    raise AssertionError(command)


def _embed(payload: dict[str, Any]) -> dict[str, Any]:
    texts = payload.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise bad_message("payload.texts must be an array of strings", path="payload.texts")
    if len(texts) > MAX_EMBED_TEXTS:
        raise bad_message(f"payload.texts holds {len(texts)} texts; at most {MAX_EMBED_TEXTS} a request", path="payload.texts")
    for i, text in enumerate(texts):
        if len(text) > corpora.MAX_TEXT_CHARS:
            raise bad_message(f"payload.texts[{i}] is longer than {corpora.MAX_TEXT_CHARS} characters", path=f"payload.texts[{i}]")
    encoding = payload.get("encoding", "list")
    if encoding not in VECTOR_ENCODINGS:
        raise bad_message("payload.encoding must be 'list' or 'base64'", path="payload.encoding")
    vectors = build_embedder(parse_model(payload.get("model"), "payload.model"))(texts)
    dims = int(vectors.shape[1]) if vectors.ndim == 2 and len(texts) else 0
    rows = [encode_vector(v) for v in vectors] if encoding == "base64" else vectors.tolist()
    return {"vectors": rows, "dims": dims}


def _require_str(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise bad_message(f"payload.{key} must be a non-empty string", path=f"payload.{key}")
    return value
