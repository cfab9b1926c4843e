#!/usr/bin/env bash
# Start a Kafka-protocol broker on 127.0.0.1 for integration tests and local runs.
# The broker is noida-db (a single static binary shipped on PyPI, pinned), the only
# broker reachable from this machine's registries that passes consumer-group and
# transaction (exactly-once) checks with rdkafka.
#
# (A copy of ../shared/kafka/kafka-up.sh, so that the repo installs what its tests need;
# `--install` only installs the broker, as scripts/setup.sh does before the tests.)
#
# usage: kafka-up.sh [PORT]   prints "BOOTSTRAP=127.0.0.1:PORT PID=... DATA=..."
#        stop it with: kill $PID   (SIGTERM; it writes its snapshot and exits in 1-2 s)
#
# Known limits of this broker (design tests around them, do not paper over them):
# - no transaction timeout: an unfinished transaction blocks read_committed readers
#   on that partition until the same transactional.id is reused (fenced) or it ends;
# - topics keep the default 7-day retention by record timestamp: records with old
#   event-time timestamps vanish within seconds, so create test topics with
#   retention.ms=-1;
# - it persists a snapshot about once a second: after kill -9 the last second of
#   acknowledged writes can be lost (kill it with SIGTERM in tests).
set -euo pipefail
PORT="${1:-19092}"
TOOLS="${KAFKA_TOOLS_DIR:-$HOME/.cache/kafka-tools}"
BIN="$TOOLS/noida/noida_db/noida-db"
if [ ! -x "$BIN" ]; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    --target "$TOOLS/noida" "noida-db==0.2.3"
  chmod +x "$BIN"
fi
[ "${1:-}" = "--install" ] && exit 0
DATA="$(mktemp -d "${TMPDIR:-/tmp}/kafka-data.XXXXXX")"
"$BIN" start --only kafka --host 127.0.0.1 --kafka-port "$PORT" --data-dir "$DATA" \
  >"$DATA/broker.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "BOOTSTRAP=127.0.0.1:$PORT PID=$PID DATA=$DATA"; exit 0
  fi
  kill -0 "$PID" 2>/dev/null || { cat "$DATA/broker.log"; exit 1; }
  sleep 0.05
done
echo "broker did not open port $PORT" >&2; kill "$PID"; exit 1
