#!/usr/bin/env bash
# Incremental checkpoints with ~1 GiB of keyed state (issue 5's benchmark figure): a window
# aggregation (processing-time TUMBLE of one day: it never fires, so state only grows) is fed
# by a bounded source that creates KEYS keys once, and by an unthrottled source that keeps
# updating UPDATE_KEYS of them. Run for DURATION seconds with checkpoints every 5 s and again
# without checkpoints; prints the checkpoints' full and incremental sizes and the update-phase
# throughput of both runs (rows/s between the last two progress lines, after the fill).
# Usage: bench/incremental.sh [KEYS] [UPDATE_KEYS] [DURATION_S] [PARALLELISM]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
KEYS=${1:-27000000}
UPDATE_KEYS=${2:-270000}
DURATION=${3:-60}
P=${4:-2}
cargo build -q -p rask
RASK="$CARGO_TARGET_DIR/debug/rask"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
job() { # $1 = checkpoint SET lines
  cat <<SQL
$1
CREATE TABLE fill (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'fields.k.kind' = 'sequence',
  'fields.k.start' = '0', 'fields.k.end' = '$((KEYS - 1))', 'fields.v.min' = '0', 'fields.v.max' = '1000',
  'rows-per-second' = '1000000000');
CREATE TABLE upd (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'fields.k.min' = '0',
  'fields.k.max' = '$((UPDATE_KEYS - 1))', 'fields.v.min' = '0', 'fields.v.max' = '1000', 'rows-per-second' = '1000000000');
CREATE TABLE sink (k BIGINT, c BIGINT, s BIGINT, mx BIGINT) WITH ('connector' = 'blackhole');
CREATE VIEW src AS SELECT k, v, PROCTIME() AS ts FROM (SELECT * FROM fill UNION ALL SELECT * FROM upd);
INSERT INTO sink SELECT k, COUNT(*), SUM(v), MAX(v)
  FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' DAY)) GROUP BY k, window_start, window_end;
SQL
}
job "SET 'execution.checkpointing.interval' = '5s'; SET 'execution.checkpointing.dir' = '$W/chk'; SET 'execution.checkpointing.num-retained' = '100';" > "$W/with.sql"
job "" > "$W/without.sql"
run() { # $1 = script, $2 = log
  "$RASK" run "$1" -p "$P" --progress plain > "$2" 2>&1 &
  local pid=$!
  sleep "$DURATION"
  kill -INT "$pid"
  wait "$pid" || true
}
run "$W/with.sql" "$W/with.log"
python3 - "$W/chk" > "$W/sizes.txt" <<'PY' || true
import json, os, sys
for c in sorted((c for c in os.listdir(sys.argv[1]) if c.startswith("chk-")), key=lambda c: int(c.split('-')[1])):
    try:
        m = json.load(open(os.path.join(sys.argv[1], c, "_metadata")))
        print(c, m["bytes"], m["full_bytes"])
    except Exception:
        pass
PY
run "$W/without.sql" "$W/without.log"
python3 - "$W" "$KEYS" "$UPDATE_KEYS" "$P" <<'PY'
import re, sys
w, keys, upd, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rate(log):
    pts = []
    for line in open(log):
        m = re.search(r"\s([\d.]+)s \| in ([\d.]+)([kMG]?) ", line)
        if m:
            mult = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(3)]
            pts.append((float(m.group(1)), float(m.group(2)) * mult))
    (t0, n0), (t1, n1) = pts[-2], pts[-1]
    return (n1 - n0) / (t1 - t0), t0, t1
sizes = [l.split() for l in open(f"{w}/sizes.txt")]
print(f"keys {keys:,}, updated keys {upd:,}, parallelism {p}")
print("checkpoints: written (incremental) / full MiB")
for c, inc, full in sizes:
    print(f"  {c}: {int(inc) / 1048576:8.1f} / {int(full) / 1048576:8.1f}")
summary = [l for l in open(f"{w}/with.log") if "checkpoints completed" in l]
print(summary[-1].strip() if summary else "(no summary)")
rw, t0, t1 = rate(f"{w}/with.log")
ro, _, _ = rate(f"{w}/without.log")
print(f"update-phase throughput ({t0:.0f}-{t1:.0f} s): {rw / 1e6:.2f}M rows/s with checkpoints, {ro / 1e6:.2f}M without ({(rw / ro - 1) * 100:+.0f} %)")
PY
