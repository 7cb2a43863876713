#!/bin/sh
# Regenerates tests/fixtures/definition_cases.json from the TypeScript validator
# (src/programs/definition/), so the Python port is tested against what TypeScript says today.
# Run from anywhere; needs the repository's node_modules (tsc).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
out=$(mktemp -d /tmp/defjs-XXXXXX)
trap 'rm -rf "$out"' EXIT
cd "$root"
node_modules/.bin/tsc --ignoreConfig --outDir "$out" --rootDir src/programs/definition \
  --module NodeNext --moduleResolution NodeNext --target ES2022 --lib ES2023 --strict --skipLibCheck \
  --types node src/programs/definition/index.ts
echo '{"type":"module"}' > "$out/package.json"
node "$here/tests/fixtures/gen_definition_cases.mjs" "$out/index.js" > "$here/tests/fixtures/definition_cases.json"
echo "wrote $here/tests/fixtures/definition_cases.json"
