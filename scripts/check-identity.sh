#!/usr/bin/env bash
# check-identity.sh - proves that a change (e.g. a behaviour-preserving refactor of core/) leaves
# every output byte as it was: native CLI, browser module (wasm) and canister, compared between
# two git revisions by the SHA-256 of each output.
#
# Contract:
#   bash scripts/check-identity.sh hash [REV]
#       REV: a git revision; default: the working tree as it is now (tracked files with their
#       uncommitted edits, plus untracked files git does not ignore). Prints "<label> <sha256>"
#       lines, one per output, sorted (C locale), to stdout and to build-identity/<sha>.txt
#       (<sha>: REV resolved to its full commit id) or build-identity/worktree.txt.
#       A commit's file is a cache: when it exists it is printed and nothing is built (delete
#       it to recompute). The working tree is never cached.
#   bash scripts/check-identity.sh compare REV_A [REV_B]
#       hashes both (REV_B default: the working tree); exit 0 ("identical") when both have
#       the same labels with the same hashes, exit 1 listing each label that differs or exists
#       on one side only.
#   Exit 2: usage. A failed build or run exits non-zero with its log's tail on stderr (logs:
#   build-identity/logs/<sha|worktree>/).
#
# How: the revision is written to /tmp/novaq-identity-<shortsha>-<pid> (a commit through a
# private index file, git read-tree + checkout-index, so nothing in .git changes; the working
# tree by copying the files git lists) and built there with that revision's own scripts:
# scripts/build.sh, NOVAQ_WASM_SCALAR=1 scripts/build-wasm.sh, scripts/build-canister.sh. The
# third-party zstd/cJSON of the wasm and canister builds (Debian sources, fetched and compiled by
# scripts/build-deb-deps.sh) are seeded from build-identity/deps/<wasm|canister> or this
# checkout's build-wasm/deps, build-canister/deps, so nothing is fetched again; build-deb-deps.sh
# still recompiles them when its stamp does not match the sources. node_modules is this
# checkout's (symlinked). The temporary tree is removed on exit (NOVAQ_IDENTITY_KEEP=1 keeps it).
#
# Outputs (labels), all from tests/data/novaq-tiny-llama (model.safetensors, calib.txt, its
# tokenizer and config), every native run with NOVAQ_NUM_THREADS=2 unless said:
#   native/bits{1.5,2,3,4}          novaq local --bits B (fast mode: no calibration)
#   native/bits{1.5,2,3,4}-calib    ... --calib calib.txt --calib-tokens 512 --e2e-steps 4: the
#                                   whole stage 3 (layer-wise, mixed precision, end to end),
#                                   cheaper (the presets' defaults are 32768 tokens, 48-256 steps)
#   native/bits2-threads1           --bits 2 with NOVAQ_NUM_THREADS=1
#   native/bits2-sharded            --bits 2 --shard-size 600000, and each shard's byte range:
#   native/bits2-sharded-shard<i>
#   native/bits2-decompress         novaq decompress of native/bits2 (safetensors, f32)
#   wasm-simd/bits{1.5,2,3,4}       the browser module (wasm/novaq-node.mjs, nq.compress), SIMD128
#   wasm-scalar/bits{1.5,2,3,4}     the same with the scalar module
#   canister/...                    native/bits2 uploaded to the canister under the emulator
#                                   (tests/canister/harness.mjs), committed, activated, and what
#                                   it serves back (scripts/identity-canister.mjs lists them)
# Helpers: scripts/identity-wasm.mjs, identity-canister.mjs, identity-shards.mjs (they import
# the revision's own wasm/novaq-node.mjs and tests/canister/harness.mjs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
outdir=$repo/build-identity
export LC_ALL=C

usage() {
  echo "usage: check-identity.sh hash [REV] | compare REV_A [REV_B]   (no REV: the working tree)" >&2
  exit 2
}
say() { echo "check-identity: $*" >&2; }

tmpdirs=()
cleanup() {
  [ "${NOVAQ_IDENTITY_KEEP:-0}" = 1 ] && { [ ${#tmpdirs[@]} -eq 0 ] || say "kept ${tmpdirs[*]}"; return; }
  local d
  for d in ${tmpdirs[@]+"${tmpdirs[@]}"}; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step <log> <command...>: runs the command with its output in <log>; on failure, the log's tail.
step() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    say "FAILED: $* (log $log):"
    tail -n 40 "$log" >&2
    exit 1
  fi
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Writes revision $1 (empty: the working tree) into the new directory $2.
materialize() {
  local rev=$1 dir=$2
  mkdir -p "$dir"
  if [ -n "$rev" ]; then
    local index="$dir.index"
    GIT_INDEX_FILE=$index git -C "$repo" read-tree "$rev"
    GIT_INDEX_FILE=$index git -C "$repo" checkout-index -a -f --prefix="$dir/"
    rm -f "$index"
  else
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard --deduplicate |
      while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done |
      tar --null -T - -cf - | tar -xf - -C "$dir")
  fi
  local model=tests/data/novaq-tiny-llama/model.safetensors
  [ -s "$dir/$model" ] || { say "$model missing in ${rev:-the working tree}"; exit 1; }
  if [ -n "$rev" ] && [ "$(stat -c %s "$dir/$model")" != "$(git -C "$repo" cat-file -s "$rev:$model")" ]; then
    say "$model in $dir does not have the size git records"; exit 1
  fi
  if [ ! -e "$dir/node_modules" ]; then
    [ -d "$repo/node_modules/@dfinity/candid" ] || { say "$repo/node_modules lacks @dfinity/candid (run scripts/setup.sh)"; exit 1; }
    ln -s "$repo/node_modules" "$dir/node_modules"
  fi
}

# Seeds <dir>/build-<target>/deps (target: wasm or canister) so the build fetches nothing:
# the compiled deps of an earlier run or of this checkout's build, else the sources alone.
seed_deps() {
  local dir=$1 target=$2 dst=$1/build-$2/deps src x
  for src in "$outdir/deps/$target" "$repo/build-$target/deps"; do
    if [ -f "$src/src/.fetched" ] && [ -f "$src/lib/.built-from" ]; then
      mkdir -p "$dst"
      for x in src include lib; do cp -a "$src/$x" "$dst/"; done
      return
    fi
  done
  for src in "$outdir"/deps/* "$repo"/build-*/deps; do
    if [ -f "$src/src/.fetched" ]; then mkdir -p "$dst" && cp -a "$src/src" "$dst/"; return; fi
  done
  say "no deps to seed build-$target from: its build fetches the Debian sources"
}
# Keeps the deps a build compiled for the next run (once).
save_deps() {
  local dir=$1 target=$2 src=$1/build-$2/deps dst=$outdir/deps/$2 x
  [ -f "$dst/lib/.built-from" ] && return
  [ -f "$src/lib/.built-from" ] || return 0
  rm -rf "$dst.tmp.$$" && mkdir -p "$dst.tmp.$$"
  for x in src include lib; do cp -a "$src/$x" "$dst.tmp.$$/"; done
  rm -rf "$dst" && mv "$dst.tmp.$$" "$dst"
}

# Builds and runs everything in tree $1 (scratch $2, logs $3); prints the label lines.
hash_tree() {
  local dir=$1 w=$2 logs=$3 b
  local m=$dir/tests/data/novaq-tiny-llama novaq=$dir/build/cli/novaq t0=$SECONDS
  local calib=(--calib "$m/calib.txt" --calib-tokens 512 --e2e-steps 4)
  mkdir -p "$w" "$logs"

  say "native build"
  step "$logs/build-native.log" bash "$dir/scripts/build.sh"
  [ -x "$novaq" ] || novaq=$dir/build/novaq
  say "native runs ($((SECONDS - t0)) s so far)"
  local out
  for b in 1.5 2 3 4; do
    step "$logs/bits$b.log" env NOVAQ_NUM_THREADS=2 "$novaq" local "$m" -o "$w/bits$b.novaq" --bits "$b"
    echo "native/bits$b $(sha_of "$w/bits$b.novaq")"
    step "$logs/bits$b-calib.log" env NOVAQ_NUM_THREADS=2 "$novaq" local "$m" -o "$w/bits$b-calib.novaq" --bits "$b" "${calib[@]}"
    echo "native/bits$b-calib $(sha_of "$w/bits$b-calib.novaq")"
    # the bytes are what is compared; this only warns when the run did not take the full stage 3
    out=$(tr '\r' '\n' < "$logs/bits$b-calib.log")
    if ! grep -q "stage 3 mixed precision" <<<"$out" || ! grep -q "stage 3 end to end" <<<"$out"; then
      say "warning: bits$b-calib: no mixed-precision / end-to-end summary in $logs/bits$b-calib.log"
    fi
  done
  step "$logs/bits2-threads1.log" env NOVAQ_NUM_THREADS=1 "$novaq" local "$m" -o "$w/bits2-threads1.novaq" --bits 2
  echo "native/bits2-threads1 $(sha_of "$w/bits2-threads1.novaq")"
  step "$logs/bits2-sharded.log" env NOVAQ_NUM_THREADS=2 "$novaq" local "$m" -o "$w/bits2-sharded.novaq" --bits 2 --shard-size 600000
  echo "native/bits2-sharded $(sha_of "$w/bits2-sharded.novaq")"
  node "$here/identity-shards.mjs" "$w/bits2-sharded.novaq" native/bits2-sharded
  step "$logs/bits2-decompress.log" "$novaq" decompress "$w/bits2.novaq" -o "$w/bits2.safetensors"
  echo "native/bits2-decompress $(sha_of "$w/bits2.safetensors")"

  say "wasm build ($((SECONDS - t0)) s so far)"
  seed_deps "$dir" wasm
  step "$logs/build-wasm.log" env NOVAQ_WASM_SCALAR=1 bash "$dir/scripts/build-wasm.sh"
  save_deps "$dir" wasm
  say "wasm runs ($((SECONDS - t0)) s so far)"
  local v
  for v in simd scalar; do
    node "$here/identity-wasm.mjs" "$dir" "$m/model.safetensors" "$v" 1.5 2 3 4 2>"$logs/wasm-$v.log" ||
      { say "FAILED: wasm $v:"; tail -n 40 "$logs/wasm-$v.log" >&2; exit 1; }
  done

  say "canister build ($((SECONDS - t0)) s so far)"
  seed_deps "$dir" canister
  step "$logs/build-canister.log" bash "$dir/scripts/build-canister.sh"
  save_deps "$dir" canister
  node "$here/identity-canister.mjs" "$dir" "$dir/build-canister/novaq_canister.wasm" "$w/bits2.novaq" 2>"$logs/canister.log" ||
    { say "FAILED: canister:"; tail -n 40 "$logs/canister.log" >&2; exit 1; }
  say "done in $((SECONDS - t0)) s"
}

# hash_rev <REV or empty>: writes build-identity/<sha|worktree>.txt; sets $hashfile to its path.
# (Not run in $(...): the temporary directories must reach the EXIT trap's list.)
hash_rev() {
  local rev=$1 name short
  if [ -n "$rev" ]; then
    name=$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}") || { say "unknown revision '$rev'"; exit 2; }
    short=${name:0:12}
    if [ -f "$outdir/$name.txt" ]; then
      say "$rev = $name: cached ($outdir/$name.txt; delete it to recompute)"
      hashfile=$outdir/$name.txt
      return
    fi
  else
    name=worktree short=worktree
  fi
  local dir=/tmp/novaq-identity-$short-$$
  rm -rf "$dir" "$dir.work" "$dir.index"
  tmpdirs+=("$dir" "$dir.work" "$dir.index" "$dir.work.txt.raw")
  say "${rev:-working tree}${rev:+ = $name} -> $dir"
  materialize "${rev:+$name}" "$dir"
  mkdir -p "$outdir"
  rm -rf "$outdir/logs/$name"
  hash_tree "$dir" "$dir.work" "$outdir/logs/$name" > "$dir.work.txt.raw"
  sort "$dir.work.txt.raw" > "$outdir/$name.txt.tmp.$$"
  mv "$outdir/$name.txt.tmp.$$" "$outdir/$name.txt"
  rm -rf "$dir" "$dir.work" "$dir.work.txt.raw"
  hashfile=$outdir/$name.txt
}

cmd=${1:-}
case $cmd in
  hash)
    [ $# -le 2 ] || usage
    hash_rev "${2:-}"
    cat "$hashfile"
    ;;
  compare)
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
    hash_rev "$2"; a=$hashfile
    hash_rev "${3:-}"; b=$hashfile
    # label, hash in A, hash in B ("-" where a side lacks the label); differing rows only
    diffs=$(join -a 1 -a 2 -e - -o 0,1.2,2.2 "$a" "$b" | awk '$2 != $3')
    n=$(wc -l < "$a")
    if [ -z "$diffs" ]; then
      echo "identical: $n outputs ($(basename "$a") vs $(basename "$b"))"
      exit 0
    fi
    echo "DIFFERENT: $(wc -l <<<"$diffs") of the outputs ($(basename "$a") vs $(basename "$b")); label, A, B:"
    echo "$diffs"
    exit 1
    ;;
  *) usage ;;
esac
