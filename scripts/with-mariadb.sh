#!/usr/bin/env bash
# Runs a command with a private, throwaway MariaDB server and TEST_MYSQL_URL pointing at it.
# The server lives in a temporary folder, listens on 127.0.0.1 on a free port, and is stopped
# (and its folder removed) when the command ends, however it ends.
set -euo pipefail

MARIADBD=$(command -v mariadbd || ls /usr/sbin/mariadbd 2>/dev/null || true)
INSTALL_DB=$(command -v mariadb-install-db || true)
if [[ -z "$MARIADBD" || -z "$INSTALL_DB" ]]; then
  echo "with-mariadb: mariadbd / mariadb-install-db not found (apt-get install mariadb-server)" >&2
  exit 2
fi

source "$(cd "$(dirname "$0")" && pwd)/private-server.sh" dspy-subgraph-mariadb
SOCKET="$DIR/mysqld.sock"

"$INSTALL_DB" --no-defaults --datadir="$DIR/data" --user="$(id -un)" --auth-root-authentication-method=normal \
  --skip-test-db >"$DIR/install.log" 2>&1 || { cat "$DIR/install.log" >&2; exit 1; }
"$MARIADBD" --no-defaults --datadir="$DIR/data" --user="$(id -un)" --bind-address=127.0.0.1 --port="$PORT" \
  --socket="$SOCKET" --pid-file="$DIR/mysqld.pid" --skip-log-bin --innodb-buffer-pool-size=64M \
  --innodb-flush-log-at-trx-commit=2 --log-error="$DIR/error.log" &
PID=$!

for _ in $(seq 1 150); do
  if mariadb --no-defaults --socket="$SOCKET" -uroot -e "SELECT 1" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$DIR/error.log" >&2; exit 1; fi
  sleep 0.2
done
mariadb --no-defaults --socket="$SOCKET" -uroot <<SQL
CREATE DATABASE subgraph_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'subgraph'@'127.0.0.1' IDENTIFIED BY 'subgraph';
GRANT ALL PRIVILEGES ON *.* TO 'subgraph'@'127.0.0.1';
SQL

export TEST_MYSQL_URL="mysql://subgraph:subgraph@127.0.0.1:$PORT/subgraph_test"
echo "with-mariadb: MariaDB $("$MARIADBD" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
set +e
"$@"
STATUS=$?
exit $STATUS
