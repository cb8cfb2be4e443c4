#!/usr/bin/env bash
# The canister's tests (run by scripts/test.sh after the native build):
#   1. build build-canister/novaq_canister.wasm (fails unless it imports only ic0 and
#      embeds candid/novaq.did);
#   2. compress the shared tiny model with `novaq local` (several shards; and once more
#      with embeddings kept raw in a shard bigger than a reply);
#   3. node --test tests/canister/: the Node ic0 emulator runs the real wasm, arguments and
#      replies encoded with @dfinity/candid and the types of candid/novaq.did (and checks
#      its own semantics with a tiny probe canister, tests/canister/probe.c);
#   4. a short libFuzzer run of the Candid codec (NOVAQ_FUZZ_SECONDS, default 20; 0 skips).
# The native Candid unit test (tests/test_candid.c) runs in ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-canister.sh
# the probe canister for the emulator's own tests (no libc, ic0 only)
clang-19 --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o build-canister/probe.wasm tests/canister/probe.c
# `novaq local` from scripts/test.sh's build when it is newer than every core/cli source
# (so that file and canister share one format version); otherwise our own build.
novaq=${NOVAQ_BIN:-build/cli/novaq}
if [ -z "${NOVAQ_BIN:-}" ] && { [ ! -x "$novaq" ] || [ -n "$(find core cli -newer "$novaq" -name '*.[ch]' | head -n1)" ]; }; then
  cmake -S . -B build-canister/native -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-canister/native -j"$(nproc)" --target novaq
  novaq=build-canister/native/cli/novaq
fi
tiny=build-canister/tiny.novaq
"$novaq" local tests/data/novaq-tiny-llama/model.safetensors -o "$tiny" --kmeans-iters 3 --shard-size 600000
"$novaq" validate "$tiny" >/dev/null
# the same model with a shard bigger than a reply (slicing, streaming, OHMS chunk split)
big=build-canister/tiny-bigshard.novaq
"$novaq" local tests/data/novaq-tiny-llama/model.safetensors -o "$big" --kmeans-iters 2 \
  --no-quantize-embeddings --no-quantize-lm-head --shard-size 4000000
NOVAQ_TINY_NOVAQ="$PWD/$tiny" NOVAQ_BIGSHARD_NOVAQ="$PWD/$big" node --test tests/canister/
secs=${NOVAQ_FUZZ_SECONDS:-20}
if [ "$secs" != 0 ]; then
  bash scripts/fuzz-candid.sh "$secs" >build-canister/fuzz.log 2>&1 ||
    { tail -n 40 build-canister/fuzz.log; echo "test-canister: fuzzer found a problem"; exit 1; }
  grep -E '^Done [0-9]+ runs' build-canister/fuzz.log
fi
echo "test-canister: ok"
