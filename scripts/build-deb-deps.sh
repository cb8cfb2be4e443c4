#!/usr/bin/env bash
# Builds zstd and cJSON for a cross target (wasm, canister) from Debian's source packages:
# fetches and verifies them with scripts/fetch-deb-sources.sh (the one place that does), then
# compiles <deps>/lib/libzstd.a and libcjson.a and copies their headers to <deps>/include.
# The libraries are rebuilt when the fetched versions (<deps>/src/VERSIONS) change.
# usage: scripts/build-deb-deps.sh <deps dir> <cc> <ar> [cflags...]   (cflags come after -O3:
# an -O there wins)
set -euo pipefail
deps=${1:?usage: build-deb-deps.sh <deps dir> <cc> <ar> [cflags...]}
cc=${2:?cc}; ar=${3:?ar}; shift 3
cflags=("$@")
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/fetch-deb-sources.sh" "$deps"
stamp="$deps/lib/.built-from"
if [ -f "$deps/lib/libzstd.a" ] && [ -f "$deps/lib/libcjson.a" ] && cmp -s "$stamp" "$deps/src/VERSIONS"; then
  exit 0
fi
zsrc=$(find "$deps/src" -maxdepth 1 -type d -name 'libzstd-*' | head -n1)
csrc=$(find "$deps/src" -maxdepth 1 -type d -name 'cjson-*' | head -n1)
[ -n "$zsrc" ] && [ -n "$csrc" ] || { echo "build-deb-deps: unpacked sources missing in $deps/src" >&2; exit 1; }
rm -rf "$deps/lib" "$deps/obj" "$deps/include"
mkdir -p "$deps/include/cjson" "$deps/lib" "$deps/obj/zstd" "$deps/obj/cjson"
# zstd: single-threaded (ZSTD_MULTITHREAD undefined), compression + decompression only, no assembly.
srcs=("$zsrc"/lib/common/*.c "$zsrc"/lib/compress/*.c "$zsrc"/lib/decompress/*.c)
printf '%s\n' "${srcs[@]}" | xargs -P "$(nproc)" -I{} sh -c \
  'f={}; exec "$0" "$@" -c "$f" -o "'"$deps"'/obj/zstd/$(basename "$f" .c).o"' \
  "$cc" -O3 -DZSTD_DISABLE_ASM -DXXH_NAMESPACE=ZSTD_ \
  -I"$zsrc/lib" -I"$zsrc/lib/common" "${cflags[@]}"
"$ar" rcs "$deps/lib/libzstd.a" "$deps"/obj/zstd/*.o
cp "$zsrc"/lib/zstd.h "$zsrc"/lib/zstd_errors.h "$zsrc"/lib/zdict.h "$deps/include/"
"$cc" -O3 "${cflags[@]}" -std=c89 -c "$csrc/cJSON.c" -o "$deps/obj/cjson/cJSON.o"
"$ar" rcs "$deps/lib/libcjson.a" "$deps/obj/cjson/cJSON.o"
cp "$csrc/cJSON.h" "$deps/include/"
cp "$csrc/cJSON.h" "$deps/include/cjson/"
cp "$deps/src/VERSIONS" "$stamp"
echo "build-deb-deps: $deps/lib from $(tr '\n' ';' < "$deps/src/VERSIONS")"
