#!/usr/bin/env bash
# 100,000 idle sessions on one machine whose per-process open-files limit is below 100,000
# (issue 18, BENCHMARKS.md "100,000 idle sessions").
#
# A server needs one descriptor per session. Where `ulimit -Hn` allows CONNS + 1,024, use
# `CONNS=100000 SERVERS=ours RUNS=1 scripts/bench-conns.sh` (one process). Where it does not
# (this container: hard limit 20,000, no CAP_SYS_RESOURCE to raise it), this script starts
# PROCS bench-server processes on ports 27190.. and one load generator per server, all at
# once, so that CONNS sessions are held at the same moment. While every load generator is
# holding, it counts the established server-side connections (`ss`) and sums the servers'
# resident memory. Each process pays its own runtime and allocator arenas, so the sum is an
# upper bound of what one process would need; the per-session figure subtracts each server's
# own baseline (read by its load generator after 20 warm-up sessions).
#
#   scripts/bench-100k.sh                  # ours, CONNS=100000 PROCS=6 HOLD=30 RUNS=1
#   BEFORE=/path/to/old/bench-server SERVERS="ours before forwarder" RUNS=3 scripts/bench-100k.sh
#                                          # alternating servers within each round, medians
#
# Results: bench/results/100k-<UTC time>/<server>-<run>/ (one JSON per load generator,
# sample.json) and table.md with the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-100000}
PROCS=${PROCS:-6}
HOLD=${HOLD:-30}
RUNS=${RUNS:-1}
SERVERS=${SERVERS:-ours}
BASE_PORT=27190
PER=$(( (CONNS + PROCS - 1) / PROCS ))
OUT=bench/results/100k-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $(( PER + 1024 )) ]; then
  echo "open files: hard limit $hard < $(( PER + 1024 )) needed per process; raise PROCS" >&2
  exit 2
fi
ulimit -n "$hard"
{ date -u; uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; rustc --version
  echo "open files limit: $(ulimit -n); $PROCS processes x $PER sessions"; } >"$OUT/machine.txt" 2>&1

cargo build --release -q -p loadgen -p bench-server
BIN=${CARGO_TARGET_DIR:-target}/release

port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

SERVER_PIDS=()
LOADGEN_PIDS=()
cleanup() {
  for pid in "${LOADGEN_PIDS[@]}" "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LOADGEN_PIDS[@]}" "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  LOADGEN_PIDS=(); SERVER_PIDS=()
}
trap cleanup EXIT

server_cmd() { # $1 = server name, $2 = port
  case $1 in
    ours) echo "$BIN/bench-server --addr 127.0.0.1:$2" ;;
    before) echo "${BEFORE:?set BEFORE to an older bench-server binary} --addr 127.0.0.1:$2" ;;
    forwarder) echo "$BIN/bare-forwarder --addr 127.0.0.1:$2" ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
}

one_run() { # $1 = server name, $2 = result folder
  local dir=$2 i port
  mkdir -p "$dir"
  for i in $(seq 0 $(( PROCS - 1 ))); do
    port=$(( BASE_PORT + i ))
    if port_open "$port"; then echo "port $port is in use" >&2; exit 1; fi
    # shellcheck disable=SC2046 # the command is words, no quoting needed
    $(server_cmd "$1" "$port") >"$dir/server-$i.log" 2>&1 &
    SERVER_PIDS+=("$!")
  done
  for i in $(seq 0 $(( PROCS - 1 ))); do
    for _ in $(seq 1 100); do port_open $(( BASE_PORT + i )) && break; sleep 0.05; done
  done
  for i in $(seq 0 $(( PROCS - 1 ))); do
    "$BIN/loadgen" conns --connections "$PER" --hold "$HOLD" \
      --url "ws://127.0.0.1:$(( BASE_PORT + i ))/ws" --server-pid "${SERVER_PIDS[$i]}" \
      >"$dir/conns-$i.json" 2>"$dir/progress-$i.log" &
    LOADGEN_PIDS+=("$!")
  done
  # Wait (bounded) until every load generator holds all its sessions, then sample.
  local holding=0 rss_kib=0 established pid
  for _ in $(seq 1 600); do
    holding=$( (grep -l "^holding" "$dir"/progress-*.log 2>/dev/null || true) | wc -l)
    [ "$holding" -eq "$PROCS" ] && break
    sleep 0.5
  done
  for pid in "${SERVER_PIDS[@]}"; do
    rss_kib=$(( rss_kib + $(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status) ))
  done
  established=$(ss -Htn state established "( sport >= :$BASE_PORT and sport < :$(( BASE_PORT + PROCS )) )" | wc -l)
  echo "{\"server\": \"$1\", \"holding_generators\": $holding, \"established\": $established, \"servers_rss_kib\": $rss_kib, \"load1\": $(cut -d' ' -f1 /proc/loadavg)}" >"$dir/sample.json"
  for pid in "${LOADGEN_PIDS[@]}"; do wait "$pid" || true; done
  LOADGEN_PIDS=()
  cleanup
}

for run in $(seq 1 "$RUNS"); do
  read -r -a order <<<"$SERVERS"
  shift_by=$(( (run - 1) % ${#order[@]} ))
  order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
  for server in "${order[@]}"; do
    echo "== run $run: $server ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
    one_run "$server" "$OUT/$server-$run"
  done
done

python3 - "$OUT" "$PROCS" <<'PY' | tee "$OUT/table.md"
import glob, json, os, statistics, sys
from collections import defaultdict
out, procs = sys.argv[1], int(sys.argv[2])
rows = defaultdict(list)
for d in sorted(glob.glob(os.path.join(out, "*-*/"))):
    sample = json.load(open(os.path.join(d, "sample.json")))
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "conns-*.json")))]
    connected = sum(r.get("connected", 0) for r in runs)
    before = sum(r.get("server_rss_before_bytes") or 0 for r in runs)
    after = sum(r.get("server_rss_after_bytes") or 0 for r in runs)
    rows[sample["server"]].append({
        "connected": connected,
        "held": sum(r.get("held", 0) for r in runs),
        "failed": sum(r.get("failed", 0) for r in runs),
        "established": sample["established"],
        "holding": sample["holding_generators"],
        "rss": sample["servers_rss_kib"] * 1024,
        "before": before, "after": after,
        "per": (after - before) / connected if connected else None,
        "errors": [e for r in runs for e in r.get("errors", [])],
    })
med = lambda rs, k: statistics.median([r[k] for r in rs if r[k] is not None])
names = {"ours": "stomp-axum (bench-server)", "before": "stomp-axum before (BEFORE=...)",
         "forwarder": "bare axum forwarder"}
print(f"| {procs} processes, medians | runs | sessions connected | held to the end | failed "
      "| established while all held | servers' RSS while all held | Σ RSS before | server bytes/session |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for server in ["ours", "before", "forwarder"]:
    rs = rows.get(server)
    if not rs:
        continue
    print(f"| {names[server]} | {len(rs)} | {med(rs, 'connected'):,.0f} | {med(rs, 'held'):,.0f} "
          f"| {med(rs, 'failed'):,.0f} | {med(rs, 'established'):,.0f} "
          f"(min {min(r['holding'] for r in rs)} of {procs} generators holding) "
          f"| {med(rs, 'rss') / 2**20:,.1f} MiB | {med(rs, 'before') / 2**20:,.1f} MiB | {med(rs, 'per'):,.0f} |")
    errors = [e for r in rs for e in r["errors"]]
    if errors:
        print(f"\n{server}: {len(errors)} errors, first: {errors[:3]}\n")
PY
