#!/usr/bin/env bash
# The whole test suite: compiles, then runs mocha against SQLite and against MariaDB. When
# TEST_MYSQL_URL is not set and MariaDB is installed, a private throwaway server is started for
# the run (scripts/with-mariadb.sh). The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node.sh || { echo "0 passed, 1 failed"; exit 1; }

SUMMARY_DIR=$(mktemp -d)
trap 'rm -rf "$SUMMARY_DIR"' EXIT

MOCHA=(env TEST_SUMMARY_FILE="$SUMMARY_DIR/mocha.json" npx mocha --reporter ./test/support/summary-reporter.cjs "$@")
if [[ -z "${TEST_MYSQL_URL:-}" ]] && command -v mariadb-install-db >/dev/null 2>&1; then
  bash scripts/with-mariadb.sh "${MOCHA[@]}"
else
  [[ -z "${TEST_MYSQL_URL:-}" ]] && echo "NOTE: MariaDB is not installed and TEST_MYSQL_URL is not set: SQLite suites only." >&2
  "${MOCHA[@]}"
fi
STATUS=$?

node -e '
const fs = require("fs");
let passed = 0, failed = 0;
for (const f of fs.readdirSync(process.argv[1])) {
  const s = JSON.parse(fs.readFileSync(process.argv[1] + "/" + f, "utf8"));
  passed += s.passed; failed += s.failed;
}
if (process.argv[2] !== "0" && failed === 0) failed = 1; // the runner died before counting
console.log(`${passed} passed, ${failed} failed`);
' "$SUMMARY_DIR" "$STATUS"
exit $STATUS
