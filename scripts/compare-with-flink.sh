#!/usr/bin/env bash
# Run a Flink SQL script on real Apache Flink 2.3 (the peer in ../shared/peers/flink) and on
# Rask, and compare what their `print` sinks printed, as multisets (subtask prefixes removed:
# `id:2> +I[..]` and `id> +I[..]` compare equal). Exit 0 when identical.
#
# usage: scripts/compare-with-flink.sh SCRIPT.sql [PARALLELISM]
# Paths in the script must be absolute (both engines run it from their own directories).
set -euo pipefail
SCRIPT="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
P="${2:-1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEER="$ROOT/../shared/peers/flink"
[ -f "$PEER/run_script.py" ] || { echo "Flink peer not found at $PEER" >&2; exit 2; }
VENV="${FLINK_PEER_VENV:-$HOME/.cache/flink-peer-venv}"
[ -x "$VENV/bin/python" ] || "$PEER/setup.sh" >&2
cd "$ROOT"
source scripts/env.sh
cargo build -q -p rask
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
normalise() { sed -E 's/^([A-Za-z0-9_]*):[0-9]+> /\1> /; s/^[0-9]+> //' | sort; }
python3 "$PEER/run_script.py" "$SCRIPT" --parallelism "$P" > "$TMP/flink.out" 2>&1 || {
  echo "Flink failed:" >&2; grep -E "Exception|Error" "$TMP/flink.out" | head -5 >&2; exit 2; }
grep -E '^([A-Za-z0-9_:]+> )?[+-][IUD]\[' "$TMP/flink.out" | normalise > "$TMP/flink.txt" || true
"$CARGO_TARGET_DIR/debug/rask" run "$SCRIPT" --parallelism "$P" --progress none > "$TMP/rask.raw" 2> "$TMP/rask.err" || {
  echo "Rask failed:" >&2; cat "$TMP/rask.err" >&2; exit 2; }
normalise < "$TMP/rask.raw" > "$TMP/rask.txt"
if diff -u --label flink "$TMP/flink.txt" --label rask "$TMP/rask.txt"; then
  echo "identical: $(wc -l < "$TMP/rask.txt") rows (parallelism $P)"
else
  exit 1
fi
