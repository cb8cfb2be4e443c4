#!/usr/bin/env bash
# Browser-target numbers (prints, asserts nothing): module size raw/gzip; encode throughput of
# wasm SIMD vs wasm scalar (Node, one instance) vs native (one thread) on the same preset;
# the page in headless Chromium with 1 and 2 workers (weights/s, peak worker memory).
#   scripts/bench-wasm.sh [preset=2] [model.safetensors]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-2}
model=${2:-tests/data/novaq-tiny-llama/model.safetensors}
native=${NOVAQ_BIN:-build/cli/novaq}
NOVAQ_WASM_SCALAR=1 bash scripts/build-wasm.sh >/dev/null
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(chromium --version 2>/dev/null); node $(node --version)"
echo "== module size"
for m in novaq_module novaq_module_scalar; do
  w=build-wasm/dist/$m.wasm j=build-wasm/dist/$m.mjs
  echo "$m.wasm: $(stat -c %s "$w") bytes raw, $(gzip -9c "$w" | wc -c) gzip -9; loader $m.mjs: $(stat -c %s "$j") raw, $(gzip -9c "$j" | wc -c) gzip -9"
done
echo "== encode throughput, preset $preset, $(basename "$model")"
node scripts/bench-wasm.mjs "$model" "$preset"
if [ -x "$native" ]; then
  out=$(mktemp)
  for n in 1 2; do
    echo "native (NOVAQ_NUM_THREADS=$n): $(NOVAQ_NUM_THREADS=$n /usr/bin/time -f '[%U CPU s user, %e s wall]' "$native" local "$model" -o "$out" --bits "$preset" 2>&1 | tail -n2 | tr '\n' ' ')"
  done
  rm -f "$out"
fi
echo "== browser (headless Chromium, the page itself)"
node scripts/bench-wasm-browser.mjs "$model" "$preset" 1,2
