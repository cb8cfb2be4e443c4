#!/usr/bin/env bash
# Fetch and unpack Debian's source packages of zstd and cJSON into <dir>/src (used by the wasm
# and canister builds, which compile them for their targets; nothing is committed). Uses a
# private deb-src twin of the system's apt sources and a private lists directory, so the
# system's apt state is untouched. Idempotent: <dir>/src/.fetched marks a finished fetch.
# usage: scripts/fetch-deb-sources.sh <dir>
set -euo pipefail
deps=${1:?usage: fetch-deb-sources.sh <dir>}
[ -f "$deps/src/.fetched" ] && exit 0
rm -rf "$deps/src" "$deps/apt"
mkdir -p "$deps/src" "$deps/apt/sources.d" "$deps/apt/lists/partial"
for sys in /etc/apt/sources.list.d/*.sources; do
  [ -f "$sys" ] || continue
  sed 's/^Types:.*$/Types: deb-src/' "$sys" > "$deps/apt/sources.d/$(basename "$sys")"
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$deps/apt/sources.d/plain.list" || true
fi
opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$deps/apt/sources.d"
      -o "Dir::State::Lists=$deps/apt/lists" -o APT::Sandbox::User=root -q)
apt-get "${opts[@]}" update >/dev/null
(cd "$deps/src" && apt-get "${opts[@]}" source --download-only libzstd cjson >/dev/null)
# Unpack with Debian's patches applied, as the native packages were built.
(cd "$deps/src" && for dsc in *.dsc; do dpkg-source --no-check -x "$dsc" >/dev/null; done)
touch "$deps/src/.fetched"
