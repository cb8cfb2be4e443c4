#!/usr/bin/env bash
# Native build into build/ (Release). NOVAQ_SANITIZE=1 builds into build-asan/ with ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NOVAQ_SANITIZE:-0}" = 1 ]; then dir=build-asan; extra=(-DNOVAQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
else dir=build; extra=(); fi
cmake -S . -B "$dir" "${extra[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
