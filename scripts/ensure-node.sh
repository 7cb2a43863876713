#!/usr/bin/env bash
# Installs node modules when they are missing or older than the lockfile, then compiles the server
# and builds the web console (console/ → dist/console, served at /console).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing node modules…" >&2
  npm ci --no-audit --no-fund >&2
fi
npx tsc -p tsconfig.json
# The console: type-checked against the generated operation types, then bundled by esbuild.
npx tsc -p console/tsconfig.json
node scripts/build-console.mjs
