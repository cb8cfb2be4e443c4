#!/usr/bin/env bash
# Browser target tests (run by scripts/test.sh after the native build):
#  1. build the wasm module, SIMD and scalar (scripts/build-wasm.sh);
#  2. build check: SIMD128 instructions present, no unexpected imports;
#  3. Node tests of the JS API (node --test tests/wasm/), including SIMD-vs-scalar kernels
#     and byte-identity with the native `novaq local`;
#  4. browser end-to-end in headless Chromium (tests/browser/e2e.mjs), the same identity check
#     on the file the page lets you download; screenshot in tests/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export NOVAQ_BIN=${NOVAQ_BIN:-$PWD/build/cli/novaq}
[ -x "$NOVAQ_BIN" ] || { echo "test-wasm: native CLI missing at $NOVAQ_BIN (run scripts/build.sh)"; exit 1; }
[ -d node_modules/playwright-core ] || { echo "test-wasm: node_modules missing (run scripts/setup.sh)"; exit 1; }
NOVAQ_WASM_SCALAR=1 bash scripts/build-wasm.sh
node tests/wasm/check-module.mjs build-wasm/dist
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
preset=2
"$NOVAQ_BIN" local tests/data/novaq-tiny-llama/model.safetensors -o "$scratch/native.novaq" --bits "$preset" 2>/dev/null
export NOVAQ_NATIVE_NOVAQ=$scratch/native.novaq NOVAQ_WASM_TEST_PRESET=$preset
node --test tests/wasm/
node tests/browser/e2e.mjs --workers 2 --preset "$preset"
echo "test-wasm: ok"
