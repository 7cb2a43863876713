"""Prove DSPy programs run against the local llama.cpp server.

Runs in the worker's venv (dspy); the server runs in bridge-py/.venv-llm (scripts/ensure-llm.sh).

    cd bridge-py && .venv/bin/python -m llm.smoke   # working config, asserts parsing
    python -m llm.smoke --eval                      # compare adapters, print rates/latency
    python -m llm.smoke --eval --model smollm2 --chat-format plain

Three signatures (str answer, int answer, Literal['positive','negative']) x 10
questions. "parsed" = DSPy returned a Prediction whose fields have the declared
types; "correct" (informational) = the answer matches the expected one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")  # no 5 s metadata fetch from the net

import dspy  # noqa: E402

if __package__ in (None, ""):  # allow `python llm/smoke.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from llm.serve import LlamaServer
else:
    from .serve import LlamaServer
from dspy_bridge.adapters import StructuredJSONAdapter  # noqa: E402


class IntQA(dspy.Signature):
    """Answer with a single whole number."""

    question: str = dspy.InputField()
    answer: int = dspy.OutputField()


class Sentiment(dspy.Signature):
    """Classify the sentiment of the text."""

    text: str = dspy.InputField()
    sentiment: Literal["positive", "negative"] = dspy.OutputField()


QA = [
    ("What is the capital of France?", "paris"),
    ("What color is the sky on a clear day?", "blue"),
    ("What is the largest planet in our solar system?", "jupiter"),
    ("Who wrote Romeo and Juliet?", "shakespeare"),
    ("What is the chemical symbol for water?", "h2o"),
    ("What is the opposite of hot?", "cold"),
    ("What language is spoken in Spain?", "spanish"),
    ("Which animal says meow?", "cat"),
    ("What is the capital of Japan?", "tokyo"),
    ("What do bees make?", "honey"),
]
INTS = [
    ("What is 2 + 3?", 5),
    ("How many days are in a week?", 7),
    ("What is 10 minus 4?", 6),
    ("How many legs does a dog have?", 4),
    ("What is 3 times 3?", 9),
    ("How many months are in a year?", 12),
    ("What is 100 divided by 10?", 10),
    ("How many sides does a triangle have?", 3),
    ("What is 7 + 8?", 15),
    ("How many hours are in a day?", 24),
]
SENTS = [
    ("I love this movie, it was wonderful!", "positive"),
    ("This is the worst meal I have ever eaten.", "negative"),
    ("What a fantastic day, everything went great.", "positive"),
    ("I hate waiting in long lines.", "negative"),
    ("The service was excellent and the staff were friendly.", "positive"),
    ("My phone broke after one day. Terrible.", "negative"),
    ("I am so happy with my new bike.", "positive"),
    ("The film was boring and far too long.", "negative"),
    ("Great product, works perfectly, highly recommend.", "positive"),
    ("I am very disappointed and angry.", "negative"),
]


def tasks():
    for q, exp in QA:
        yield "str", dspy.Predict("question -> answer"), {"question": q}, exp
    for q, exp in INTS:
        yield "int", dspy.Predict(IntQA), {"question": q}, exp
    for t, exp in SENTS:
        yield "literal", dspy.Predict(Sentiment), {"text": t}, exp


def check(kind, pred, exp):
    """(parsed, correct)"""
    if kind == "str":
        v = pred.answer
        return isinstance(v, str) and v.strip() != "", isinstance(v, str) and exp in v.lower()
    if kind == "int":
        v = pred.answer
        return isinstance(v, int) and not isinstance(v, bool), v == exp
    v = pred.sentiment
    return v in ("positive", "negative"), v == exp


def make_lm(url, model_name="openai/gemma", max_tokens=256):
    return dspy.LM(model_name, api_base=url, api_key="local", temperature=0, max_tokens=max_tokens,
                   cache=False, num_retries=0)


ADAPTERS = {
    # name: (adapter factory, dspy model string)
    "chat": (lambda: dspy.ChatAdapter(), "openai/gemma"),
    "chat-nofallback": (lambda: dspy.ChatAdapter(use_json_adapter_fallback=False), "openai/gemma"),
    "json": (lambda: dspy.JSONAdapter(), "openai/gemma"),
    "json-schema": (lambda: StructuredJSONAdapter(), "openai/gemma"),
    # stock JSONAdapter sends the schema by itself when the model *name* is one
    # DSPy's metadata marks as supporting structured output (server ignores the name)
    "json-known-name": (lambda: dspy.JSONAdapter(), "openai/gpt-4o-mini"),
}


def run(url, adapter_name, verbose=False, max_tokens=256):
    factory, model_name = ADAPTERS[adapter_name]
    lm = make_lm(url, model_name, max_tokens)
    rows = []
    with dspy.context(lm=lm, adapter=factory()):
        for kind, prog, inputs, exp in tasks():
            n0 = len(lm.history)
            t0 = time.perf_counter()
            try:
                pred = prog(**inputs)
                parsed, correct = check(kind, pred, exp)
                out = dict(pred)
            except Exception as e:  # AdapterParseError etc.
                parsed, correct, out = False, False, f"{type(e).__name__}"
            dt = time.perf_counter() - t0
            rows.append((kind, parsed, correct, dt, len(lm.history) - n0))
            if verbose:
                print(f"  [{kind}] {inputs} -> {out!r:.100} parsed={parsed} correct={correct} {dt:.2f}s")
    return rows


def summarize(name, rows):
    lines = []
    for kind in ("str", "int", "literal", "all"):
        rs = [r for r in rows if kind == "all" or r[0] == kind]
        lat = [r[3] for r in rs]
        lines.append(
            f"{name:16s} {kind:8s} parsed {sum(r[1] for r in rs):2d}/{len(rs)}  correct {sum(r[2] for r in rs):2d}/{len(rs)}"
            f"  latency mean {statistics.mean(lat):.2f}s median {statistics.median(lat):.2f}s max {max(lat):.2f}s"
            f"  LM calls {sum(r[4] for r in rs)}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gemma")
    p.add_argument("--chat-format", default=None)
    p.add_argument("--eval", action="store_true", help="compare all adapters instead of asserting the working one")
    p.add_argument("--adapters", default=",".join(ADAPTERS))
    p.add_argument("--dspy-chat-grammar", action="store_true",
                   help="start the server with its DSPy ChatAdapter grammar (then the default ChatAdapter works)")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    with LlamaServer(model=a.model, chat_format=a.chat_format, dspy_chat_grammar=a.dspy_chat_grammar) as url:
        print(f"server {url} ready in {time.perf_counter() - t0:.1f}s (model={a.model}, chat_format={a.chat_format}, "
              f"dspy_chat_grammar={a.dspy_chat_grammar}, max_tokens={a.max_tokens})", flush=True)
        if a.eval:
            for name in a.adapters.split(","):
                rows = run(url, name, a.verbose, a.max_tokens)
                print(summarize(name, rows), flush=True)
            return 0
        name = "chat" if a.dspy_chat_grammar else "json-schema"
        rows = run(url, name, a.verbose, a.max_tokens)
        print(summarize(name, rows))
        bad = [r for r in rows if not r[1]]
        assert not bad, f"{len(bad)} outputs did not parse into the signature's fields"
        print("OK: all outputs parsed into the signatures' fields")
    return 0


if __name__ == "__main__":
    sys.exit(main())
