#!/usr/bin/env bash
# Builds the ICP canister: build-canister/novaq_canister.wasm (only ic0 imports, candid
# interface embedded). Toolchain: clang-19 + lld-19 + Debian's wasi-libc (scripts/packages.txt).
#
# zstd and cJSON are built for wasm32-wasi from Debian's source packages (the versions of
# the native libzstd-dev/libcjson-dev), fetched into build-canister/deps with a private apt
# sources list; nothing third-party is committed. The core and canister/ are then built
# by the top-level CMake project with canister/wasm32-wasi.cmake.
#
# The libFuzzer target for the Candid codec is built and run by scripts/fuzz-candid.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-canister
deps=$out/deps
jobs=$(nproc)
for tool in clang-19 wasm-ld-19 llvm-objcopy-19 wasm-objdump; do
  command -v "$tool" >/dev/null || { echo "build-canister: $tool not found (scripts/setup.sh installs it)"; exit 1; }
done
CC=clang-19
WASI_CFLAGS=(--target=wasm32-wasi -nostdlibinc -isystem /usr/include/wasm32-wasi -O2
             -ffunction-sections -fdata-sections)

fetch_sources() { bash "$root/scripts/fetch-deb-sources.sh" "$deps"; }

build_deps() {
  [ -f "$deps/lib/libzstd.a" ] && [ -f "$deps/lib/libcjson.a" ] && return 0
  local zsrc csrc
  zsrc=$(find "$deps/src" -maxdepth 1 -type d -name 'libzstd-*' | head -n1)
  csrc=$(find "$deps/src" -maxdepth 1 -type d -name 'cjson-*' | head -n1)
  [ -n "$zsrc" ] && [ -n "$csrc" ] || { echo "build-canister: unpacked sources missing"; exit 1; }
  mkdir -p "$deps/include/cjson" "$deps/lib" "$deps/obj/zstd" "$deps/obj/cjson"
  local f o objs=()
  for f in "$zsrc"/lib/common/*.c "$zsrc"/lib/compress/*.c "$zsrc"/lib/decompress/*.c; do
    objs+=("$deps/obj/zstd/$(basename "$f" .c).o")
  done
  # (the object list is collected above: a loop feeding a pipe runs in a subshell)
  for f in "$zsrc"/lib/common/*.c "$zsrc"/lib/compress/*.c "$zsrc"/lib/decompress/*.c; do
    o="$deps/obj/zstd/$(basename "$f" .c).o"
    echo "$CC ${WASI_CFLAGS[*]} -DZSTD_DISABLE_ASM -DXXH_NAMESPACE=ZSTD_ -I$zsrc/lib -I$zsrc/lib/common -c $f -o $o"
  done | xargs -P "$jobs" -I{} sh -c '{}'
  llvm-ar-19 rcs "$deps/lib/libzstd.a" "${objs[@]}"
  cp "$zsrc"/lib/zstd.h "$zsrc"/lib/zstd_errors.h "$zsrc"/lib/zdict.h "$deps/include/"
  $CC "${WASI_CFLAGS[@]}" -std=c89 -c "$csrc/cJSON.c" -o "$deps/obj/cjson/cJSON.o"
  llvm-ar-19 rcs "$deps/lib/libcjson.a" "$deps/obj/cjson/cJSON.o"
  cp "$csrc/cJSON.h" "$deps/include/"
  cp "$csrc/cJSON.h" "$deps/include/cjson/"
}

build_canister() {
  cmake -S "$root" -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/canister/wasm32-wasi.cmake" \
    -DNOVAQ_DEPS_INCLUDE="$deps/include" \
    -DNOVAQ_DEPS_LIBS="$deps/lib/libzstd.a;$deps/lib/libcjson.a" >/dev/null
  cmake --build "$out/cmake" -j"$jobs" --target novaq_canister
  cp "$out/cmake/novaq_canister.wasm" "$out/novaq_canister.wasm"
  echo "build-canister: $out/novaq_canister.wasm ($(stat -c %s "$out/novaq_canister.wasm") bytes)"
}


mkdir -p "$out"
fetch_sources
build_deps
build_canister
