#!/usr/bin/env bash
# Serve the browser compressor on http://127.0.0.1:${1:-8080}/ (builds the wasm module first
# if it is missing). Everything runs in the visitor's tab; nothing is uploaded.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build-wasm/dist/novaq_module.wasm ] || bash scripts/build-wasm.sh
exec node scripts/serve-web.mjs "${1:-8080}"
