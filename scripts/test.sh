#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, doc, macro UI, wire and real-client tests.
# Installs what the real-client tests need first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-test-clients.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
