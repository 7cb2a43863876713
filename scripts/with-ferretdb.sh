#!/usr/bin/env bash
# Runs a command with a private, throwaway FerretDB (a MongoDB wire-protocol server, v1, SQLite
# handler) and TEST_MONGO_URL pointing at it. The server keeps its data in a temporary folder,
# listens on 127.0.0.1 on a free port, sends no telemetry, and is stopped (and its folder removed)
# when the command ends, however it ends. The binary comes from scripts/ensure-ferretdb.sh
# ($FERRETDB overrides it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

FERRETDB=${FERRETDB:-$(bash "$HERE/ensure-ferretdb.sh")}
if [[ ! -x "$FERRETDB" ]]; then
  echo "with-ferretdb: no FerretDB binary (scripts/ensure-ferretdb.sh needs Go)" >&2
  exit 2
fi

source "$HERE/private-server.sh" dspy-subgraph-ferretdb
mkdir -p "$DIR/data"

# --debug-addr=- : no metrics/pprof HTTP listener (its fixed default port would clash between runs).
"$FERRETDB" --handler=sqlite --sqlite-url="file:$DIR/data/" --listen-addr="127.0.0.1:$PORT" \
  --state-dir="$DIR" --debug-addr=- --telemetry=disable --log-level=WARN >"$DIR/ferretdb.log" 2>&1 &
PID=$!

ready=""
for _ in $(seq 1 150); do
  if node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1",()=>{s.end();process.exit(0)});s.on("error",()=>process.exit(1))' "$PORT" 2>/dev/null; then
    ready=1; break
  fi
  if ! kill -0 "$PID" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "with-ferretdb: FerretDB did not start" >&2
  cat "$DIR/ferretdb.log" >&2
  exit 1
fi

export TEST_MONGO_URL="mongodb://127.0.0.1:$PORT/subgraph_test"
echo "with-ferretdb: FerretDB $("$FERRETDB" --version | awk '/^version:/ {print $2}') (SQLite handler) on 127.0.0.1:$PORT" >&2
set +e
"$@"
STATUS=$?
exit $STATUS
