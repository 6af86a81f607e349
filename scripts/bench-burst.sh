#!/usr/bin/env bash
# Connection bursts (issue 14): the load generator's `conns` scenario, 10,000 connections
# opened 500 at a time, against the chat example started as the README starts it (release
# build, `chat --addr 127.0.0.1:PORT`, on its own port), this tree ("new") and a baseline
# commit ("old", default 23d97f7) alternately, each run on a fresh server; one table at the
# end. The same load generator (this tree's) measures both servers.
#
#   bash scripts/bench-burst.sh [times]         3 rounds of old/new, alternating (default)
#   bash scripts/bench-burst.sh instructions    callgrind instruction counts per connection
#
# Environment:
#   ROUNDS=3            rounds of the `times` mode (each: old then new, or new then old)
#   CONNECTIONS=10000   connections per run (instructions mode: 2000)
#   CONCURRENCY=500     handshakes in flight
#   PIN=1               pin the server to core SERVER_CPU (0) and the load generator to
#                       LOADGEN_CPU (1) with taskset (default: not pinned)
#   BASE=23d97f7        the old commit
#   PORT=18950          the port (the new server; old uses PORT+1)
#   CARGO_TARGET_DIR    default target-rel in the tree (release builds)
#
# The old tree is exported with `git archive` into $CARGO_TARGET_DIR/burst/old-src and built
# in its own target directory, $CARGO_TARGET_DIR/burst/old-target (cargo names a workspace
# crate's artifacts by its path inside the workspace, so two trees sharing one target
# directory overwrite each other's); binaries are copied to $CARGO_TARGET_DIR/burst/old/ and
# $CARGO_TARGET_DIR/burst/new/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
mode="${1:-times}"
export CARGO_INCREMENTAL=0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-rel}"
base="${BASE:-23d97f7}"
rounds="${ROUNDS:-3}"
concurrency="${CONCURRENCY:-500}"
port="${PORT:-18950}"
burst="$CARGO_TARGET_DIR/burst"
mkdir -p "$burst/old" "$burst/new"

case "$mode" in
  times) connections="${CONNECTIONS:-10000}" ;;
  instructions) connections="${CONNECTIONS:-2000}" ;;
  *) echo "usage: bench-burst.sh [times|instructions]" >&2; exit 2 ;;
esac

# A file descriptor per session in the server and another in the load generator (each is
# its own process), plus spare; at most the hard limit.
want=$(( connections + 1000 > 20000 ? connections + 1000 : 20000 ))
hard="$(ulimit -Hn)"
[ "$hard" != unlimited ] && [ "$hard" -lt "$want" ] && want="$hard"
ulimit -n "$want"

build() { # build SRC_DIR TARGET_DIR DEST_DIR
  CARGO_TARGET_DIR="$2" cargo build --release --quiet --manifest-path "$1/Cargo.toml" \
    -p chat -p loadgen
  cp "$2/release/chat" "$2/release/loadgen" "$3/"
}
echo "== building old ($base) and new (this tree), release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR" >&2
if [ "$(cat "$burst/old-src/.commit" 2>/dev/null)" != "$(git rev-parse "$base")" ]; then
  rm -rf "$burst/old-src"
  mkdir -p "$burst/old-src"
  git archive "$base" | tar -x -C "$burst/old-src"
  git rev-parse "$base" >"$burst/old-src/.commit"
fi
build "$burst/old-src" "$burst/old-target" "$burst/old"
build "$root" "$CARGO_TARGET_DIR" "$burst/new"
if cmp -s "$burst/old/chat" "$burst/new/chat"; then
  echo "old and new chat binaries are identical: the copy went wrong" >&2
  exit 1
fi

server_pin=() loadgen_pin=()
if [ "${PIN:-0}" = 1 ]; then
  server_pin=(taskset -c "${SERVER_CPU:-0}")
  loadgen_pin=(taskset -c "${LOADGEN_CPU:-1}")
  echo "== pinned: server on CPU ${SERVER_CPU:-0}, load generator on CPU ${LOADGEN_CPU:-1}" >&2
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() { # wait_port PORT
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

start_server() { # start_server WHICH PORT [WRAPPER...]; sets server_pid
  local which="$1" p="$2"
  shift 2
  "${server_pin[@]}" "$@" "$burst/$which/chat" --addr "127.0.0.1:$p" >/dev/null 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_port "$p"
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

loadgen() { # loadgen PORT CONNECTIONS HOLD [extra args]
  local p="$1" n="$2" hold="$3"
  shift 3
  "${loadgen_pin[@]}" "$burst/new/loadgen" conns --url "ws://127.0.0.1:$p/ws" \
    --connections "$n" --concurrency "$concurrency" --hold "$hold" "$@" 2>/dev/null || true
}

if [ "$mode" = times ]; then
  results="$burst/times.$(date -u +%Y%m%dT%H%M%S).jsonl"
  : >"$results"
  for round in $(seq "$rounds"); do
    # Alternate the order: old first in odd rounds, new first in even ones.
    order=(old new)
    [ $((round % 2)) = 0 ] && order=(new old)
    for which in "${order[@]}"; do
      p=$port
      [ "$which" = old ] && p=$((port + 1))
      start_server "$which" "$p"
      load="$(cut -d' ' -f1 /proc/loadavg)"
      out="$(loadgen "$p" "$connections" 2 --server-pid "$server_pid")"
      stop_server
      echo "$out" | jq -c --arg r "$round" --arg w "$which" --arg l "$load" \
        '{round: $r, server: $w, load: $l} + .' >>"$results"
      echo "round $round $which done (load $load)" >&2
    done
  done
  echo
  echo "$connections connections, $concurrency at a time; latencies in ms; results: $results"
  echo
  echo "| run (load avg) | server | connected | connects/s | session p50 / p99 / max | TCP p50 / p99 | server CPU s |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  jq -r 'def ms: (. / 1000 | round);
    "| \(.round) (\(.load)) | \(.server) | \(.connected // 0) | \(.connects_per_s // 0 | round) | "
    + "\(.connect_latency.p50_us // 0 | ms) / \(.connect_latency.p99_us // 0 | ms) / \(.connect_latency.max_us // 0 | ms) | "
    + "\(.tcp_connect_latency.p50_us // 0 | ms) / \(.tcp_connect_latency.p99_us // 0 | ms) | "
    + "\(.server_cpu_s // "–") |"' "$results"
  exit 0
fi

# instructions: callgrind counts (repeatable on a busy machine), per connection.
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
out_dir="$burst/callgrind"
# valgrind counts every iteration of `rep stosb` / `rep movsb` as one instruction, so glibc's
# memset and memcpy of a few KiB (which use them) would count ~1 instruction per byte;
# these thresholds keep glibc on its vector loops, whose count reflects the work.
tunables=GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=4294967295:glibc.cpu.x86_rep_movsb_threshold=4294967295
mkdir -p "$out_dir"
total_ir() { # the summary of a callgrind output file
  sed -n 's/^summary: *\([0-9]*\).*/\1/p;s/^totals: *\([0-9]*\).*/\1/p' "$1" | head -1
}
echo "| binary | instructions per connection | callgrind file |"
echo "|---|---:|---|"
for which in old new; do
  # The server: a warm-up run first (first allocations, lazy statics, the scheduler task),
  # then the counters are zeroed, the measured run made (its own 20 warm-up connections
  # included: CONNECTIONS + 20 sessions), and the counts dumped once every session of it
  # has closed: the cost of a whole session, accept to close.
  p=$((port + 2))
  rm -f "$out_dir/server-$which".*
  start_server "$which" "$p" env "$tunables" valgrind --tool=callgrind \
    --callgrind-out-file="$out_dir/server-$which.%p"
  loadgen "$p" 100 0 >/dev/null
  sleep 1
  callgrind_control -z "$server_pid" >/dev/null
  loadgen "$p" "$connections" 1 >/dev/null
  sleep 3 # the held sessions close when the load generator exits
  callgrind_control -d "$server_pid" >/dev/null
  stop_server
  dump="$(ls -t "$out_dir/server-$which".*.[0-9]* 2>/dev/null | head -1)"
  ir="$(total_ir "$dump")"
  echo "| server $which | $((ir / (connections + 20))) | $dump |"
done
# The load generator under callgrind against the (native) new server; its whole run,
# start-up included, divided by the connections made (warm-up 20 included).
for which in old new; do
  p=$((port + 3))
  start_server new "$p"
  rm -f "$out_dir/loadgen-$which".*
  "${loadgen_pin[@]}" env "$tunables" valgrind --tool=callgrind --callgrind-out-file="$out_dir/loadgen-$which.%p" \
    "$burst/$which/loadgen" conns --url "ws://127.0.0.1:$p/ws" --connections "$connections" \
    --concurrency "$concurrency" --hold 0 >/dev/null 2>&1 || true
  stop_server
  dump="$(ls -t "$out_dir/loadgen-$which".* | head -1)"
  ir="$(total_ir "$dump")"
  echo "| loadgen $which | $((ir / (connections + 20))) | $dump |"
done
