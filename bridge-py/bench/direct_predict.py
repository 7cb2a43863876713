"""Baseline for bench/pool: the same Predict + DummyLM run the worker does, called directly in Python."""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bridge-py, for dspy_bridge

from dspy_bridge.definition import validate_definition
from dspy_bridge.lm import build_lm
from dspy_bridge.program_builder import ProgramBuilder
from dspy_bridge.registry import ProgramEntry
from dspy_bridge.runner import run_program

DEFINITION = {
    "inputs": {"question": {"type": "str"}},
    "modules": {"answer": {"type": "Predict", "signature": "question -> answer"}},
    "forward": [{"call": "answer", "with": {"question": "$input.question"}, "as": "a"}, {"return": {"answer": "$a.answer"}}],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    program = validate_definition(DEFINITION).program
    entry = ProgramEntry("bench", "bench", program, ProgramBuilder.build(program))
    lm = build_lm({"model": "dummy", "cache": False, "answers": [{"answer": "Paris"}]})
    for _ in range(50):
        run_program(entry, lm, {"question": "warm"})
    samples = []
    for _ in range(args.n):
        started = time.perf_counter()
        run_program(entry, lm, {"question": "Capital of France?"})
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    print(json.dumps({"p50_ms": statistics.median(samples), "p99_ms": samples[min(len(samples) - 1, int(0.99 * len(samples)))], "n": args.n}))


if __name__ == "__main__":
    main()
