#!/usr/bin/env bash
# The forward pass in WebAssembly: tests/test_llama.c built with Emscripten (SIMD128) and run
# under Node. Besides every check of the native test (reference logits, every kernel variant
# bit-identical to the scalar reference, decoding in chunks == one batch, hooks, bad input),
# the first window's logits must hash to the same SHA-256 as the native build's: the same
# bits on both targets. The same for tests/test_train.c and the SHA-256 of its gradients
# (stage 3's backward pass). Run by scripts/test.sh after the native build.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs} # emcc needs Debian's acorn
native=${NOVAQ_BUILD:-build}/tests/test_llama
[ -x "$native" ] || { echo "test-wasm-llama: native test missing at $native (run scripts/build.sh)"; exit 1; }
command -v emcc >/dev/null || { echo "test-wasm-llama: emcc not found (apt-get install emscripten)"; exit 1; }
deps=build-wasm/deps
core=build-wasm/simd/core/libnovaq_core.a  # the module's own core build (-msimd128)
[ -f "$deps/lib/libzstd.a" ] && [ -f "$deps/lib/libcjson.a" ] && [ -f "$core" ] || bash scripts/build-wasm.sh >/dev/null
cmake --build build-wasm/simd --target novaq_core >/dev/null  # current with core/
out=build-wasm/llama-test
mkdir -p "$out"
data=$PWD/tests/data
emcc -O2 -msimd128 -std=c11 -Wall -Wextra -ffp-contract=off -Icore -Icore/include -Itests -I"$deps/include" \
  -DNOVAQ_TEST_DATA="\"$data\"" -DNOVAQ_BIN='"novaq"' \
  tests/test_llama.c tests/testutil.c "$core" "$deps/lib/libzstd.a" "$deps/lib/libcjson.a" \
  -sNODERAWFS=1 -sALLOW_MEMORY_GROWTH=1 -sEXIT_RUNTIME=1 -sSINGLE_FILE=1 -o "$out/test_llama.js"
mv "$out/test_llama.js" "$out/test_llama.cjs" # package.json says "type": "module"
node "$out/test_llama.cjs" > "$out/wasm.txt" 2>&1 || { cut -c1-300 "$out/wasm.txt" | tail -20; echo "test-wasm-llama: wasm test failed"; exit 1; }
cat "$out/wasm.txt"
"$native" > "$out/native.txt"
w=$(grep "sha256" "$out/wasm.txt") n=$(grep "sha256" "$out/native.txt")
[ -n "$w" ] && [ "$w" = "$n" ] || { echo "test-wasm-llama: logits differ: wasm '$w', native '$n'"; exit 1; }
grep -q "kernel variant wasm-simd128 checked" "$out/wasm.txt" || { echo "test-wasm-llama: SIMD128 kernels not checked"; exit 1; }
# The training pass of stage 3 end to end: the same gradient bits on both targets.
emcc -O2 -msimd128 -std=c11 -Wall -Wextra -ffp-contract=off -Icore -Icore/include -Itests -I"$deps/include" \
  -DNOVAQ_TEST_DATA="\"$data\"" -DNOVAQ_BIN='"novaq"' \
  tests/test_train.c tests/testutil.c "$core" "$deps/lib/libzstd.a" "$deps/lib/libcjson.a" \
  -sNODERAWFS=1 -sALLOW_MEMORY_GROWTH=1 -sEXIT_RUNTIME=1 -sSINGLE_FILE=1 -o "$out/test_train.js"
mv "$out/test_train.js" "$out/test_train.cjs"
node "$out/test_train.cjs" > "$out/wasm-train.txt" 2>&1 || { tail -20 "$out/wasm-train.txt"; echo "test-wasm-llama: wasm training test failed"; exit 1; }
"${NOVAQ_BUILD:-build}/tests/test_train" > "$out/native-train.txt"
w=$(grep "gradients: sha256" "$out/wasm-train.txt") n=$(grep "gradients: sha256" "$out/native-train.txt")
[ -n "$w" ] && [ "$w" = "$n" ] || { echo "test-wasm-llama: gradients differ: wasm '$w', native '$n'"; exit 1; }
echo "test-wasm-llama: ok (wasm and native logits identical, training-pass gradients identical)"
