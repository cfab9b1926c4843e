#!/usr/bin/env bash
# Window aggregation throughput: the same bounded datagen stream (event time advancing 1 ms per
# row, 1000 keys) aggregated per key over a TUMBLE window of SIZE and over a HOP window of the
# same SIZE sliding by SLIDE (size/slide = 60 by default), into a blackhole sink. Prints each
# job's rows/s, their ratio (HOP must stay above half of TUMBLE: work per row does not depend on
# how many windows overlap) and the longest time a window operator took to emit the windows a
# watermark closed.
#
# STRATEGY is Flink's table.optimizer.agg-phase-strategy: AUTO (two-phase: a local
# aggregation before the exchange) or ONE_PHASE. ZONE is table.local-time-zone (default UTC):
# the rowtime is a TIMESTAMP_LTZ, so in another zone the windows are aligned to that zone.
#
# usage: bench/windows.sh [ROWS] [PARALLELISM] [STRATEGY] [ZONE]
set -euo pipefail
ROWS="${1:-20000000}"
P="${2:-1}"
STRATEGY="${3:-AUTO}"
ZONE="${4:-UTC}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rask-target}"
cargo build -q -p rask --manifest-path "$ROOT/Cargo.toml"
RASK="$CARGO_TARGET_DIR/debug/rask"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
run() { # NAME WINDOW-TVF
  cat > "$TMP/$1.sql" <<SQL
CREATE TABLE src (id BIGINT, v INT, k AS id % 1000, ts AS TO_TIMESTAMP_LTZ(id, 3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH ('connector' = 'datagen', 'number-of-rows' = '$ROWS', 'rows-per-second' = '1000000000', 'fields.id.kind' = 'sequence',
        'fields.id.start' = '1', 'fields.id.end' = '$ROWS', 'fields.v.min' = '0', 'fields.v.max' = '1000');
CREATE TABLE dst (k BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3), c BIGINT, s INT, mx INT) WITH ('connector' = 'blackhole');
SET 'table.optimizer.agg-phase-strategy' = '$STRATEGY';
SET 'table.local-time-zone' = '$ZONE';
INSERT INTO dst SELECT k, window_start, window_end, COUNT(*), SUM(v), MAX(v) FROM TABLE($2) GROUP BY k, window_start, window_end;
SQL
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/$1.time" "$RASK" run "$TMP/$1.sql" --parallelism "$P" --progress plain > /dev/null 2> "$TMP/$1.err"
  local line; line=$(grep -E "Job finished" "$TMP/$1.err" | tail -1)
  read -r wall user sys rss < "$TMP/$1.time"
  local rate; rate=$(awk -v n="$ROWS" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
  echo "$1: $ROWS rows in ${wall} s = $rate rows/s, cpu $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}') s, peak RSS $((rss / 1024)) MiB" >&2
  echo "  ${line#*: }" >&2
  echo "$rate"
}
T=$(run tumble "TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' HOUR)")
H=$(run hop "HOP(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '1' HOUR)")
awk -v t="$T" -v h="$H" 'BEGIN { printf "HOP(1 h / 1 min) / TUMBLE(1 h) throughput: %.2f\n", h / t }'
