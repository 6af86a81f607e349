#!/usr/bin/env bash
# Runs every load-generator scenario against our server (bench-server), the bare axum
# forwarder, RabbitMQ Web-STOMP and stomp-broker-js, alternating the servers within each
# round, RUNS rounds, and writes the medians as a markdown table.
#
#   scripts/bench.sh                     # RUNS=3 DURATION=5
#   RUNS=5 DURATION=10 scripts/bench.sh
#   SERVERS="ours forwarder" SCENARIOS="fanout100 pairs" scripts/bench.sh
#   WORKERS=1 SERVERS=ours scripts/bench.sh   # bench-server --workers 1 (runtime threads)
#   BEFORE=/path/to/old/bench-server SERVERS="ours before forwarder" scripts/bench.sh
#                                        # before/after: "before" runs an older bench-server build
#
# RabbitMQ must already run with rabbitmq_web_stomp (ws://127.0.0.1:15674/ws, guest/guest);
# it is skipped when that port is closed. Everything else is started here, fresh for every
# run, on loopback ports 18080-18082. Results: bench/results/<UTC time>/ (one JSON per run,
# table.md with the medians).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
# ours1k: bench-server with read_buffer_size(1024), in the conns scenario only.
SERVERS=${SERVERS:-"ours forwarder rabbitmq js ours1k"}
SCENARIOS=${SCENARIOS:-"fanout100 fanout1000 pairs latency app conns"}
CONNS=${CONNS:-10000}
# RabbitMQ's file-descriptor limit here is 1024: its idle-connection run stays below it.
RABBIT_CONNS=${RABBIT_CONNS:-800}
RABBIT_SUBSCRIBERS=${RABBIT_SUBSCRIBERS:-800}   # fanout1000 on RabbitMQ: 800 subscribers
OUT=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

# 10,000 connections need more descriptors than the usual 1024 (server and load generator).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" | tee "$OUT/machine.txt"

cargo build --release -q -p loadgen -p bench-server
[ -d bench/node_modules ] || (cd bench && npm ci --no-audit --no-fund)
LOADGEN=target/release/loadgen

{ date -u; uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; rustc --version; node --version;
  rabbitmqctl version 2>/dev/null || true; } >>"$OUT/machine.txt" 2>&1

SERVER_PID=
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

start_server() { # $1 = server name; sets URL, SERVER_PID, AUTH
  AUTH=()
  local want
  case $1 in ours|ours1k) want=18080 ;; forwarder) want=18081 ;; js) want=18082 ;; before) want=18083 ;; *) want= ;; esac
  if [ -n "$want" ] && port_open "$want"; then
    echo "port $want is already in use: stop what listens there first" >&2; exit 1
  fi
  case $1 in
    ours|ours1k)
      local extra=(); [ "$1" = ours1k ] && extra=(--read-buffer 1024)
      [ -n "${WORKERS:-}" ] && extra+=(--workers "$WORKERS")
      target/release/bench-server --addr 127.0.0.1:18080 "${extra[@]}" >>"$OUT/ours.log" 2>&1 &
      SERVER_PID=$!; URL=ws://127.0.0.1:18080/ws ;;
    before)
      "${BEFORE:?set BEFORE to an older bench-server binary}" --addr 127.0.0.1:18083 >>"$OUT/before.log" 2>&1 &
      SERVER_PID=$!; URL=ws://127.0.0.1:18083/ws ;;
    forwarder)
      target/release/bare-forwarder --addr 127.0.0.1:18081 >>"$OUT/forwarder.log" 2>&1 &
      SERVER_PID=$!; URL=ws://127.0.0.1:18081/ws ;;
    js)
      node bench/server.js 18082 >>"$OUT/js.log" 2>&1 &
      SERVER_PID=$!; URL=ws://127.0.0.1:18082/ws ;;
    rabbitmq)
      SERVER_PID=$(pgrep -f beam.smp | head -1); URL=ws://127.0.0.1:15674/ws
      AUTH=(--login guest --passcode guest); return ;;
  esac
  local port=${URL#ws://127.0.0.1:}; port=${port%/ws}
  for _ in $(seq 1 100); do
    port_open "$port" && return
    sleep 0.05
  done
  echo "server $1 did not start" >&2; return 1
}

stop_server() { # $1 = server name
  [ "$1" = rabbitmq ] && return
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

args_for() { # $1 = scenario, $2 = server
  case $1 in
    fanout100) echo "fanout --subscribers 100 --duration $DURATION" ;;
    fanout1000)
      local n=1000; [ "$2" = rabbitmq ] && n=$RABBIT_SUBSCRIBERS
      echo "fanout --subscribers $n --duration $DURATION" ;;
    pairs) echo "pairs --pairs 50 --duration $DURATION" ;;
    latency) echo "latency --subscribers 10 --rate 1000 --duration $DURATION" ;;
    app) echo "app --subscribers 100 --duration $DURATION" ;;
    conns)
      local n=$CONNS; [ "$2" = rabbitmq ] && n=$RABBIT_CONNS
      echo "conns --connections $n --hold 2" ;;
  esac
}

rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/15674) 2>/dev/null; }

for run in $(seq 1 "$RUNS"); do
  # Alternate: rotate the server order every round.
  read -r -a order <<<"$SERVERS"
  shift_by=$(( (run - 1) % ${#order[@]} ))
  order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
  for scenario in $SCENARIOS; do
    for server in "${order[@]}"; do
      [ "$scenario" = app ] && [ "$server" != ours ] && [ "$server" != before ] && continue   # only ours has /app
      [ "$server" = ours1k ] && [ "$scenario" != conns ] && continue
      [ "$server" = rabbitmq ] && ! rabbit_up && continue
      start_server "$server"
      read -r -a args <<<"$(args_for "$scenario" "$server")"
      file="$OUT/$scenario-$server-$run.json"
      echo "== run $run: $scenario on $server ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
      "$LOADGEN" "${args[@]}" --url "$URL" "${AUTH[@]}" --server-pid "$SERVER_PID" \
        >"$file" 2>"$OUT/progress.log" || true
      python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null ||
        echo '{"errors":["no result"]}' >"$file"
      sed -i "s/^{/{\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"server\":\"$server\",\"run\":$run,/" "$file"
      stop_server "$server"
    done
  done
done

python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import glob, json, os, statistics, sys
from collections import defaultdict
out = sys.argv[1]
runs = defaultdict(list)
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    scenario = os.path.basename(f).split("-")[0]
    r = json.load(open(f))
    runs[(scenario, r.get("server", "?"))].append(r)
def med(rs, *path):
    vals = []
    for r in rs:
        v = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(v)
    return statistics.median(vals) if vals else None
def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"
names = {"ours": "stomp-axum (bench-server)", "before": "stomp-axum, before (BEFORE=...)", "ours1k": "stomp-axum, read_buffer_size(1024)", "forwarder": "bare axum forwarder",
         "rabbitmq": "RabbitMQ Web-STOMP", "js": "stomp-broker-js"}
order = ["ours", "before", "ours1k", "forwarder", "rabbitmq", "js"]
print("| scenario | server | runs | delivered/s | server CPU µs/delivery | p50 µs | p99 µs | p99.9 µs | lost | out of order | vs forwarder: msgs/s, CPU | load avg |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for scenario in ["fanout100", "fanout1000", "pairs", "latency", "app"]:
    fw = runs.get((scenario, "forwarder"), [])
    fw_rate, fw_cpu = med(fw, "delivered_per_s"), med(fw, "server_cpu_us_per_delivery")
    for server in order:
        rs = runs.get((scenario, server))
        if not rs:
            continue
        rate, cpu = med(rs, "delivered_per_s"), med(rs, "server_cpu_us_per_delivery")
        ratio = "–"
        if server != "forwarder" and rate and fw_rate and cpu and fw_cpu:
            ratio = f"{rate / fw_rate:.0%}, {cpu / fw_cpu:.2f}x"
        errs = sum(1 for r in rs if r.get("errors"))
        print(f"| {scenario} | {names[server]}{' (' + str(errs) + ' failed)' if errs else ''} | {len(rs)} | {fmt(rate)} | {fmt(cpu, 3)} | "
              f"{fmt(med(rs, 'latency', 'p50_us'))} | {fmt(med(rs, 'latency', 'p99_us'))} | "
              f"{fmt(med(rs, 'latency', 'p999_us'))} | {fmt(med(rs, 'lost'))} | {fmt(med(rs, 'out_of_order'))} | "
              f"{ratio} | {fmt(med(rs, 'load1'), 1)} |")
print()
print("| conns | runs | requested | connected | held idle | connects/s | server bytes/session | load avg |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for server in order:
    rs = runs.get(("conns", server))
    if not rs:
        continue
    print(f"| {names[server]} | {len(rs)} | {fmt(med(rs, 'requested'))} | {fmt(med(rs, 'connected'))} | "
          f"{fmt(med(rs, 'held'))} | {fmt(med(rs, 'connects_per_s'))} | "
          f"{fmt(med(rs, 'server_bytes_per_session'))} | {fmt(med(rs, 'load1'), 1)} |")
PY
