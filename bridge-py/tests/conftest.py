"""Shared fixtures: the DESIGN.md example definition and a worker-side registry.

The worker receives programs in normalized form, from the server's one validator; tests get that
form the same way (`normalize`, through dist/src/cli/normalizeDefinition.js, built by `npm run build`).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BRIDGE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BRIDGE_DIR))
# As the worker does: no network fetch of model prices when litellm/DSPy first need them.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")



@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on 127.0.0.1 (a port the OS picks) from a daemon thread, for the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def reply_json(handler: BaseHTTPRequestHandler, payload: object) -> None:
    """A fake HTTP server's answer: `payload` as JSON, status 200."""
    body = json.dumps(payload).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


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


@functools.lru_cache(maxsize=256)
def _normalize(definition_json: str) -> str:
    cli = BRIDGE_DIR.parent / "dist" / "src" / "cli" / "normalizeDefinition.js"
    if not cli.exists():
        raise RuntimeError(f"{cli} is missing: run `npm run build` first (the test suite does)")
    return subprocess.run(["node", str(cli)], input=definition_json, capture_output=True, text=True, check=True).stdout


def normalize(definition: dict) -> dict:
    """The server's normalized program for a definition (or {"issues": [...]} when it is invalid)."""
    return json.loads(_normalize(json.dumps(definition, sort_keys=True)))


def program_of(definition: dict) -> dict:
    """As normalize, for a definition that must be valid."""
    program = normalize(definition)
    assert "issues" not in program, program
    return program


def inputs_schema(program: dict) -> dict:
    """What the server sends as `inputs_schema` with a program (src/programs/validateProgramInputs.ts)."""
    return json.loads(_inputs_schema(json.dumps(program, sort_keys=True)))


@functools.lru_cache(maxsize=256)
def _inputs_schema(program_json: str) -> str:
    cli = BRIDGE_DIR.parent / "dist" / "src" / "cli" / "normalizeDefinition.js"
    return subprocess.run(["node", str(cli), "--inputs-schema"], input=program_json, capture_output=True, text=True, check=True).stdout


def define(registry, version_id: str, hash_: str, definition: dict, compiled_state=None):
    """registry.define_program with what the server sends: the normalized program and its inputs schema."""
    program = program_of(definition)
    return registry.define_program(version_id, hash_, program, compiled_state, inputs_schema(program))


def wire(definition: dict) -> dict:
    """define_program's payload fields for a definition, as the server sends them."""
    program = program_of(definition)
    return {"program": program, "inputs_schema": inputs_schema(program)}


@pytest.fixture
def qa_program() -> dict:
    return program_of(QA_DEFINITION)


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
