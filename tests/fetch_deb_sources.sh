#!/usr/bin/env bash
# scripts/fetch-deb-sources.sh against a local deb-src repository made here (no network):
#   1. the release pocket's newest version has lost its tarball (the mirror lists it, the
#      pool does not carry it): the older release version is used and recorded;
#   2. the release pocket has only broken versions (one missing, one whose tarball does not
#      match its .dsc): the security pocket's version is used and recorded with its pocket;
#   3. nothing usable: exit 1, every version tried is named, and what to do.
# usage: tests/fetch_deb_sources.sh <scratch dir>
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:?usage: fetch_deb_sources.sh <scratch dir>}
rm -rf "$scratch" && mkdir -p "$scratch" && scratch=$(cd "$scratch" && pwd)
fail() { echo "FAIL: $*"; exit 1; }

# A native source package nqfetch of the given version in $scratch/build -> pool/.
make_pkg() {
  local v=$1 d="$scratch/build/nqfetch-$1"
  mkdir -p "$d/debian/source" "$scratch/pool"
  echo "3.0 (native)" > "$d/debian/source/format"
  printf 'Source: nqfetch\nMaintainer: NOVAQ tests <t@example.invalid>\nStandards-Version: 4.6.2\n\nPackage: nqfetch\nArchitecture: all\nDescription: test\n test\n' > "$d/debian/control"
  printf 'nqfetch (%s) unstable; urgency=low\n\n  * test\n\n -- NOVAQ tests <t@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n' "$v" > "$d/debian/changelog"
  echo "payload $v" > "$d/payload.txt"
  (cd "$scratch/build" && dpkg-source -b "nqfetch-$v" >/dev/null 2>&1)
  mv "$scratch/build/nqfetch_$v.dsc" "$scratch/build/nqfetch_$v.tar."* "$scratch/pool/"
}
# Writes dists/<suite>/main/source/Sources from the named .dsc files, and a Release file.
make_suite() {
  local suite=$1; shift
  local dir="$scratch/repo/dists/$suite/main/source" rel="$scratch/repo/dists/$suite"
  mkdir -p "$dir"
  : > "$dir/Sources"
  for v in "$@"; do
    (cd "$scratch/repo" && dpkg-scansources pool/ 2>/dev/null) | awk -v want="Version: $v" '
      BEGIN { RS = ""; ORS = "\n\n" } index($0, want "\n") { print }' >> "$dir/Sources"
  done
  { echo "Suite: $suite"; echo "Codename: $suite"; echo "Components: main"; echo "SHA256:"
    echo " $(sha256sum "$dir/Sources" | cut -d' ' -f1) $(stat -c %s "$dir/Sources") main/source/Sources"
  } > "$rel/Release"
}
run_fetch() { # out dir -> status; stdout+stderr in $scratch/log
  rm -rf "$1"
  NOVAQ_DEB_SOURCES="$scratch/sources.list" NOVAQ_DEB_PACKAGES=nqfetch \
    bash "$here/scripts/fetch-deb-sources.sh" "$1" > "$scratch/log" 2>&1
}

for v in 1.0 1.1 1.2 2.0; do make_pkg "$v"; done
mkdir -p "$scratch/repo" && mv "$scratch/pool" "$scratch/repo/pool"
printf 'deb-src [trusted=yes] file:%s bookworm main\ndeb-src [trusted=yes] file:%s bookworm-security main\n' \
  "$scratch/repo" "$scratch/repo" > "$scratch/sources.list"

# 1. bookworm: 1.1 (tarball gone), 1.0; bookworm-security: 2.0.
make_suite bookworm 1.0 1.1
make_suite bookworm-security 2.0
mv "$scratch/repo/pool/nqfetch_1.1.tar."* "$scratch/"
run_fetch "$scratch/out1" || { cat "$scratch/log"; fail "case 1 exited non-zero"; }
grep -qx "nqfetch 1.0 bookworm" "$scratch/out1/src/VERSIONS" || fail "case 1: VERSIONS is '$(cat "$scratch/out1/src/VERSIONS")'"
grep -q "skipped 1.1 (bookworm): download failed" "$scratch/log" || { cat "$scratch/log"; fail "case 1: the skipped version is not reported"; }
grep -qx "payload 1.0" "$scratch/out1/src/nqfetch-1.0/payload.txt" || fail "case 1: not unpacked"
# a finished fetch is not repeated
run_fetch_again=$(NOVAQ_DEB_SOURCES=/nonexistent bash "$here/scripts/fetch-deb-sources.sh" "$scratch/out1" 2>&1) ||
  fail "case 1: second run re-fetched: $run_fetch_again"

# 2. bookworm: 1.1 (gone), 1.2 (tarball altered after the .dsc was made); security: 2.0.
mv "$scratch/repo/pool/nqfetch_1.0."* "$scratch/"
make_suite bookworm 1.1 1.2
echo "tampered" >> "$scratch/repo/pool/nqfetch_1.2.tar.xz"
run_fetch "$scratch/out2" || { cat "$scratch/log"; fail "case 2 exited non-zero"; }
grep -qx "nqfetch 2.0 bookworm-security" "$scratch/out2/src/VERSIONS" || fail "case 2: VERSIONS is '$(cat "$scratch/out2/src/VERSIONS")'"
grep -q "1.2 (bookworm)" "$scratch/log" || { cat "$scratch/log"; fail "case 2: the tampered version is not reported"; }
[ ! -d "$scratch/out2/src/nqfetch-1.2" ] || fail "case 2: the tampered version was unpacked"

# 3. the security version's tarball is gone too: nothing usable.
mv "$scratch/repo/pool/nqfetch_2.0.tar."* "$scratch/"
if run_fetch "$scratch/out3"; then fail "case 3: exit 0 with no usable version"; fi
for want in "no usable source of 'nqfetch'" "1.1 (bookworm)" "1.2 (bookworm)" "2.0 (bookworm-security)" "What to do"; do
  grep -qF "$want" "$scratch/log" || { cat "$scratch/log"; fail "case 3: message lacks '$want'"; }
done
[ ! -f "$scratch/out3/src/.fetched" ] || fail "case 3: marked as fetched"
echo "fetch_deb_sources: ok (fallback within a pocket, to the security pocket, checksum mismatch, full failure)"
