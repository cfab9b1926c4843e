#!/usr/bin/env bash
# Build the web console (web/ → web/dist, served by `rask server` at /): install the npm
# packages of web/package-lock.json (skipped when they are up to date), write the server's
# OpenAPI document (`rask openapi` → web/openapi.json), generate the API types from it and build. `scripts/web.sh test` then runs the end-to-end browser test
# (headless Debian chromium against a real `rask server`: $RASK_BIN, default
# ~/.cache/rask-target/debug/rask).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-build}"
case "$mode" in
  build | test) ;;
  *)
    echo "usage: scripts/web.sh [build|test]" >&2
    exit 2
    ;;
esac

command -v npm >/dev/null || { echo "scripts/web.sh: npm is needed (Node.js 20.19 or newer)" >&2; exit 1; }

# The API types come from the server's own document, never written by hand.
source scripts/env.sh
cargo build -q -p rask
RASK_BIN="${RASK_BIN:-$CARGO_TARGET_DIR/debug/rask}"
export RASK_BIN
"$RASK_BIN" openapi >web/openapi.json.tmp
mv web/openapi.json.tmp web/openapi.json

cd web
# npm ci only when node_modules does not match the lock file (a stamp of the lock's hash).
stamp=node_modules/.package-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi

# `npm run build` first runs `npm run gen` (openapi-typescript: openapi.json → src/api/schema.d.ts),
# then type-checks (tsc --noEmit) and bundles (vite build → dist/).
npm run build

if [[ "$mode" == test ]]; then
  if ! command -v chromium >/dev/null; then
    apt-get update
    apt-get install -y chromium
  fi
  CHROMIUM="${CHROMIUM:-$(command -v chromium)}" npm run e2e
fi
