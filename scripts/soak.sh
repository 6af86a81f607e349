#!/usr/bin/env bash
# The soak of issue 14: the chat example (release build, in-memory broker, started as
# scripts/chat.sh starts it) under well-behaved chat traffic for MINUTES while each attack
# of issue 14 repeats (loadgen's `soak` scenario). Writes, under target/soak/ (or $SOAK_OUT):
#   soak-STAMP.json    the report (well-behaved totals, what each attack got, samples)
#   rss-STAMP.csv      server RSS, CPU and gauges every 10 s
#   progress-STAMP.log progress lines, then the result as Markdown tables
#   chat-STAMP.log     the server's output
#   machine-STAMP.txt  the machine's state before and after
#
#   bash scripts/soak.sh            # 30 minutes
#   bash scripts/soak.sh 2          # 2 minutes
#   SOAK_ARGS="--attacks pattern,conns --sessions 20" bash scripts/soak.sh 5
#
# The load generator runs under `nice -n ${SOAK_NICE:-5}` (the attackers share the machine
# with the server). Exit status: loadgen's (0 when the well-behaved clients lost nothing,
# saw nothing out of order and never disconnected).
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES="${1:-30}"
PORT="${SOAK_PORT:-18080}"
OUT="${SOAK_OUT:-target/soak}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

[[ "$MINUTES" =~ ^[0-9]+$ ]] && ((MINUTES > 0 && MINUTES <= 60)) ||
  { echo "soak.sh: MINUTES must be 1..60, not $MINUTES" >&2; exit 2; }

cargo build --release -p chat -p loadgen
mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
MACHINE="$OUT/machine-$STAMP.txt"

# 10,000 connections per burst need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

machine_state() {
  echo "== $1: $(date -u +%FT%TZ)"
  echo "nproc $(nproc); ulimit -n $(ulimit -n)"
  uptime
  free -m
  top -b -n 1 -o %CPU | sed -n '7,17p'
}
machine_state "before" >"$MACHINE"

# As scripts/chat.sh runs it (`cargo run --release -p chat`), without `cargo run` in
# between so that the PID is the server's.
"$TARGET_DIR/release/chat" --addr "127.0.0.1:$PORT" >"$OUT/chat-$STAMP.log" 2>&1 &
CHAT_PID=$!
trap 'kill "$CHAT_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$CHAT_PID" 2>/dev/null || { echo "soak.sh: the chat server exited:" >&2; cat "$OUT/chat-$STAMP.log" >&2; exit 1; }
  sleep 0.1
done
echo "soak.sh: chat server pid $CHAT_PID on 127.0.0.1:$PORT; soak of $MINUTES min; report $OUT/soak-$STAMP.json" >&2

STATUS=0
# shellcheck disable=SC2086 # SOAK_ARGS is a list of options
nice -n "${SOAK_NICE:-5}" "$TARGET_DIR/release/loadgen" soak \
  --url "ws://127.0.0.1:$PORT/ws" --server-pid "$CHAT_PID" \
  --duration "$((MINUTES * 60))" --csv "$OUT/rss-$STAMP.csv" ${SOAK_ARGS:-} \
  >"$OUT/soak-$STAMP.json" 2> >(tee "$OUT/progress-$STAMP.log" >&2) || STATUS=$?

machine_state "after" >>"$MACHINE"
kill "$CHAT_PID" 2>/dev/null || true
wait "$CHAT_PID" 2>/dev/null || true
trap - EXIT
echo "soak.sh: exit $STATUS; $OUT/soak-$STAMP.json, $OUT/rss-$STAMP.csv, $MACHINE" >&2
exit "$STATUS"
