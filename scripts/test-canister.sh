#!/usr/bin/env bash
# The canister's tests (run by scripts/test.sh after the native build):
#   1. build build-canister/novaq_canister.wasm (fails unless it imports only ic0 and
#      embeds candid/novaq.did);
#   2. compress the shared tiny model with `novaq local` (several shards; and once more
#      with embeddings kept raw in a shard bigger than a reply);
#   3. node --test tests/canister/: the Node ic0 emulator runs the real wasm, arguments and
#      replies encoded with @dfinity/candid and the types of candid/novaq.did (and checks
#      its own semantics with a tiny probe canister, tests/canister/probe.c); the clients
#      (ic/client.mjs, bin/novaq-ic.mjs) run with the real agent, @icp-sdk/core, against the
#      emulator behind the IC HTTP interface (tests/canister/replica-http.mjs), and `novaq
#      validate` checks what they pull;
#   4. ic-wasm (npm @icp-sdk/ic-wasm-linux-x64): the exports match candid/novaq.did (lifecycle
#      hooks listed in canister/hidden-endpoints.txt), the metadata sections are right, and
#      icp-cli (npm @icp-sdk/icp-cli-linux-x64) builds the same wasm from icp.yaml;
#   5. a short libFuzzer run of the Candid codec (NOVAQ_FUZZ_SECONDS, default 20; 0 skips).
# The native Candid unit test (tests/test_candid.c) runs in ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-canister.sh
wasm=build-canister/novaq_canister.wasm
icwasm=node_modules/@icp-sdk/ic-wasm-linux-x64/bin/ic-wasm
icp=node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp
[ -x "$icwasm" ] && [ -x "$icp" ] || { echo "test-canister: ic-wasm/icp missing in node_modules (run scripts/setup.sh)"; exit 1; }
"$icwasm" "$wasm" check-endpoints --candid candid/novaq.did --hidden canister/hidden-endpoints.txt
# The check can fail. ic-wasm 0.11.1 checks against the wasm's own candid:service section when
# there is one (--candid is then not what it reads), so the broken interfaces go into copies.
sed 's/^service : {$/service : {\n  not_exported : () -> ();/' candid/novaq.did > build-canister/extra-method.did
grep -v '^  stats : ' candid/novaq.did > build-canister/less-method.did
for bad in extra-method less-method; do
  "$icwasm" "$wasm" -o "build-canister/$bad.wasm" metadata candid:service -f "build-canister/$bad.did" -v public
  if "$icwasm" "build-canister/$bad.wasm" check-endpoints --candid "build-canister/$bad.did" \
       --hidden canister/hidden-endpoints.txt >/dev/null 2>&1; then
    echo "test-canister: ic-wasm check-endpoints accepted $bad.did"; exit 1
  fi
done
[ "$("$icwasm" "$wasm" metadata candid:service)" = "$(cat candid/novaq.did)" ] ||
  { echo "test-canister: candid:service metadata is not candid/novaq.did"; exit 1; }
echo "test-canister: $("$icwasm" "$wasm" metadata novaq:build)"
# icp-cli builds the same bytes from icp.yaml (the build step dfx.json also runs)
rm -rf .icp/cache/artifacts/novaq
"$icp" build novaq >/dev/null
cmp .icp/cache/artifacts/novaq "$wasm" || { echo "test-canister: icp build gave another wasm"; exit 1; }
echo "test-canister: ic-wasm endpoints and metadata ok; icp build == scripts/build-canister.sh"
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
NOVAQ_TINY_NOVAQ="$PWD/$tiny" NOVAQ_BIGSHARD_NOVAQ="$PWD/$big" NOVAQ_CLI="$(realpath "$novaq")" node --test tests/canister/
secs=${NOVAQ_FUZZ_SECONDS:-20}
if [ "$secs" != 0 ]; then
  bash scripts/fuzz-candid.sh "$secs" >build-canister/fuzz.log 2>&1 ||
    { tail -n 40 build-canister/fuzz.log; echo "test-canister: fuzzer found a problem"; exit 1; }
  grep -E '^fuzz: candid' build-canister/fuzz.log
fi
echo "test-canister: ok"
