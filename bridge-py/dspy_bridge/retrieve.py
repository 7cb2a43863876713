"""The Retrieve module: the top k passages of a stored corpus for a query (no LM call).

The corpus is the server's (a Corpus with embedded Documents); the run names the version of it the
worker must hold (`corpora` of the run: corpus id → hash, checked before the run starts, so a worker
that lacks it answers UNKNOWN_CORPUS and is sent it). Search is corpora.search, on DSPy's
dspy.retrievers.Embeddings over the stored vectors.
"""

from __future__ import annotations

from typing import Any

import dspy

from .corpora import search
from .errors import BridgeError
from .run_context import current


class RetrieveModule(dspy.Module):
    def __init__(self, corpus_id: str, k: int) -> None:
        super().__init__()
        self.corpus_id = corpus_id
        self.k = k

    def forward(self, query: str, **_: Any) -> dspy.Prediction:
        corpus_hash = current().corpora.get(self.corpus_id)
        if corpus_hash is None:
            raise BridgeError("UNKNOWN_CORPUS", "protocol", f"corpus '{self.corpus_id}' was not named by this run", False, {"corpus_key": self.corpus_id})
        hits = search(self.corpus_id, corpus_hash, str(query), self.k)
        return dspy.Prediction(passages=[hit["text"] for hit in hits], ids=[hit["id"] for hit in hits], scores=[hit["score"] for hit in hits])


class ColBERTv2Module(dspy.Module):
    """The top k passages of a ColBERTv2 server (dspy.ColBERTv2: GET <url>?query=…&k=…).

    The connection goes through the worker's egress guard, like LM requests; DSPy caches answers."""

    def __init__(self, url: str, k: int) -> None:
        super().__init__()
        self.server = dspy.ColBERTv2(url=url)
        self.k = k

    def forward(self, query: str, **_: Any) -> dspy.Prediction:
        hits = self.server(str(query), k=self.k)
        return dspy.Prediction(passages=[hit["long_text"] for hit in hits], scores=[hit.get("score") for hit in hits])
