#!/usr/bin/env bash
# The whole test suite: unit tests, the golden SQL suite (tests/golden/*.slt at parallelism 1
# and 2) and the integration tests (1 worker / 2 threads / 2 processes). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
cargo test --workspace --no-fail-fast "$@"
