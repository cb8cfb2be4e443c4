#!/usr/bin/env bash
# Stress check (not in CI: minutes of I/O): a synthetic multi-GiB safetensors file (sparse,
# tests/wasm/make-big-model.mjs) streams through the wasm module in Node and through the page
# in headless Chromium without running out of memory; both outputs must be byte-identical to
# the native `novaq local` and validate.   scripts/stress-wasm.sh [GiB=5] [scratch dir]
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-5}
dir=${2:-$(mktemp -d)}
native=${NOVAQ_BIN:-build/cli/novaq}
[ -f build-wasm/dist/novaq_module.wasm ] || bash scripts/build-wasm.sh
mkdir -p "$dir"
big=$dir/big.safetensors
node tests/wasm/make-big-model.mjs "$big" "$gib"
echo "== Node, wasm"
node tests/wasm/stress.mjs "$big" "$dir/wasm.novaq"
echo "== native"
/usr/bin/time -f "native: %e s, peak RSS %M KiB" "$native" local "$big" -o "$dir/native.novaq" --bits 2
cmp "$dir/wasm.novaq" "$dir/native.novaq" && echo "stress: Node wasm output is byte-identical to native"
"$native" validate "$dir/wasm.novaq" >/dev/null && echo "stress: valid"
echo "== browser (1 worker)"
node tests/browser/stress.mjs "$big" "$dir/browser.novaq"
cmp "$dir/browser.novaq" "$dir/native.novaq" && echo "stress: browser output is byte-identical to native"
rm -f "$big"
echo "stress: ok"
