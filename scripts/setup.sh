#!/usr/bin/env bash
# Install and start what the tests need. The foundation needs nothing beyond the Rust
# toolchain; connectors that test against real services (Kafka, databases) add their setup
# here, so that a fresh machine and CI get it without manual steps.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p "$CARGO_TARGET_DIR"
# The Kafka-protocol broker the Kafka connector's tests start (a pinned binary from PyPI).
scripts/kafka-up.sh --install
# Python UDFs (CREATE FUNCTION … LANGUAGE PYTHON) run in a Python with pyarrow (and pandas for
# pandas UDFs): a venv of pinned versions, which scripts/env.sh exports as RASK_PYTHON.
scripts/python-env.sh
