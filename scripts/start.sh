#!/usr/bin/env bash
# The quick start: installs what is missing, compiles, and runs the subgraph on the embedded
# defaults (SQLite under ./data) unless the environment says otherwise (README: Configuration).
#
# Authentication (README: "Authentication and roles"): when NOTHING about authentication is
# configured (no AUTH_* variable) AND the database is the embedded SQLite default (no DATABASE_URL),
# this turns on development mode (AUTH_DEV_MODE=1: no authentication, every request is admin of
# DEFAULT_TENANT), listening on 127.0.0.1 only unless HOST says otherwise; the server prints a loud
# warning. With DATABASE_URL or any AUTH_* variable set, it never does: set AUTH_DEV_MODE=1 yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node.sh
bash scripts/ensure-python.sh
if [[ -z "${DATABASE_URL:-}" && -z "$(compgen -v AUTH_)" ]]; then
  echo "start.sh: no authentication configured and the embedded database: starting in development mode (AUTH_DEV_MODE=1) on ${HOST:-127.0.0.1}" >&2
  export AUTH_DEV_MODE=1
  export HOST="${HOST:-127.0.0.1}"
fi
exec node dist/src/main.js
