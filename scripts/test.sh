#!/usr/bin/env bash
# The whole test suite: compiles, then runs mocha against SQLite and against MariaDB. When
# TEST_MYSQL_URL is not set and MariaDB is installed, a private throwaway server is started for
# the run (scripts/with-mariadb.sh); likewise FerretDB for the MongoDB job store when
# TEST_MONGO_URL is not set (scripts/with-ferretdb.sh). The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node.sh && bash scripts/ensure-python.sh || { echo "0 passed, 1 failed"; exit 1; }
# The real-LM tests (test/realLm.test.ts, bridge-py/tests/test_real_lm.py) need bridge-py/.venv-llm.
# REQUIRE_REAL_LM=1 (CI) builds it (scripts/ensure-llm.sh) and makes its absence a failure; otherwise
# they run when it exists and are reported as not run (skipped) when it does not.
if [[ "${REQUIRE_REAL_LM:-}" == 1 ]]; then
  # A failed build leaves no .venv-llm/.installed: the real-LM tests then fail and say why.
  bash scripts/ensure-llm.sh || echo "ERROR: scripts/ensure-llm.sh failed: the real-LM tests will fail." >&2
elif [[ ! -f bridge-py/.venv-llm/.installed && -z "${LLM_PYTHON:-}" ]]; then
  echo "NOTE: bridge-py/.venv-llm is missing: the real-LM tests will NOT run (scripts/ensure-llm.sh builds it; CI sets REQUIRE_REAL_LM=1)." >&2
fi
# The console's browser test (test/console.test.ts) needs Debian's chromium; REQUIRE_BROWSER=1 (CI)
# makes its absence a failure, otherwise it is reported as not run (skipped).
if [[ "${REQUIRE_BROWSER:-}" != 1 && ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
  echo "NOTE: chromium is not installed: the console's browser test will NOT run (apt-get install chromium; CI sets REQUIRE_BROWSER=1)." >&2
fi

SUMMARY_DIR=$(mktemp -d)
trap 'rm -rf "$SUMMARY_DIR"' EXIT

MOCHA=(env TEST_SUMMARY_FILE="$SUMMARY_DIR/mocha.json" npx mocha --reporter ./test/support/summary-reporter.cjs "$@")
# Private servers wrap mocha, one inside the other: with-mariadb.sh with-ferretdb.sh mocha …
WRAP=()
if [[ -z "${TEST_MYSQL_URL:-}" ]] && command -v mariadb-install-db >/dev/null 2>&1; then
  WRAP+=(bash scripts/with-mariadb.sh)
else
  [[ -z "${TEST_MYSQL_URL:-}" ]] && echo "NOTE: MariaDB is not installed and TEST_MYSQL_URL is not set: SQLite suites only." >&2
fi
# FerretDB (a MongoDB wire-protocol server) for the MongoDB job store, unless TEST_MONGO_URL is set.
if [[ -z "${TEST_MONGO_URL:-}" ]]; then
  if FERRETDB_BIN=$(bash scripts/ensure-ferretdb.sh); then
    WRAP+=(env FERRETDB="$FERRETDB_BIN" bash scripts/with-ferretdb.sh)
  else
    echo "NOTE: FerretDB is not available (needs Go) and TEST_MONGO_URL is not set: no MongoDB job-store suite." >&2
  fi
fi
${WRAP[@]+"${WRAP[@]}"} "${MOCHA[@]}"
STATUS=$?

# The Python worker's own tests; pytest exits 5 when it collects nothing, which is a failure here.
(cd bridge-py && .venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$SUMMARY_DIR/pytest.xml")
PYTEST_STATUS=$?
[[ $STATUS -eq 0 ]] && STATUS=$PYTEST_STATUS

node -e '
const fs = require("fs");
let passed = 0, failed = 0, skipped = 0;
for (const f of fs.readdirSync(process.argv[1])) {
  const text = fs.readFileSync(process.argv[1] + "/" + f, "utf8");
  if (f.endsWith(".json")) {
    const s = JSON.parse(text);
    passed += s.passed; failed += s.failed; skipped += s.skipped ?? 0;
  } else {
    // junit XML from pytest: the first <testsuite> carries the totals.
    const attr = (name) => Number((new RegExp(`<testsuite[^>]*\\s${name}="(\\d+)"`).exec(text) || [0, 0])[1]);
    const broken = attr("failures") + attr("errors");
    passed += attr("tests") - broken - attr("skipped"); failed += broken; skipped += attr("skipped");
  }
}
if (process.argv[2] !== "0" && failed === 0) failed = 1; // the runner died before counting
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$SUMMARY_DIR" "$STATUS"
exit $STATUS
