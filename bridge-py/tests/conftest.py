"""Shared fixtures: the DESIGN.md example definition and a worker-side registry."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

BRIDGE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BRIDGE_DIR))
# As the worker does: no network fetch of model prices when litellm/DSPy first need them.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

QA_DEFINITION = {
    "inputs": {"context": {"type": "list[str]"}, "question": {"type": "str"}},
    "modules": {
        "generate": {
            "type": "ChainOfThought",
            "signature": {
                "instructions": "Answer the question from the context.",
                "inputs": {"context": {"type": "list[str]", "desc": "passages"}, "question": {"type": "str"}},
                "outputs": {"answer": {"type": "str", "desc": "a short answer"}},
            },
        }
    },
    "forward": [
        {"call": "generate", "with": {"context": "$input.context", "question": "$input.question"}, "as": "gen"},
        {"return": {"answer": "$gen.answer"}},
    ],
}

QA_INPUTS = {"context": ["Paris is the capital of France."], "question": "What is the capital of France?"}


@pytest.fixture
def qa_definition() -> dict:
    return copy.deepcopy(QA_DEFINITION)


@pytest.fixture
def two_step_definition() -> dict:
    """ChainOfThought, then a Predict fed with its reasoning."""
    d = copy.deepcopy(QA_DEFINITION)
    d["modules"]["summarize"] = {
        "type": "Predict",
        "signature": {"inputs": {"rationale": "str", "answer": "str"}, "outputs": {"summary": "str"}},
    }
    d["forward"] = [
        d["forward"][0],
        {"call": "summarize", "with": {"rationale": "$gen.reasoning", "answer": "$gen.answer"}, "as": "sum"},
        {"return": {"summary": "$sum.summary", "answer": "$gen.answer"}},
    ]
    return d


@pytest.fixture
def registry():
    from dspy_bridge.registry import Registry

    return Registry()
