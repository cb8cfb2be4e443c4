#!/usr/bin/env bash
# Prints the canister's numbers (docs/CANISTER.md): wasm size and instruction counts from
# the emulator (executed wasm instructions, as ic0.performance_counter(0) reports them).
# Needs build-canister/novaq_canister.wasm and build-canister/tiny.novaq
# (scripts/test-canister.sh makes both).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build-canister/novaq_canister.wasm ] || bash scripts/build-canister.sh
[ -f build-canister/tiny.novaq ] || { echo "bench-canister: run scripts/test-canister.sh first (makes build-canister/tiny.novaq)"; exit 1; }
node tests/canister/bench.mjs
