#!/usr/bin/env bash
# Fails unless every import of the given wasm module comes from module "ic0" and the
# Candid interface is embedded (the IC refuses modules importing anything else).
set -euo pipefail
wasm=$1
imports=$(wasm-objdump -x -j Import "$wasm" | grep -E '^ - func\[' || true)
bad=$(echo "$imports" | grep -v '<- ic0\.' | grep . || true)
if [ -n "$bad" ]; then
  echo "check-imports: $wasm imports from outside ic0:" >&2
  echo "$bad" >&2
  exit 1
fi
other=$(wasm-objdump -x -j Import "$wasm" | grep -E '^ - (memory|table|global)\[' || true)
if [ -n "$other" ]; then echo "check-imports: non-function imports: $other" >&2; exit 1; fi
wasm-objdump -h "$wasm" | grep -q '"icp:public candid:service"' ||
  { echo "check-imports: $wasm lacks the icp:public candid:service section" >&2; exit 1; }
echo "check-imports: $(echo "$imports" | grep -c . ) imports, all from ic0"
