#!/usr/bin/env bash
# The Candid codec's fuzz target (kept for scripts/test-canister.sh): scripts/fuzz.sh candid.
#   scripts/fuzz-candid.sh [seconds=60] [extra libFuzzer flags]
set -euo pipefail
exec bash "$(dirname "$0")/fuzz.sh" candid "${1:-60}" "${@:2}"
