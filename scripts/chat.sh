#!/usr/bin/env bash
# Runs the chat example: installs the page's npm dependency (@stomp/stompjs, served by the
# binary itself, no CDN) if it is missing, then starts the server.
#   bash scripts/chat.sh                      # http://127.0.0.1:8080
#   bash scripts/chat.sh --addr 0.0.0.0:3000
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f examples/chat/web/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js ]]; then
  command -v npm >/dev/null 2>&1 || { echo "chat.sh: npm is needed to install @stomp/stompjs for the page" >&2; exit 1; }
  echo "chat.sh: installing the page's dependencies (npm ci in examples/chat/web)"
  (cd examples/chat/web && npm ci --no-audit --no-fund)
fi
exec cargo run --release -p chat -- "$@"
