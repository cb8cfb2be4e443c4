#!/usr/bin/env bash
# Deploys the NOVAQ canister with dfx (not installable on the build machines; see
# docs/CANISTER.md). Builds build-canister/novaq_canister.wasm, then `dfx deploy`.
#
#   scripts/deploy-canister.sh                  local replica (starts one if none is running)
#   scripts/deploy-canister.sh --network ic     the Internet Computer (needs cycles)
#   NOVAQ_DEFAULT_QUOTA=BYTES ...               set the default per-principal quota after deploy
#
# dfx reads dfx.json: a "custom" canister whose wasm is the prebuilt module and whose
# interface is candid/novaq.did (also embedded in the module as candid:service).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dfx >/dev/null || { echo "deploy-canister: dfx not found (https://internetcomputer.org/docs/building-apps/getting-started/install)"; exit 1; }
network=local
if [ "${1:-}" = "--network" ]; then network=$2; shift 2; fi
bash scripts/build-canister.sh
if [ "$network" = local ] && ! dfx ping >/dev/null 2>&1; then
  dfx start --background --clean
fi
dfx deploy --network "$network" novaq "$@"
if [ -n "${NOVAQ_DEFAULT_QUOTA:-}" ]; then
  dfx canister --network "$network" call novaq set_default_quota "(${NOVAQ_DEFAULT_QUOTA} : nat64)"
fi
id=$(dfx canister --network "$network" id novaq)
echo "deploy-canister: novaq is $id on $network"
if [ "$network" = local ]; then
  echo "  models: http://$id.raw.localhost:4943/models"
else
  echo "  models: https://$id.raw.icp0.io/models"
fi
