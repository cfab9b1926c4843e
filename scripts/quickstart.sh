#!/usr/bin/env bash
# Build Rask and run the quickstart job (datagen → filter/projection → print), embedded in
# this process: nothing else to install or start. Extra arguments go to `rask run`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec cargo run -q -p rask -- run examples/quickstart.sql "$@"
