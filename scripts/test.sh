#!/usr/bin/env bash
# Everything the project tests, from a fresh Debian 12 machine: set-up, native build and
# ctest, the same under ASan+UBSan, then every scripts/test-*.sh (wasm, browser, canister).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
NOVAQ_SANITIZE=1 bash scripts/build.sh
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$(nproc)" -LE slow)
for t in scripts/test-*.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  bash "$t"
done
echo "test: all passed"
