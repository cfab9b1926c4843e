#!/usr/bin/env bash
# Nexmark side by side with Apache Flink 2.3 on the same machine and the same input: the
# Flink peer harness (../shared/peers/flink) generates a JSON events file, runs each of its
# queries on real Flink into CSV files, and this script runs the same SQL (the harness's
# ddl.sql + qN.sql, filesystem JSON source) on Rask. For every query it checks that both
# results are the same multiset of rows (the harness's compare.py) and prints both
# throughputs: Flink's events/s over its net job runtime (JVM start and planning excluded, as
# the harness reports it) and Rask's events/s over the whole `rask run` process, plus events
# per CPU-second for both.
#
# usage: bench/nexmark-vs-flink.sh [EVENTS] [PARALLELISM] [QUERIES]
#   EVENTS       events in the generated file (default 1000000; cached under ~/.cache/rask-nexmark)
#   PARALLELISM  of both engines (default 1); for P > 1 both read the harness's P shards
#   QUERIES      space-separated (default: every query the harness has)
set -euo pipefail
EVENTS="${1:-1000000}"
P="${2:-1}"
QUERIES="${3:-q0 q1 q2 q3 q4 q5 q7 q8 tumble_count}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/env.sh"
SHARED="${RASK_SHARED:-$ROOT/../shared}"
PEER="$SHARED/peers/flink"
[ -d "$PEER" ] || { echo "the Flink peer harness is not at $PEER (set RASK_SHARED)" >&2; exit 2; }
VENV="${FLINK_PEER_VENV:-$HOME/.cache/flink-peer-venv}"
[ -x "$VENV/bin/python" ] || bash "$PEER/setup.sh" >&2
cargo build -q -p rask --manifest-path "$ROOT/Cargo.toml"
RASK="$CARGO_TARGET_DIR/debug/rask"
DATA_DIR="$HOME/.cache/rask-nexmark"
DATA="$DATA_DIR/events-$EVENTS-seed42.json"
mkdir -p "$DATA_DIR"
[ -s "$DATA" ] || python3 "$SHARED/peers/nexmark/gen.py" --events "$EVENTS" --seed 42 --out "$DATA" >&2
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

printf "%-13s %9s %10s %12s %12s %13s %13s %8s %8s\n" query rows same flink_ev/s rask_ev/s flink_ev/cpu-s rask_ev/cpu-s ratio cpu_ratio
for q in $QUERIES; do
  F="$OUT/flink/$q"
  if ! "$VENV/bin/python" "$PEER/run.py" --query "$q" --input "$DATA" --parallelism "$P" --sink csv --out "$F" > "$OUT/$q.flink.log" 2>&1; then
    printf "%-13s Flink failed: %s\n" "$q" "$(tail -1 "$OUT/$q.flink.log")"
    continue
  fi
  INPUT="$DATA"
  [ "$P" -gt 1 ] && INPUT="$DATA.shards$P"
  R="$OUT/rask/$q"
  mkdir -p "$R"
  # Updating queries (the harness marks them) write a debezium-json changelog, materialised
  # into rows by the harness's own code, as for Flink.
  FORMAT=csv
  grep -q -- "-- changelog: updating" "$PEER/sql/$q.sql" && FORMAT=debezium-json
  { sed -e "s#\${INPUT}#$INPUT#" -e "s#\${WATERMARK_DELAY}#4.000#" "$PEER/sql/ddl.sql"
    sed -e "s#\${SINK}#'connector' = 'filesystem', 'path' = '$R/files', 'format' = '$FORMAT'#" "$PEER/sql/$q.sql"; } > "$R/job.sql"
  start=$(date +%s.%N)
  if ! "$RASK" run "$R/job.sql" --parallelism "$P" --progress none --usage-out "$R/usage.json" > "$R/log" 2>&1; then
    printf "%-13s %9s %10s Rask: %s\n" "$q" - - "$(grep -v '^\s*$' "$R/log" | head -1)"
    continue
  fi
  end=$(date +%s.%N)
  if [ "$FORMAT" = csv ]; then
    find "$R/files" -type f ! -name '.*' ! -name '_*' -exec cat {} + | LC_ALL=C sort > "$R/result.csv"
  else
    "$VENV/bin/python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import run; run.canonical_csv(sys.argv[2], "updating", None, sys.argv[3])' \
      "$PEER" "$R/files" "$R/result.csv"
  fi
  if python3 "$PEER/compare.py" "$F/result.csv" "$R/result.csv" > "$R/compare.log" 2>&1; then same=identical; else same=DIFFERENT; fi
  python3 - "$F/result.json" "$R/usage.json" "$start" "$end" "$EVENTS" "$q" "$same" "$(wc -l < "$R/result.csv")" <<'PY'
import json, sys
f = json.load(open(sys.argv[1])); u = json.load(open(sys.argv[2]))
start, end, events, q, same, rows = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8]
wall = end - start
fe, re_ = f.get("events_per_s_net") or 0, events / wall
fc = events / f["jvm_cpu_s"] if f.get("jvm_cpu_s") else 0
rc = events / u["cpu_s"] if u.get("cpu_s") else 0
print("%-13s %9s %10s %12.0f %12.0f %13.0f %13.0f %7.1fx %7.1fx" % (q, rows, same, fe, re_, fc, rc, re_ / fe if fe else 0, rc / fc if fc else 0))
PY
  [ "$same" = identical ] || sed 's/^/    /' "$R/compare.log" | head -12
done
