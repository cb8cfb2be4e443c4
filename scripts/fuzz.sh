#!/usr/bin/env bash
# libFuzzer (ASan+UBSan) targets for every reader, in tests/fuzz/:
#   safetensors gguf novaq manifest tokenizer config candid
#
#   scripts/fuzz.sh [target|all] [seconds=30] [extra libFuzzer flags]
#
# Builds the core with clang-19 -fsanitize=fuzzer-no-link,address,undefined into
# build-fuzz/, links each target, makes seed corpora from the test data (tests/fuzz/
# make_seeds.py; the .novaq seeds with this build's own `novaq local`), and runs each target for
# the given seconds with -rss_limit_mb=2048 -malloc_limit_mb=1024 and a 10 s per-input timeout:
# an input that allocates or loops out of proportion to its size is a failure. Corpora grow in
# build-fuzz/corpus/<target>; findings are written to build-fuzz/findings/. Prints one line per
# target: executions, seconds, execs/s, corpus size. Exit 1 on the first finding.
# scripts/test.sh runs every target for 2 s (NOVAQ_FUZZ_SECONDS; --full: 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
want=${1:-all}
secs=${2:-30}
shift $(($# < 2 ? $# : 2))
targets=(safetensors gguf novaq manifest tokenizer config candid)
[ "$want" = all ] || printf '%s\n' "${targets[@]}" | grep -qx "$want" ||
  { echo "fuzz: unknown target '$want' (one of: ${targets[*]}, all)" >&2; exit 2; }
out=$root/build-fuzz
san=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all)
cmake -S . -B "$out/cmake" -DCMAKE_C_COMPILER=clang-19 -DCMAKE_BUILD_TYPE=Debug -DNOVAQ_CORE_ONLY=ON \
  -DCMAKE_C_FLAGS="${san[*]} -fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$out/cmake" -j"$(nproc)" --target novaq_core >/dev/null
libs=("$out/cmake/core/libnovaq_core.a" $(pkg-config --libs libzstd libcjson) -lm)
build() { # target
  local t=$1 extra=()
  case $t in
    candid) clang-19 "${san[@]}" -fsanitize=fuzzer -std=c11 -Wall -Wextra -Icanister "tests/fuzz/fuzz_candid.c" canister/candid.c canister/iface.c -o "$out/fuzz_candid"; return ;;
  esac
  clang-19 "${san[@]}" -fsanitize=fuzzer -std=c11 -Wall -Wextra -Icore -Icore/include \
    "tests/fuzz/fuzz_$t.c" "${extra[@]}" "${libs[@]}" -o "$out/fuzz_$t"
}
seeds() {
  [ -f "$out/corpus/.seeded" ] && return 0
  mkdir -p "$out/corpus"
  python3 tests/fuzz/make_seeds.py "$out/corpus" tests/data
  # .novaq seeds from this tree's CLI (the native build; made here if missing)
  local novaq=build/cli/novaq
  [ -x "$novaq" ] || { cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target novaq >/dev/null; }
  mkdir -p "$out/corpus/novaq" "$out/corpus/manifest"
  "$novaq" local "$out/corpus/model-seed.safetensors" -o "$out/seed-a.novaq" --codebook-size 16 \
    --residual-codebook-size 8 --shard-size 4096 >/dev/null 2>&1
  "$novaq" local "$out/corpus/model-seed.safetensors" -o "$out/seed-b.novaq" --bits 2 --codebook-size 32 \
    --no-quantize-embeddings >/dev/null 2>&1
  "$novaq" local "$out/corpus/gguf/seed-llama" -o "$out/seed-c.novaq" >/dev/null 2>&1
  cp "$out/seed-a.novaq" "$out/seed-b.novaq" "$out/seed-c.novaq" "$out/corpus/novaq/"
  python3 - "$out/seed-a.novaq" "$out/corpus/manifest/seed-a" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
off, n = struct.unpack("<QQ", b[-56:-40])
open(sys.argv[2], "wb").write(b[off:off + n])
PY
  node tests/canister/seed-corpus.mjs "$out/corpus/candid" >/dev/null 2>&1 || mkdir -p "$out/corpus/candid"
  touch "$out/corpus/.seeded"
}
run() { # target
  local t=$1 maxlen=65536 log="$out/fuzz_$1.log"
  shift
  case $t in candid) maxlen=4096 ;; tokenizer) maxlen=131072 ;; esac
  mkdir -p "$out/findings/$t"
  NOVAQ_FUZZ_NOVAQ="$out/seed-a.novaq" NOVAQ_FUZZ_TOKENIZER="$root/tests/data/novaq-tiny-llama/tokenizer.json" \
    "$out/fuzz_$t" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$out/findings/$t/" "$@" \
    "$out/corpus/$t" >"$log" 2>&1 || { tail -n 40 "$log"; echo "fuzz: $t: finding (inputs in $out/findings/$t/, log $log)"; return 1; }
  awk -v t="$t" -v s="$secs" '/stat::number_of_executed_units/ { n = $2 }
    END { printf "fuzz: %-12s %10d execs in %ss (%d/s), corpus %s\n", t, n, s, n / s, "'"$(ls "$out/corpus/$t" | wc -l)"'" }' "$log"
}
seeds
for t in "${targets[@]}"; do
  [ "$want" = all ] || [ "$want" = "$t" ] || continue
  build "$t"
  run "$t" "$@"
done
