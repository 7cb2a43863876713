"""The sandbox ProgramOfThought runs model-written code in: DSPy's PythonInterpreter (Pyodide in Deno).

DSPy 3.4.1's runner (dspy/primitives/runner.js) imports Pyodide from npm and one helper of Deno's
standard library from https://deno.land, which the registries this product installs from do not serve:
an import map points that helper at readlines.ts here, and the runner itself is DSPy's, unchanged.
Deno comes from PyPI (the `deno` wheel, dspy's [deno] extra). Pyodide is fetched from npm once, at
install (`python -m dspy_bridge.sandbox`, run by scripts/ensure-python.sh), into bridge-py/.deno; runs
use `--cached-only`, so nothing is downloaded while a program runs.

The code gets no network, no environment and no files beyond the runner's own (Deno's permissions),
and each execution is killed after EXECUTE_TIMEOUT_S.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import dspy
from dspy.primitives.python_interpreter import PythonInterpreter

HERE = Path(__file__).resolve().with_name("sandbox_files")
DENO_DIR = HERE.parents[1] / ".deno"
IMPORT_MAP = HERE / "import_map.json"
RUNNER = Path(dspy.__file__).resolve().parent / "primitives" / "runner.js"
EXECUTE_TIMEOUT_S = 30.0


def _deno() -> str:
    from deno import find_deno_bin

    return str(find_deno_bin())


def _base(deno: str) -> list[str]:
    return [deno, "--no-config", "--no-lock", "--node-modules-dir=false", f"--import-map={IMPORT_MAP}"]


def deno_command() -> list[str]:
    deno = _deno()
    base = _base(deno)
    read = ",".join(str(p) for p in (RUNNER, HERE, DENO_DIR))
    return [base[0], "run", *base[1:], "--cached-only", f"--allow-read={read}", str(RUNNER), "", f"--dspy-deno-dir={DENO_DIR}"]


class SandboxInterpreter(PythonInterpreter):
    """DSPy's PythonInterpreter on the cached runtime, with a time limit per execution."""

    def __init__(self) -> None:
        os.environ.setdefault("DENO_DIR", str(DENO_DIR))
        super().__init__(deno_command=deno_command())

    def execute(self, code: str, *args: Any, **kwargs: Any) -> Any:
        # A model's loop must not hold the run (and the worker's thread) forever: past the limit the
        # Deno process is killed, and the execution fails like any code that raised.
        timer = threading.Timer(EXECUTE_TIMEOUT_S, self._kill)
        timer.daemon = True
        timer.start()
        try:
            return super().execute(code, *args, **kwargs)
        finally:
            timer.cancel()

    def _kill(self) -> None:
        process = self.deno_process
        if process is not None and process.poll() is None:
            process.kill()


def cache() -> None:
    """Fetches the runner's dependencies (Pyodide, from npm) into DENO_DIR; run once, at install."""
    base = _base(_deno())
    # The installing shell's environment: its proxy and CA settings reach npm as they reach pip.
    subprocess.run([base[0], "cache", *base[1:], str(RUNNER)], check=True, env={**os.environ, "DENO_DIR": str(DENO_DIR), "DENO_NO_UPDATE_CHECK": "1"})
    (DENO_DIR / ".cached").write_text(str(RUNNER))


def available() -> bool:
    return (DENO_DIR / ".cached").exists()


if __name__ == "__main__":
    cache()
    print(f"sandbox runtime cached in {DENO_DIR}", file=sys.stderr)
