#!/usr/bin/env bash
# Idempotent set-up: installs every Debian package in scripts/packages.txt that is missing,
# then the npm packages of package.json (if any). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=$(grep -v '^\s*#' scripts/packages.txt | awk 'NF{print $1}')
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (wasm, browser and canister tests): Debian's packages, unless a node is
# already installed (a nodesource nodejs bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm packages: again whenever package-lock.json changed since the last install.
if [ -f package-lock.json ]; then
  lock=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat node_modules/.novaq-lock-sha256 2>/dev/null)" != "$lock" ]; then
    echo "setup: npm ci"
    npm ci --no-audit --no-fund --silent
    echo "$lock" > node_modules/.novaq-lock-sha256
  fi
fi
echo "setup: ok"
