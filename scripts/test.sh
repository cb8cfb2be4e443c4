#!/usr/bin/env bash
# Everything the project tests, from a fresh Debian 12 machine, in stages: set-up, native
# build and ctest, the ASan+UBSan build and its ctest, a run of every fuzz target, then the
# canister and the browser
# targets (ctest labels canister and wasm: scripts/test-canister.sh, test-wasm.sh,
# test-wasm-llama.sh). Prints each stage's time at the end, pass or fail.
#
#   scripts/test.sh            the default set (what .ci/run runs): every native test, "slow"
#                              included (about 1.5 CPU minutes), the "fast" ones again under
#                              ASan+UBSan; on an idle 2-core machine well under 25 minutes
#                              (docs/BENCHMARKS.md, "Test suite time")
#   scripts/test.sh --full     also the "slow" tests under the sanitizers (another ~10 minutes)
#                              (NOVAQ_TEST_FULL=1 does the same)
# Labels (tests/CMakeLists.txt): fast, slow, python, wasm, canister. One label by
# hand: (cd build && ctest -L python).
set -euo pipefail
cd "$(dirname "$0")/.."
full=${NOVAQ_TEST_FULL:-0}
for a in "$@"; do
  case $a in
    --full) full=1 ;;
    *) echo "usage: scripts/test.sh [--full]" >&2; exit 2 ;;
  esac
done
jobs=$(nproc)
names=() secs=() results=()
summary() {
  local i total=0
  echo
  echo "== test time by stage ($([ "$full" = 1 ] && echo full || echo default) set, $jobs cores)"
  for i in "${!names[@]}"; do
    printf '  %-28s %6ss  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
    total=$((total + secs[i]))
  done
  printf '  %-28s %6ss\n' total "$total"
}
trap summary EXIT
stage() { # name, command...
  local name=$1 t0 rc=0
  shift
  echo "== $name"
  t0=$(date +%s)
  "$@" || rc=$?
  names+=("$name") secs+=($(($(date +%s) - t0)))
  if [ "$rc" -ne 0 ]; then results+=("FAILED (exit $rc)"); echo "test: stage '$name' failed"; exit 1; fi
  results+=(ok)
}
in_dir() { local d=$1; shift; (cd "$d" && "$@"); }

native_sel=(-LE 'wasm|canister')
if [ "$full" = 1 ]; then asan_sel=(); else asan_sel=(-L fast); fi
stage setup bash scripts/setup.sh
stage "native build" bash scripts/build.sh
stage "native ctest" in_dir build ctest --output-on-failure -j"$jobs" "${native_sel[@]}"
stage "asan+ubsan build" env NOVAQ_SANITIZE=1 bash scripts/build.sh
stage "asan+ubsan ctest" in_dir build-asan env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" "${asan_sel[@]}"
# every reader's libFuzzer target (scripts/fuzz.sh): a smoke run by default, 30 s each with --full
fuzz_secs=${NOVAQ_FUZZ_SECONDS:-$([ "$full" = 1 ] && echo 30 || echo 2)}
stage "fuzz ($fuzz_secs s per target)" bash scripts/fuzz.sh all "$fuzz_secs"
# (the canister's own Candid fuzz run is the fuzz stage's candid target)
stage "canister" in_dir build env NOVAQ_FUZZ_SECONDS=0 ctest --output-on-failure -L canister
stage "wasm + browser" in_dir build ctest --output-on-failure -L wasm
echo "test: all passed"
