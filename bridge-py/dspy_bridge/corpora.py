"""Corpora a worker holds, and search over them (PROTOCOL.md "Corpora").

A corpus is known by `(corpus_key, hash)`, as a program by `(version_id, hash)`: the server changes
the hash whenever the corpus changes. The worker keeps at most `max_corpora` (LRU) and answers
UNKNOWN_CORPUS (retriable) for one it does not hold; the server then sends it again with
`define_corpus` (rehydration), in parts when it is large.

`search(corpus_key, hash, query, k)` is what a Retrieve module calls:

    from dspy_bridge.corpora import search
    passages = search(corpus_key, corpus_hash, "what is the capital of France?", 3)
    # [{"id": "doc-1", "text": "Paris is ...", "score": 0.71}, ...]   best first, score = cosine
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from dspy.retrievers.embeddings import EmbeddingsWithScores

from .embeddings import EmbeddingModel, TextEmbedder, build_embedder, parse_model
from .errors import BridgeError, bad_message

DEFAULT_MAX_CORPORA = 16
MAX_K = 100
# Corpora being received in parts at once (each waits for its next part).
MAX_PENDING = 8
MAX_TEXT_CHARS = 100_000


class PrecomputedEmbeddings(EmbeddingsWithScores):
    """dspy.retrievers.Embeddings(WithScores) over vectors computed earlier.

    Why a subclass: `Embeddings.__init__` embeds the whole corpus itself (`self.embedder(corpus)`).
    The product embeds documents once, in a background job, and stores the vectors; a worker that is
    sent a corpus (or sent it again after a restart) must not embed thousands of documents again.
    So this sets what `__init__` sets from the vectors it is given (as DSPy's own `from_saved` does),
    and keeps DSPy's search: the query embedded by the same embedder, normalized, dot products,
    `_rerank_and_predict`'s top k.

    Two more departures, both about serving many requests from threads:
    - no `Unbatchify`: DSPy's batching thread waits up to 100 ms to fill a batch (latency on every
      search) and polls every 10 ms while idle, one thread per corpus held; a worker thread calls
      `_batch_forward` for its one query directly (it is read-only on the index, so thread-safe);
    - no FAISS: DSPy builds one above `brute_force_threshold` (20,000) documents and needs
      `faiss-cpu`, which is not a dependency; exact search stays fast at the sizes the server allows.
    """

    def __init__(self, corpus: list[str], vectors: np.ndarray, embedder: TextEmbedder) -> None:
        self.embedder = embedder
        self.corpus = corpus
        self.normalize = True
        # `_rerank_and_predict` cuts at self.k; searches ask for at most MAX_K and slice.
        self.k = min(MAX_K, len(corpus))
        self.corpus_embeddings = np.ascontiguousarray(self._normalize(np.asarray(vectors, dtype=np.float32)))
        self.index = None
        self.search_fn = self._search_one

    def _search_one(self, query: str) -> tuple[list[str], list[int], list[float]]:
        return self._batch_forward([query])[0]


@dataclass
class CorpusEntry:
    corpus_key: str
    hash: str
    model: EmbeddingModel
    ids: list[str]
    retriever: PrecomputedEmbeddings

    @property
    def size(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[dict[str, Any]]:
        if not self.ids:
            return []
        prediction = self.retriever(query)
        hits = zip(prediction.indices, prediction.passages, prediction.scores, strict=True)
        return [{"id": self.ids[i], "text": text, "score": float(score)} for i, text, score in list(hits)[:k]]


@dataclass
class _Pending:
    """A corpus arriving in parts (`offset` > 0 continues it)."""

    model: EmbeddingModel
    total: int
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)


class CorpusRegistry:
    """Thread-safe, bounded (least recently used goes first), like registry.py's programs."""

    def __init__(self, max_corpora: int = DEFAULT_MAX_CORPORA) -> None:
        self._lock = threading.Lock()
        self._corpora: OrderedDict[tuple[str, str], CorpusEntry] = OrderedDict()
        self._pending: OrderedDict[tuple[str, str], _Pending] = OrderedDict()
        self.max_corpora = max_corpora

    def define(self, payload: dict[str, Any]) -> dict[str, Any]:
        """`define_corpus`: one part (or all) of a corpus; the index is built once all parts are in."""
        corpus_key, hash_ = _str(payload, "corpus_key"), _str(payload, "hash")
        model = parse_model(payload.get("model"), "payload.model")
        documents = payload.get("documents")
        if not isinstance(documents, list):
            raise bad_message("payload.documents must be an array of {id, text}", path="payload.documents")
        ids, texts = _documents(documents)
        vectors = decode_vectors(payload.get("vectors"), len(documents))
        offset = _int(payload, "offset", 0)
        total = _int(payload, "total", len(documents))
        if offset + len(documents) > total:
            raise bad_message(f"payload.offset + {len(documents)} documents exceeds payload.total ({total})", path="payload.total")
        key = (corpus_key, hash_)
        with self._lock:
            if offset == 0:
                pending = _Pending(model, total)
            else:
                pending = self._pending.pop(key, None)  # type: ignore[assignment]
                if pending is None or len(pending.ids) != offset or pending.total != total or pending.model != model:
                    raise BridgeError(
                        "UNKNOWN_CORPUS",
                        "protocol",
                        f"a part at offset {offset} of corpus '{corpus_key}' arrived without the parts before it; send the corpus again from offset 0",
                        True,
                        {"corpus_key": corpus_key, "hash": hash_},
                    )
            pending.ids += ids
            pending.texts += texts
            if len(vectors):
                pending.vectors.append(vectors)
            if len(pending.ids) < total:
                self._pending[key] = pending
                self._pending.move_to_end(key)
                while len(self._pending) > MAX_PENDING:
                    self._pending.popitem(last=False)
                return {"corpus_key": corpus_key, "hash": hash_, "received": len(pending.ids), "total": total, "ready": False}
        entry = _build(corpus_key, hash_, pending)
        with self._lock:
            self._corpora[key] = entry
            self._corpora.move_to_end(key)
            while len(self._corpora) > self.max_corpora:
                self._corpora.popitem(last=False)
        return {"corpus_key": corpus_key, "hash": hash_, "received": total, "total": total, "ready": True, "dims": int(entry.retriever.corpus_embeddings.shape[1]) if entry.size else 0}

    def corpus(self, corpus_key: str, hash_: str) -> CorpusEntry:
        key = (corpus_key, hash_)
        with self._lock:
            entry = self._corpora.get(key)
            if entry is not None:
                self._corpora.move_to_end(key)
        if entry is None:
            raise BridgeError(
                "UNKNOWN_CORPUS",
                "protocol",
                f"this worker holds no corpus '{corpus_key}' with hash '{hash_}'",
                True,
                {"corpus_key": corpus_key, "hash": hash_},
            )
        return entry

    def held(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._corpora)


def _build(corpus_key: str, hash_: str, pending: _Pending) -> CorpusEntry:
    if len({v.shape[1] for v in pending.vectors}) > 1:
        raise bad_message("payload.vectors: every vector of a corpus must have the same dimensions", path="payload.vectors")
    embedder = build_embedder(pending.model)
    vectors = np.concatenate(pending.vectors) if pending.vectors else np.zeros((0, 0), dtype=np.float32)
    return CorpusEntry(corpus_key, hash_, pending.model, pending.ids, PrecomputedEmbeddings(pending.texts, vectors, embedder))


def _documents(documents: list[Any]) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for i, doc in enumerate(documents):
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not isinstance(doc.get("text"), str):
            raise bad_message(f"payload.documents[{i}] must be an object with string 'id' and 'text'", path=f"payload.documents[{i}]")
        if len(doc["text"]) > MAX_TEXT_CHARS:
            raise bad_message(f"payload.documents[{i}].text is longer than {MAX_TEXT_CHARS} characters", path=f"payload.documents[{i}].text")
        ids.append(doc["id"])
        texts.append(doc["text"])
    return ids, texts


def decode_vectors(value: Any, count: int) -> np.ndarray:
    """`vectors`: one per document, each a list of numbers or base64 of little-endian float32 (the
    server's stored form, a third of the JSON's size)."""
    if not isinstance(value, list) or len(value) != count:
        raise bad_message(f"payload.vectors must be an array of {count} vectors (one per document)", path="payload.vectors")
    rows: list[np.ndarray] = []
    for i, item in enumerate(value):
        try:
            if isinstance(item, str):
                row = np.frombuffer(base64.b64decode(item, validate=True), dtype="<f4")
            elif isinstance(item, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item):
                row = np.asarray(item, dtype=np.float32)
            else:
                raise ValueError("not a list of numbers or a base64 string")
        except ValueError as exc:
            raise bad_message(f"payload.vectors[{i}]: {exc}", path=f"payload.vectors[{i}]") from None
        if row.size == 0 or (rows and row.size != rows[0].size) or not np.all(np.isfinite(row)):
            raise bad_message(f"payload.vectors[{i}] must be non-empty, finite and as long as the others", path=f"payload.vectors[{i}]")
        rows.append(row)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)


def encode_vector(vector: np.ndarray) -> str:
    """base64 of little-endian float32: the compact form `decode_vectors` takes."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _str(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise bad_message(f"payload.{key} must be a non-empty string (at most 256 characters)", path=f"payload.{key}")
    return value


def _int(payload: dict[str, Any], key: str, default: int) -> int:
    value = payload.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_message(f"payload.{key} must be an integer >= 0", path=f"payload.{key}")
    return value


# The worker process's corpora: the worker's commands and `search` (a Retrieve module) share them.
CORPORA = CorpusRegistry()


def search(corpus_key: str, hash: str, query: str, k: int) -> list[dict[str, Any]]:
    """Top-k documents of a corpus this worker holds for `query`: `[{"id", "text", "score"}]`, best
    first, `score` the cosine similarity (-1 … 1). UNKNOWN_CORPUS (retriable) when the worker does
    not hold `(corpus_key, hash)`; the server then sends it (`define_corpus`) and retries."""
    if not isinstance(query, str):
        raise bad_message("query must be a string", path="payload.query")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise bad_message(f"k must be an integer from 1 to {MAX_K}", path="payload.k")
    return CORPORA.corpus(corpus_key, hash).search(query, k)
