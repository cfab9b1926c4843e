#!/usr/bin/env bash
# Flow-control check: run an unbounded, unthrottled datagen job for DURATION seconds and sample
# the process's resident memory every 5 s. Flat RSS means sources hold back when the pipeline
# lags (timely has no backpressure of its own). Two sinks: blackhole (fast) and print to
# /dev/null (slower than the generator, so without flow control memory would grow).
#
# usage: bench/flow-control.sh [DURATION_SECONDS] [PARALLELISM]
set -euo pipefail
DUR="${1:-60}"
P="${2:-1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rask-target}"
cargo build -q -p rask
RASK="$CARGO_TARGET_DIR/debug/rask"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for SINK in blackhole print; do
  cat > "$TMP/job.sql" <<SQL
CREATE TABLE src (id BIGINT, name STRING, price DOUBLE, ts TIMESTAMP(3))
  WITH ('connector' = 'datagen', 'rows-per-second' = '1000000000', 'fields.name.length' = '16');
CREATE TABLE dst (id BIGINT, name STRING, total DOUBLE) WITH ('connector' = '$SINK');
INSERT INTO dst SELECT id, UPPER(name), price * 2 FROM src WHERE id % 2 = 0;
SQL
  "$RASK" run "$TMP/job.sql" --parallelism "$P" --progress plain > /dev/null 2> "$TMP/err" &
  PID=$!
  echo "sink=$SINK parallelism=$P: RSS (MiB) every 5 s"
  SAMPLES=()
  for ((t = 5; t <= DUR; t += 5)); do
    sleep 5
    RSS=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$PID/status")
    SAMPLES+=("$RSS")
    printf '  t=%3ss rss=%s MiB\n' "$t" "$RSS"
  done
  kill -INT "$PID"
  wait "$PID" || true
  grep -E "Job (finished|cancelled)" "$TMP/err" | sed "s/^/  /"
  FIRST="${SAMPLES[1]}"; LAST="${SAMPLES[-1]}"; MAX=$(printf '%s\n' "${SAMPLES[@]}" | sort -n | tail -1)
  echo "  rss at 10 s: $FIRST MiB, at ${DUR} s: $LAST MiB, max: $MAX MiB"
done
