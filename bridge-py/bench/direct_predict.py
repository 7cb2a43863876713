"""Baseline for bench/pool: the same Predict + DummyLM run the worker does, called directly in Python.

`--n N`: warm up, time N runs back to back, print their p50/p99.
`--serve`: warm up, then for every line `N WARMUP` on stdin run WARMUP untimed and N timed runs back
to back and print one JSON line with the N times; bench/pool alternates these batches with batches
through the pool, so both sides see the same machine load.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BRIDGE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BRIDGE_DIR))  # for dspy_bridge

from dspy_bridge.lm import build_lm
from dspy_bridge.program_builder import ProgramBuilder
from dspy_bridge.registry import ProgramEntry
from dspy_bridge.runner import run_program

DEFINITION = {
    "inputs": {"question": {"type": "str"}},
    "modules": {"answer": {"type": "Predict", "signature": "question -> answer"}},
    "forward": [{"call": "answer", "with": {"question": "$input.question"}, "as": "a"}, {"return": {"answer": "$a.answer"}}],
}


def normalized(definition: dict) -> dict:
    """The program as the server normalizes it (dist/src/cli/normalizeDefinition.js; the worker receives only that)."""
    cli = BRIDGE_DIR.parent / "dist" / "src" / "cli" / "normalizeDefinition.js"
    out = subprocess.run(["node", str(cli)], input=json.dumps(definition), capture_output=True, text=True, check=True).stdout
    program = json.loads(out)
    if "issues" in program:
        raise SystemExit(f"invalid definition: {program['issues']}")
    return program


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    program = normalized(DEFINITION)
    entry = ProgramEntry("bench", "bench", program, ProgramBuilder.build(program))
    lm = build_lm({"model": "dummy", "cache": False, "answers": [{"answer": "Paris"}]})
    for _ in range(50):
        run_program(entry, lm, {"question": "warm"})

    def timed(n: int) -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            run_program(entry, lm, {"question": "Capital of France?"})
            samples.append((time.perf_counter() - started) * 1000)
        return samples

    if args.serve:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            n, warmup = (int(x) for x in line.split())
            for _ in range(warmup):
                run_program(entry, lm, {"question": "warm"})
            print(json.dumps({"samples_ms": timed(n)}), flush=True)
        return
    samples = sorted(timed(args.n))
    print(json.dumps({"p50_ms": statistics.median(samples), "p99_ms": samples[min(len(samples) - 1, int(0.99 * len(samples)))], "n": args.n}))


if __name__ == "__main__":
    main()
