#!/usr/bin/env bash
# Builds the browser module: the core + wasm/ entry points as ONE Emscripten wasm module
# with its ES module loader, from the top-level CMake project (emcmake).
#
#   scripts/build-wasm.sh            -> build-wasm/simd   (SIMD128 kernels; what the page uses)
#   NOVAQ_WASM_SCALAR=1 ...          -> also build-wasm/scalar (scalar kernels; for bench/tests)
#
# zstd and cJSON are built for wasm from Debian's source packages by scripts/build-deb-deps.sh
# (fetched and verified by scripts/fetch-deb-sources.sh into build-wasm/deps; the versions used
# are printed and compiled into the module's nqw_build_info): nothing third-party is committed. The result is collected in build-wasm/dist/:
# novaq_module.mjs + novaq_module.wasm (+ novaq_module_scalar.* when built).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-wasm
deps=$out/deps
export NODE_PATH=/usr/share/nodejs   # emcc needs acorn from Debian's node modules
command -v emcc >/dev/null || { echo "build-wasm: emcc not found (apt-get install emscripten)"; exit 1; }
jobs=$(nproc)

build_variant() { # name, extra C flags
  local name=$1 cflags=$2 dir=$out/$1
  emcmake cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DNOVAQ_CORE_ONLY=ON \
    -DCMAKE_C_FLAGS="$cflags" \
    -DNOVAQ_DEPS_INCLUDE="$deps/include" -DNOVAQ_DEPS_VERSIONS_FILE="$deps/src/VERSIONS" \
    -DNOVAQ_DEPS_LIBS="$deps/lib/libzstd.a;$deps/lib/libcjson.a" >/dev/null
  cmake --build "$dir" -j"$jobs" --target novaq_module
}

bash "$root/scripts/build-deb-deps.sh" "$deps" emcc emar
mkdir -p "$out/dist"
build_variant simd "-msimd128"
cp "$out/simd/wasm/novaq_module.mjs" "$out/simd/wasm/novaq_module.wasm" "$out/dist/"
if [ "${NOVAQ_WASM_SCALAR:-0}" = 1 ]; then
  build_variant scalar ""
  sed 's/novaq_module\.wasm/novaq_module_scalar.wasm/g' "$out/scalar/wasm/novaq_module.mjs" \
    > "$out/dist/novaq_module_scalar.mjs"
  cp "$out/scalar/wasm/novaq_module.wasm" "$out/dist/novaq_module_scalar.wasm"
fi
echo "build-wasm: ok -> $out/dist ($(stat -c %s "$out/dist/novaq_module.wasm") bytes wasm; zstd and cJSON from Debian source $(awk '{printf "%s%s %s (%s)", (NR > 1 ? ", " : ""), $1, $2, $3}' "$deps/src/VERSIONS"))"
