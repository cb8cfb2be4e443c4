#!/usr/bin/env bash
# Uploads a .novaq to a deployed NOVAQ canister with dfx: create_model, upload_chunk per
# 1,900,000 bytes (with each chunk's SHA-256), commit, activate.
#   scripts/upload-canister.sh model.novaq "name" "description" [--network ic]
set -euo pipefail
cd "$(dirname "$0")/.."
file=$1 name=$2 desc=${3:-}
shift 3 || shift $#
net=()
if [ "${1:-}" = "--network" ]; then net=(--network "$2"); fi
command -v dfx >/dev/null || { echo "upload-canister: dfx not found"; exit 1; }
size=$(stat -c %s "$file")
blob() { od -An -v -tx1 | tr -d ' \n' | sed 's/\(..\)/\\\1/g'; }
id=$(dfx canister "${net[@]}" call novaq create_model \
  "(record { name = \"$name\"; description = \"$desc\"; size_bytes = $size : nat64; expected_root_hash = null })" |
  sed -n 's/.*"\([0-9]*\)".*/\1/p')
echo "upload-canister: model $id, $size bytes"
chunk=1900000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((off = 0; off < size; off += chunk)); do
  dd if="$file" of="$tmp/c" bs=$chunk skip=$((off / chunk)) count=1 status=none
  sha=$(sha256sum "$tmp/c" | cut -c1-64 | sed 's/\(..\)/\\\1/g')
  printf '(record { model_id = "%s"; offset = %d : nat64; data = blob "%s"; sha256 = opt blob "%s" })' \
    "$id" "$off" "$(blob < "$tmp/c")" "$sha" > "$tmp/arg"
  dfx canister "${net[@]}" call novaq upload_chunk --argument-file "$tmp/arg" >/dev/null
  echo "  uploaded [$off, +$(stat -c %s "$tmp/c"))"
done
dfx canister "${net[@]}" call novaq commit "(\"$id\")"
dfx canister "${net[@]}" call novaq activate "(\"$id\")"
