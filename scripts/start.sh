#!/usr/bin/env bash
# The quick start: installs what is missing, compiles, and runs the subgraph on the embedded
# defaults (SQLite under ./data) unless the environment says otherwise (README: Configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node.sh
bash scripts/ensure-python.sh
exec node dist/src/main.js
