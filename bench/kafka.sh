#!/usr/bin/env bash
# Kafka → filter → Kafka throughput (issue 6's benchmark figure): starts a broker with
# scripts/kafka-up.sh on a free port, then `rask bench kafka` fills a topic with ~100-byte JSON
# records and times a bare rdkafka consume → produce loop and the Rask job on the same broker
# in one run. Usage: bench/kafka.sh [RECORDS] [PARALLELISM] [PARTITIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
RECORDS=${1:-2000000}
P=${2:-1}
PARTS=${3:-3}
cargo build -q -p rask
RASK="$CARGO_TARGET_DIR/debug/rask"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT=$(bash scripts/kafka-up.sh "$PORT")
eval "$(echo "$OUT" | tr ' ' '\n' | grep -E '^(BOOTSTRAP|PID|DATA)=')"
trap 'kill $PID 2>/dev/null || true; sleep 1; rm -rf "$DATA"' EXIT
"$RASK" bench kafka --bootstrap "$BOOTSTRAP" --records "$RECORDS" -p "$P" --partitions "$PARTS"
