"""The Retrieve module: the top k passages of a stored corpus for a query (no LM call)."""

from __future__ import annotations

from typing import Any

import dspy

from .errors import BridgeError


class RetrieveModule(dspy.Module):
    def __init__(self, corpus_id: str, k: int) -> None:
        super().__init__()
        self.corpus_id = corpus_id
        self.k = k

    def forward(self, query: str, **_: Any) -> dspy.Prediction:
        raise BridgeError("UNSUPPORTED", "worker", f"corpus '{self.corpus_id}': retrieval is not available on this worker yet", False)
