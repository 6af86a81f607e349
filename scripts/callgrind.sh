#!/usr/bin/env bash
# Instructions per delivery, repeatable on a busy machine (BENCHMARKS.md, "Issue 18: the
# pairs path"). Runs one server under `valgrind --tool=callgrind`, drives it with loadgen
# twice (M1 then M2 messages per publisher; fixed counts, unbounded rate), dumps the
# counters after each run, and prints (Ir(run 2) - Ir(run 1)) / (deliveries 2 - deliveries 1):
# the steady per-delivery cost, with connection setup and start-up cancelled out.
#
#   scripts/callgrind.sh ours pairs            # M1=200 M2=600 (per publisher)
#   scripts/callgrind.sh forwarder fanout100
#   BIN=/path/to/old/bench-server scripts/callgrind.sh ours pairs     # an older build
#   WORKERS=1 ...                              # bench-server --workers
#
# Output: bench/callgrind/<server>-<scenario>-<time>/ (the dumps, loadgen's JSON, the
# top functions of run 2 by inclusive cost in annotate.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${1:?ours|forwarder}
SCENARIO=${2:?pairs|fanout100|fanout1000}
M1=${M1:-200}
M2=${M2:-600}
TARGET=${CARGO_TARGET_DIR:-target}
LOADGEN=${LOADGEN:-$TARGET/release/loadgen}
PORT=${PORT:-18090}
OUT=bench/callgrind/$SERVER-$SCENARIO${WORKERS:+-w$WORKERS}-$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$OUT"

case $SERVER in
  ours) BIN=${BIN:-$TARGET/release/bench-server}
        ARGS=(--addr "127.0.0.1:$PORT"); [ -n "${WORKERS:-}" ] && ARGS+=(--workers "$WORKERS") ;;
  forwarder) BIN=${BIN:-$TARGET/release/bare-forwarder}; ARGS=(--addr "127.0.0.1:$PORT") ;;
  *) echo "unknown server $SERVER" >&2; exit 1 ;;
esac
case $SCENARIO in
  pairs) LG=(pairs --pairs 50) ;;
  fanout100) LG=(fanout --subscribers 100) ;;
  fanout1000) LG=(fanout --subscribers 1000) ;;
  *) echo "unknown scenario $SCENARIO" >&2; exit 1 ;;
esac

valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$BIN" "${ARGS[@]}" >"$OUT/server.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
  sleep 0.1
done

run() { # $1 = messages per publisher, $2 = file
  "$LOADGEN" "${LG[@]}" --url "ws://127.0.0.1:$PORT/ws" --messages "$1" --duration 600 \
    --drain 20 >"$2" 2>&1
  sleep 2; callgrind_control -d "$VG" >/dev/null
}
total() { # Ir of the newest dump
  local f; f=$(ls -t "$OUT"/callgrind.out.* | head -1)
  awk '/^(summary|totals):/ {print $2; exit}' "$f"
}
field() { grep -o "\"$2\": *[0-9]*" "$1" | head -1 | grep -o '[0-9]*$'; }

run "$M1" "$OUT/run1.json"; IR1=$(total); cp "$(ls -t "$OUT"/callgrind.out.* | head -1)" "$OUT/run1.out"
run "$M2" "$OUT/run2.json"; IR2=$(total); cp "$(ls -t "$OUT"/callgrind.out.* | head -1)" "$OUT/run2.out"
D1=$(field "$OUT/run1.json" delivered); D2=$(field "$OUT/run2.json" delivered)
for f in run1 run2; do
  echo "$f: delivered $(field "$OUT/$f.json" delivered) lost $(field "$OUT/$f.json" lost) out_of_order $(field "$OUT/$f.json" out_of_order)"
done
callgrind_annotate --inclusive=yes "$OUT/run2.out" 2>/dev/null | head -80 >"$OUT/annotate.txt" || true
echo "$SERVER $SCENARIO: Ir $IR1 / $IR2, deliveries $D1 / $D2,"\
  "instructions per delivery $(( (IR2 - IR1) / (D2 - D1) ))  ($OUT)"
