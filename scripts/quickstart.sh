#!/usr/bin/env bash
# Build Rask (and its web console, when npm is there) and run the quickstart job (datagen →
# filter/projection → print), embedded in this process: nothing else to install or start.
# Extra arguments go to `rask run`. `scripts/quickstart.sh server` instead starts `rask server`
# with the web console at http://127.0.0.1:8081 (its data in .rask/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
if command -v npm >/dev/null; then
  scripts/web.sh >&2 || echo "[quickstart] building the web console failed; the server will say so at /" >&2
else
  echo "[quickstart] npm not found: the web console is not built (the rest works without it)" >&2
fi
if [[ "${1:-}" == server ]]; then
  shift
  exec cargo run -q -p rask -- server "$@"
fi
exec cargo run -q -p rask -- run examples/quickstart.sql "$@"
