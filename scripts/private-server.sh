# Sourced by with-mariadb.sh and with-ferretdb.sh: a temporary folder for a private server, a free
# port on 127.0.0.1, and an exit trap that stops the server (PID, once started) and removes DIR.
# Usage: source it with the folder's name prefix as $1, then set PID when the server runs.
DIR=$(mktemp -d "/tmp/$1.XXXXXX")
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
PID=""
stop_private_server() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap stop_private_server EXIT INT TERM
