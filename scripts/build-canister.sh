#!/usr/bin/env bash
# Builds the ICP canister: build-canister/novaq_canister.wasm (only ic0 imports, candid
# interface embedded). Toolchain: clang-19 + lld-19 + Debian's wasi-libc (scripts/packages.txt).
#
# zstd and cJSON are built for wasm32-wasi from Debian's source packages by
# scripts/build-deb-deps.sh (fetched and verified by scripts/fetch-deb-sources.sh into
# build-canister/deps; the versions used go into the wasm's icp:public novaq:build section);
# nothing third-party is committed. The core and canister/ are then built
# by the top-level CMake project with canister/wasm32-wasi.cmake.
#
# usage: scripts/build-canister.sh [copy-to.wasm]   (icp.yaml passes $ICP_WASM_OUTPUT_PATH;
# dfx.json reads build-canister/novaq_canister.wasm)
#
# The libFuzzer target for the Candid codec is built and run by scripts/fuzz-candid.sh.
set -euo pipefail
copy_to=${1:-}
case $copy_to in ''|/*) ;; *) copy_to=$PWD/$copy_to ;; esac
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

build_canister() {
  cmake -S "$root" -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/canister/wasm32-wasi.cmake" \
    -DNOVAQ_DEPS_INCLUDE="$deps/include" -DNOVAQ_DEPS_VERSIONS_FILE="$deps/src/VERSIONS" \
    -DNOVAQ_DEPS_LIBS="$deps/lib/libzstd.a;$deps/lib/libcjson.a" >/dev/null
  cmake --build "$out/cmake" -j"$jobs" --target novaq_canister
  cp "$out/cmake/novaq_canister.wasm" "$out/novaq_canister.wasm"
  echo "build-canister: $out/novaq_canister.wasm ($(stat -c %s "$out/novaq_canister.wasm") bytes; $(cat "$out/cmake/novaq-build.txt"))"
}


mkdir -p "$out"
bash "$root/scripts/build-deb-deps.sh" "$deps" "$CC" llvm-ar-19 "${WASI_CFLAGS[@]}"
build_canister
if [ -n "$copy_to" ]; then cp "$out/novaq_canister.wasm" "$copy_to"; fi
