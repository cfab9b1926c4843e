#!/usr/bin/env bash
# Recovery time with ~100 MiB of keyed state (issue 5's benchmark figure): a windowed
# aggregation over 2.8M keys checkpoints every 2 s; once a complete checkpoint holds at least
# TARGET_MIB, the worker process is killed with SIGKILL and we measure, from the kill, when the
# supervisor has started the new worker, when it starts restoring, and when its sources emit
# again ("processing resumed"). The restart delay is 0 so the figure is Rask's own time.
# Usage: bench/recovery.sh [TARGET_MIB] [PARALLELISM]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
TARGET_MIB=${1:-100}
P=${2:-1}
cargo build -q -p rask
RASK="$CARGO_TARGET_DIR/debug/rask"
W=$(mktemp -d)
trap 'kill $SUP 2>/dev/null || true; rm -rf "$W"' EXIT
cat > "$W/job.sql" <<SQL
SET 'execution.checkpointing.interval' = '2s';
SET 'execution.checkpointing.dir' = '$W/chk';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '3';
SET 'restart-strategy.fixed-delay.delay' = '0 ms';
CREATE TABLE src (k BIGINT, v BIGINT, ts AS PROCTIME()) WITH ('connector' = 'datagen',
  'fields.k.min' = '0', 'fields.k.max' = '2799999', 'fields.v.min' = '0', 'fields.v.max' = '1000',
  'rows-per-second' = '2000000');
CREATE TABLE sink (k BIGINT, c BIGINT, s BIGINT, mx BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT k, COUNT(*), SUM(v), MAX(v)
  FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' DAY)) GROUP BY k, window_start, window_end;
SQL
RASK_LOG=${RASK_LOG:-rask::recovery=info} "$RASK" run "$W/job.sql" -p "$P" --progress none 2> "$W/log" &
SUP=$!
largest() {
  python3 - "$W/chk" <<'PY'
import json, os, sys
best = 0
for d in os.listdir(sys.argv[1]) if os.path.isdir(sys.argv[1]) else []:
    try:
        m = json.load(open(os.path.join(sys.argv[1], d, "_metadata")))
        best = max(best, m.get("full_bytes") or m["bytes"])  # the whole state, not the increment
    except Exception:
        pass
print(best)
PY
}
for _ in $(seq 600); do
  B=$(largest)
  [ "$B" -ge $((TARGET_MIB * 1048576)) ] && break
  sleep 0.2
done
WORKER=$(pgrep -P "$SUP" | head -1)
T0=$(date +%s.%N)
kill -9 "$WORKER"
for _ in $(seq 600); do
  grep -q "processing resumed" "$W/log" && break
  sleep 0.05
done
grep -a "operator state restored" "$W/log" | sed "s/\x1b\[[0-9;]*m//g" | tail -4 >&2 || true
python3 - "$W/log" "$T0" "$B" "$P" <<'PY'
import re, sys, datetime
log, t0, size, p = open(sys.argv[1]).read(), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
log = re.sub(r"\x1b\[[0-9;]*m", "", log)
def when(pat):
    for line in log.splitlines():
        if pat in line:
            ts = re.match(r"\s*(\S+Z)", line).group(1)
            return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    return None
restoring, resumed = when("restoring"), when("processing resumed")
print(f"state in the restored checkpoint: {size / 1048576:.1f} MiB, parallelism {p}")
if restoring is None or resumed is None:
    print("the job did not resume; log:\n" + log); sys.exit(1)
print(f"kill -> new worker restoring: {(restoring - t0) * 1000:.0f} ms (failure detection, restart, planning)")
print(f"restoring -> processing resumed: {(resumed - restoring) * 1000:.0f} ms (read, decode and rebuild the state)")
print(f"recovery time (kill -> processing resumed): {(resumed - t0) * 1000:.0f} ms")
PY
