#!/usr/bin/env bash
# libFuzzer run of the canister's Candid codec (tests/fuzz_candid.c) under ASan+UBSan.
#   scripts/fuzz-candid.sh [seconds=60] [extra libFuzzer flags]
# The corpus starts from encodings of the canister's real argument types (written by the
# Node tests' encoder) and lives in build-canister/fuzz-corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
out=build-canister
mkdir -p "$out/fuzz-corpus"
clang-19 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c11 -Wall -Wextra \
  tests/fuzz_candid.c -o "$out/fuzz_candid"
if [ -d node_modules/@dfinity/candid ]; then
  node tests/canister/seed-corpus.mjs "$out/fuzz-corpus"
fi
"$out/fuzz_candid" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 "$@" "$out/fuzz-corpus"
