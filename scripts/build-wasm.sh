#!/usr/bin/env bash
# Builds the browser module: the core + wasm/ entry points as ONE Emscripten wasm module
# with its ES module loader, from the top-level CMake project (emcmake).
#
#   scripts/build-wasm.sh            -> build-wasm/simd   (SIMD128 kernels; what the page uses)
#   NOVAQ_WASM_SCALAR=1 ...          -> also build-wasm/scalar (scalar kernels; for bench/tests)
#
# zstd and cJSON are built for wasm from Debian's source packages (the same versions as the
# native libzstd-dev/libcjson-dev), fetched into build-wasm/deps with a private apt sources
# list: nothing third-party is committed. The result is collected in build-wasm/dist/:
# novaq_module.mjs + novaq_module.wasm (+ novaq_module_scalar.* when built).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-wasm
deps=$out/deps
export NODE_PATH=/usr/share/nodejs   # emcc needs acorn from Debian's node modules
command -v emcc >/dev/null || { echo "build-wasm: emcc not found (apt-get install emscripten)"; exit 1; }
jobs=$(nproc)

fetch_sources() { bash "$root/scripts/fetch-deb-sources.sh" "$deps"; }

build_deps() {
  [ -f "$deps/lib/libzstd.a" ] && [ -f "$deps/lib/libcjson.a" ] && return 0
  local zsrc csrc
  zsrc=$(find "$deps/src" -maxdepth 1 -type d -name 'libzstd-*' | head -n1)
  csrc=$(find "$deps/src" -maxdepth 1 -type d -name 'cjson-*' | head -n1)
  [ -n "$zsrc" ] && [ -n "$csrc" ] || { echo "build-wasm: unpacked sources missing"; exit 1; }
  mkdir -p "$deps/include/cjson" "$deps/lib" "$deps/obj/zstd" "$deps/obj/cjson"
  # zstd: single-threaded library, compression + decompression only.
  local f
  for f in "$zsrc"/lib/common/*.c "$zsrc"/lib/compress/*.c "$zsrc"/lib/decompress/*.c; do
    echo "emcc -O3 -DZSTD_MULTITHREAD=0 -DZSTD_DISABLE_ASM -DXXH_NAMESPACE=ZSTD_ -I$zsrc/lib -I$zsrc/lib/common -c $f -o $deps/obj/zstd/$(basename "$f" .c).o"
  done | xargs -P "$jobs" -I{} sh -c '{}'
  emar rcs "$deps/lib/libzstd.a" "$deps"/obj/zstd/*.o
  cp "$zsrc"/lib/zstd.h "$zsrc"/lib/zstd_errors.h "$zsrc"/lib/zdict.h "$deps/include/"
  emcc -O3 -std=c89 -c "$csrc/cJSON.c" -o "$deps/obj/cjson/cJSON.o"
  emar rcs "$deps/lib/libcjson.a" "$deps/obj/cjson/cJSON.o"
  cp "$csrc/cJSON.h" "$deps/include/"
  cp "$csrc/cJSON.h" "$deps/include/cjson/"
}

build_variant() { # name, extra C flags
  local name=$1 cflags=$2 dir=$out/$1
  emcmake cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DNOVAQ_CORE_ONLY=ON \
    -DCMAKE_C_FLAGS="$cflags" \
    -DNOVAQ_DEPS_INCLUDE="$deps/include" \
    -DNOVAQ_DEPS_LIBS="$deps/lib/libzstd.a;$deps/lib/libcjson.a" >/dev/null
  cmake --build "$dir" -j"$jobs" --target novaq_module
}

fetch_sources
build_deps
mkdir -p "$out/dist"
build_variant simd "-msimd128"
cp "$out/simd/wasm/novaq_module.mjs" "$out/simd/wasm/novaq_module.wasm" "$out/dist/"
if [ "${NOVAQ_WASM_SCALAR:-0}" = 1 ]; then
  build_variant scalar ""
  sed 's/novaq_module\.wasm/novaq_module_scalar.wasm/g' "$out/scalar/wasm/novaq_module.mjs" \
    > "$out/dist/novaq_module_scalar.mjs"
  cp "$out/scalar/wasm/novaq_module.wasm" "$out/dist/novaq_module_scalar.wasm"
fi
echo "build-wasm: ok -> $out/dist ($(stat -c %s "$out/dist/novaq_module.wasm") bytes wasm)"
