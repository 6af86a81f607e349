#!/usr/bin/env bash
# Durable queues vs RabbitMQ: persistent SENDs (persistent:true) with a RECEIPT each, closed
# loop per producer, 1 and 50 producers, one auto-ack consumer; msg/s and receipt latency.
#   bash scripts/bench-durable.sh [SECONDS]     (default 10 per run)
# Needs RabbitMQ's Web-STOMP on 127.0.0.1:15674 (bash scripts/services.sh). Both servers are
# reached over STOMP on a WebSocket, the same client, on the same machine and disk.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
cargo build --release -p chat -p loadgen
data="$(mktemp -d "${TMPDIR:-/tmp}/bench-durable.XXXXXX")"
port=18931
./target/release/chat --addr "127.0.0.1:$port" --data-dir "$data" >/dev/null &
chat_pid=$!
trap 'kill $chat_pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
# --subscribers 0: nobody consumes while producing, so every message must reach the disk
# before its RECEIPT on both sides (RabbitMQ confirms a persistent message that a consumer
# already took without waiting for the disk); --subscribers 1: one auto-ack consumer.
# Without a consumer the queue grows: 9,000 messages per run (the embedded broker's default
# queue depth is 10,000).
for subscribers in 0 1; do
  for producers in 1 50; do
    most=$(( subscribers == 0 ? 9000 / producers : 10000000 ))
    echo "== embedded durable broker, $producers producers, $subscribers consumer"
    ./target/release/loadgen durable --url "ws://127.0.0.1:$port/ws" --login bench \
      --pairs "$producers" --subscribers "$subscribers" --messages "$most" \
      --duration "$secs" --body 128
    echo "== RabbitMQ durable queue (Web-STOMP), $producers producers, $subscribers consumer"
    ./target/release/loadgen durable --url "ws://127.0.0.1:15674/ws" --login guest \
      --passcode guest --host / --pairs "$producers" --subscribers "$subscribers" \
      --messages "$most" --duration "$secs" --body 128
  done
done
