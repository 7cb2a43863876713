#!/usr/bin/env bash
# Makes sure a FerretDB v1 binary (a MongoDB wire-protocol server; its SQLite handler needs no other
# server) is installed, for the tests of the MongoDB job store. Prints the binary's path.
#
# Why not just `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: that builds, but the
# binary panics at start ("Invalid build/version/version.txt file content"), because the module
# zip lacks the generated build/version/version.txt that FerretDB's own build writes. So this
# script fetches the module the ordinary way (`go mod download`, Go module proxy), copies its
# source into a temporary folder, writes version.txt = v1.24.2 and builds cmd/ferretdb there.
# An existing binary in $GOBIN (default ~/go/bin) is reused when it reports that version.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
GOBIN_DIR=${GOBIN:-$(go env GOBIN 2>/dev/null || true)}
[[ -z "$GOBIN_DIR" ]] && GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
BIN="$GOBIN_DIR/ferretdb"

version_of() { "$1" --version 2>/dev/null | awk '/^version:/ {print $2}'; }

if [[ -x "$BIN" && "$(version_of "$BIN")" == "$VERSION" ]]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-ferretdb: Go is not installed; FerretDB $VERSION cannot be built" >&2
  exit 2
fi

echo "ensure-ferretdb: building FerretDB $VERSION into $BIN (about a minute and a half)…" >&2
SRC=$(go mod download -json "$MODULE@$VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')
WORK=$(mktemp -d /tmp/ferretdb-build.XXXXXX)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cp -R "$SRC/." "$WORK/"
chmod -R u+w "$WORK"
echo "$VERSION" >"$WORK/build/version/version.txt"
mkdir -p "$GOBIN_DIR"
(cd "$WORK" && GOFLAGS=-buildvcs=false go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb)
mv "$BIN.tmp" "$BIN"

if [[ "$(version_of "$BIN")" != "$VERSION" ]]; then
  echo "ensure-ferretdb: the built binary does not report $VERSION" >&2
  exit 1
fi
echo "$BIN"
