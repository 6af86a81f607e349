#!/usr/bin/env bash
# Idle-session memory (`conns`) and session churn (`churn`) of bench-server, an older
# bench-server build and the bare axum forwarder, alternating the servers within each
# round, RUNS rounds; writes the medians as a markdown table (issue 18).
#
#   scripts/bench-conns.sh                                  # conns, 10,000 sessions, RUNS=3
#   CONNS=100000 SERVERS=ours RUNS=1 scripts/bench-conns.sh # 100,000 idle sessions
#   SCENARIOS=churn SERVERS=ours RUNS=1 scripts/bench-conns.sh
#                                        # 1,000 connects+disconnects/s for CHURN_SECS (60)
#   BEFORE=/path/to/old/bench-server SERVERS="ours before forwarder" scripts/bench-conns.sh
#   SERVERS="ours ours1k forwarder" scripts/bench-conns.sh  # ours1k: read_buffer_size(1024)
#
# Each server holds one descriptor per session and the load generator one per connection:
# the script raises `ulimit -n` to what CONNS needs (up to the hard limit; it says so when
# the hard limit is lower, and runs with what it has). Past ~28,000 connections from one
# address the loopback ephemeral ports run out, so the load generator spreads its
# connections over SOURCES addresses 127.0.0.1.. (default: one per 25,000 connections).
# Results: bench/results/conns-<UTC time>/ (one JSON per run, table.md with the medians).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
CONNS=${CONNS:-10000}
HOLD=${HOLD:-2}
SERVERS=${SERVERS:-"ours before forwarder"}
SCENARIOS=${SCENARIOS:-conns}
CHURN_RATE=${CHURN_RATE:-1000}
CHURN_SECS=${CHURN_SECS:-60}
SOURCES=${SOURCES:-$(( (CONNS + 24999) / 25000 ))}
OUT=bench/results/conns-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

want=$(( CONNS + 1024 ))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
  echo "open files: hard limit $hard < $want needed for $CONNS sessions;" \
       "raise it (e.g. 'ulimit -Hn $want' as root, or LimitNOFILE) for the full run" | tee -a "$OUT/machine.txt" >&2
  ulimit -n "$hard"
  CONNS=$(( hard - 1024 ))
  echo "running with CONNS=$CONNS" | tee -a "$OUT/machine.txt" >&2
else
  ulimit -n "$want"
fi
echo "open files limit: $(ulimit -n)" | tee -a "$OUT/machine.txt"
{ date -u; uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; rustc --version; } >>"$OUT/machine.txt" 2>&1

cargo build --release -q -p loadgen -p bench-server
BIN=${CARGO_TARGET_DIR:-target}/release
LOADGEN=$BIN/loadgen

port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

SERVER_PID=
start_server() { # $1 = server name; sets URL, STATS, SERVER_PID
  local port cmd
  case $1 in
    ours) port=27180; cmd=("$BIN/bench-server" --addr 127.0.0.1:$port) ;;
    before) port=27181; cmd=("${BEFORE:?set BEFORE to an older bench-server binary}" --addr 127.0.0.1:$port) ;;
    forwarder) port=27182; cmd=("$BIN/bare-forwarder" --addr 127.0.0.1:$port) ;;
    ours1k) port=27183; cmd=("$BIN/bench-server" --addr 127.0.0.1:$port --read-buffer 1024) ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
  if port_open "$port"; then
    echo "port $port is already in use: stop what listens there first" >&2; exit 1
  fi
  "${cmd[@]}" >>"$OUT/$1.log" 2>&1 &
  SERVER_PID=$!
  URL=ws://127.0.0.1:$port/ws
  STATS=http://127.0.0.1:$port/stats
  for _ in $(seq 1 100); do
    port_open "$port" && return
    sleep 0.05
  done
  echo "server $1 did not start" >&2; return 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

for run in $(seq 1 "$RUNS"); do
  read -r -a order <<<"$SERVERS"
  shift_by=$(( (run - 1) % ${#order[@]} ))
  order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
  for scenario in $SCENARIOS; do
    for server in "${order[@]}"; do
      # Only bench-server (after this change) answers /stats; the forwarder has no STOMP
      # registries to leak; ours1k differs from ours only in its read buffer.
      [ "$scenario" = churn ] && [ "$server" = forwarder ] && continue
      [ "$scenario" = churn ] && [ "$server" = ours1k ] && continue
      start_server "$server"
      case $scenario in
        conns) args=(conns --connections "$CONNS" --hold "$HOLD" --sources "$SOURCES") ;;
        churn)
          args=(churn --rate "$CHURN_RATE" --duration "$CHURN_SECS")
          [ "$server" = ours ] && args+=(--stats-url "$STATS") ;;
      esac
      file="$OUT/$scenario-$server-$run.json"
      echo "== run $run: $scenario on $server ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
      "$LOADGEN" "${args[@]}" --url "$URL" --server-pid "$SERVER_PID" >"$file" 2>>"$OUT/progress.log" || true
      python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null ||
        echo '{"errors":["no result"]}' >"$file"
      sed -i "s/^{/{\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"server\":\"$server\",\"run\":$run,/" "$file"
      stop_server
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
def med(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None
def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"
names = {"ours": "stomp-axum (bench-server)", "before": "stomp-axum before (BEFORE=...)",
         "ours1k": "stomp-axum, read_buffer_size(1024)", "forwarder": "bare axum forwarder"}
fw = med(runs.get(("conns", "forwarder"), []), "server_bytes_per_session")
if any(s == "conns" for s, _ in runs):
    print("| conns | runs | connected | held idle | server RSS with all held | server bytes/session | over forwarder | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for server in ["ours", "before", "ours1k", "forwarder"]:
        rs = runs.get(("conns", server))
        if not rs:
            continue
        per = med(rs, "server_bytes_per_session")
        over = "–" if server == "forwarder" or per is None or fw is None else f"{per - fw:+,.0f} B"
        print(f"| {names[server]} | {len(rs)} | {fmt(med(rs, 'connected'))} | {fmt(med(rs, 'held'))} | "
              f"{fmt((med(rs, 'server_rss_after_bytes') or 0) / 2**20, 1)} MiB | {fmt(per)} | {over} | {fmt(med(rs, 'load1'), 1)} |")
if any(s == "churn" for s, _ in runs):
    print()
    print("| churn | runs | sessions | failed | sessions/s | RSS start MiB | RSS after first 10 s | RSS at end | RSS 5 s after | leftover registries | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for server in ["ours", "before"]:
        rs = runs.get(("churn", server))
        if not rs:
            continue
        mib = lambda k: fmt((med(rs, k) or 0) / 2**20, 1)
        left = sorted({json.dumps(r.get("leftover")) for r in rs})
        print(f"| {names[server]} | {len(rs)} | {fmt(med(rs, 'completed'))} | {fmt(med(rs, 'failed'))} | "
              f"{fmt(med(rs, 'sessions_per_s'))} | {mib('server_rss_start_bytes')} | {mib('server_rss_warm_bytes')} | "
              f"{mib('server_rss_end_bytes')} | {mib('server_rss_settled_bytes')} | {' '.join(left)} | {fmt(med(rs, 'load1'), 1)} |")
PY
