#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, doc, macro UI, wire, broker-integration
# (RabbitMQ, Redis) and real-client tests. Starts the local services and installs the
# third-party test clients first (both idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
bash scripts/setup-test-clients.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
