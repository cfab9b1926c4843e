#!/usr/bin/env bash
# The whole test suite: unit tests, the golden SQL suite (tests/golden/*.slt at parallelism 1
# and 2), the integration tests (1 worker / 2 threads / 2 processes) and the web console's
# end-to-end browser test. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
source scripts/env.sh  # again: setup made the Python UDF environment RASK_PYTHON names
status=0
cargo test --workspace --no-fail-fast "$@" || status=$?
# The web console: build it and drive it in headless Chromium against a real server.
scripts/web.sh test || status=$?
exit "$status"
