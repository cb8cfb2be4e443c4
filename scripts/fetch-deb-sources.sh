#!/usr/bin/env bash
# Fetch, verify and unpack Debian's source packages of zstd and cJSON into <dir>/src: the
# one place the wasm and canister builds get the third-party C they compile (nothing
# third-party is committed).
#
# Contract:
# - apt runs with a private deb-src twin of the system's sources and a private lists
#   directory: the system's apt state is untouched.
# - Every version the index knows of a package is a candidate, in this order: the release
#   pocket (e.g. bookworm), then -updates, then -security; newest first within a pocket. The
#   first candidate whose files download and match the SHA-256 sums of its .dsc is used, so
#   one file missing from a mirror (a security pocket listed in the index but not carried)
#   does not break the build.
# - <dir>/src/VERSIONS records what was used, one line per package: "<name> <version> <pocket>".
#   The builds compile it into the version strings (novaq_module's nqw_version, the canister's
#   novaq:build metadata section).
# - On failure it prints every version tried, why each failed, and what to do; exit 1.
# - Idempotent: <dir>/src/.fetched marks a finished fetch.
#
# usage: scripts/fetch-deb-sources.sh <dir>
# Environment (tests): NOVAQ_DEB_SOURCES=<file> uses that deb-src list (one-line format)
# instead of the system's; NOVAQ_DEB_PACKAGES overrides the list "libzstd cjson".
set -euo pipefail
deps=${1:?usage: fetch-deb-sources.sh <dir>}
packages=${NOVAQ_DEB_PACKAGES:-libzstd cjson}
[ -f "$deps/src/.fetched" ] && [ -f "$deps/src/VERSIONS" ] && exit 0
deps=$(mkdir -p "$deps" && cd "$deps" && pwd)
rm -rf "$deps/src" "$deps/apt"
mkdir -p "$deps/src" "$deps/apt/sources.d" "$deps/apt/lists/partial" "$deps/apt/try"

if [ -n "${NOVAQ_DEB_SOURCES:-}" ]; then
  cp "$NOVAQ_DEB_SOURCES" "$deps/apt/sources.d/override.list"
else
  for sys in /etc/apt/sources.list.d/*.sources; do
    [ -f "$sys" ] || continue
    sed 's/^Types:.*$/Types: deb-src/' "$sys" > "$deps/apt/sources.d/$(basename "$sys")"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$deps/apt/sources.d/plain.list" || true
  fi
fi
opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$deps/apt/sources.d"
      -o "Dir::State::Lists=$deps/apt/lists" -o APT::Sandbox::User=root -q)
if ! apt-get "${opts[@]}" update >"$deps/apt/update.log" 2>&1; then
  cat "$deps/apt/update.log" >&2
  echo "fetch-deb-sources: 'apt-get update' of the deb-src lists failed (above); check the network and $deps/apt/sources.d" >&2
  exit 1
fi

# Candidates of one source package: "version<TAB>pocket" lines, in the order they are tried
# (pocket rank, then newest first by dpkg's version order). apt-cache madison prints
# "pkg | version | URI suite/component Sources".
candidates() {
  local lines=() i j t
  mapfile -t lines < <(apt-cache "${opts[@]}" madison "$1" 2>/dev/null | awk -F'|' '
    $3 ~ /Sources/ {
      gsub(/^ +| +$/, "", $2); n = split($3, w, " "); pocket = w[n - 1]; sub(/\/.*/, "", pocket)
      rank = pocket ~ /-security$/ ? 2 : pocket ~ /-(updates|proposed-updates|backports)$/ ? 1 : 0
      print rank "\t" $2 "\t" pocket
    }')
  for ((i = 1; i < ${#lines[@]}; i++)); do  # insertion sort: a handful of versions
    for ((j = i; j > 0; j--)); do
      IFS=$'\t' read -r ra va _ <<<"${lines[j-1]}"
      IFS=$'\t' read -r rb vb _ <<<"${lines[j]}"
      if [ "$ra" -gt "$rb" ] || { [ "$ra" = "$rb" ] && dpkg --compare-versions "$va" lt "$vb"; }; then
        t=${lines[j-1]}; lines[j-1]=${lines[j]}; lines[j]=$t
      else break; fi
    done
  done
  [ ${#lines[@]} -eq 0 ] || printf '%s\n' "${lines[@]}" | awk -F'\t' '!seen[$2]++ { print $2 "\t" $3 }'
}

# Checks every file a .dsc lists against its Checksums-Sha256 field. Prints the first mismatch.
verify_dsc() {
  local dsc=$1 dir sum size name n=0
  dir=$(dirname "$dsc")
  while read -r sum size name; do
    [ -n "$name" ] || continue
    n=$((n + 1))
    [ -f "$dir/$name" ] || { echo "$name listed in $(basename "$dsc") is missing"; return 1; }
    [ "$(stat -L -c %s "$dir/$name")" = "$size" ] || { echo "$name: size $(stat -L -c %s "$dir/$name"), .dsc says $size"; return 1; }
    [ "$(sha256sum "$dir/$name" | cut -d' ' -f1)" = "$sum" ] || { echo "$name: SHA-256 differs from the .dsc"; return 1; }
  done < <(awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on' "$dsc")
  [ "$n" -gt 0 ] || { echo "$(basename "$dsc") lists no Checksums-Sha256"; return 1; }
}

# Tries each candidate of package $1 in turn; on success unpacks it into $deps/src.
fetch_one() {
  local pkg=$1 version pocket try dsc why tried=()
  while IFS=$'\t' read -r version pocket; do
    try="$deps/apt/try/$pkg-$version"
    rm -rf "$try" && mkdir -p "$try"
    if ! (cd "$try" && apt-get "${opts[@]}" source --download-only "$pkg=$version") >"$try.log" 2>&1; then
      why=$(grep -E '^(E|W):' "$try.log" | head -n 2 | tr '\n' ' ')
      tried+=("$version ($pocket): download failed: ${why:-see $try.log}")
      continue
    fi
    dsc=$(find "$try" -maxdepth 1 -name '*.dsc' | head -n 1)
    if [ -z "$dsc" ]; then tried+=("$version ($pocket): no .dsc downloaded"); continue; fi
    if ! why=$(verify_dsc "$dsc"); then tried+=("$version ($pocket): $why"); continue; fi
    # Unpacked with Debian's patches applied, as the native packages were built; the
    # checksums were verified above (--no-check skips only the signature, whose keyring
    # is not installed).
    (cd "$deps/src" && dpkg-source --no-check -x "$dsc" >/dev/null)
    echo "$pkg $version $pocket" >> "$deps/src/VERSIONS"
    [ ${#tried[@]} -eq 0 ] || printf 'fetch-deb-sources: %s: skipped %s\n' "$pkg" "${tried[@]}" >&2
    echo "fetch-deb-sources: $pkg $version ($pocket), .dsc checksums verified"
    return 0
  done < <(candidates "$pkg")
  {
    echo "fetch-deb-sources: no usable source of '$pkg'."
    if [ ${#tried[@]} -eq 0 ]; then
      echo "  apt knows no version of it: the deb-src lists in $deps/apt/sources.d name no pocket that has it."
    else
      echo "  versions tried, in order:"
      printf '    %s\n' "${tried[@]}"
    fi
    echo "  What to do: check that the machine reaches its Debian mirror (apt-get update), or point"
    echo "  /etc/apt/sources.list.d at a mirror that carries the pool files, then run the build again"
    echo "  (it starts over: rm -rf $deps)."
  } >&2
  return 1
}

for pkg in $packages; do fetch_one "$pkg"; done
rm -rf "$deps/apt/try"
touch "$deps/src/.fetched"
