#!/usr/bin/env bash
# `novaq ollama` on a synthetic Ollama store built around GGUF files written from the tiny
# model (tests/gguf_write.py), and `novaq local` on GGUF files: the GGUF compresses to the
# same tensors as the safetensors original (decompressed files are byte-identical), the
# blob's SHA-256 is checked, and bad stores and bad GGUF files fail with clear errors.
# usage: cli_ollama.sh <novaq> <tests/data> <scratch dir>
set -euo pipefail
novaq=$1 data=$2 scratch=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
FAST=(--kmeans-iters 1 --train-vectors 256 --stages 1 --codebook-size 16)
tiny=$data/novaq-tiny-llama

python3 "$here/gguf_write.py" "$tiny" tiny-bf16.gguf --type bf16
python3 "$here/gguf_write.py" "$tiny" tiny-q8.gguf --type q8_0

# ---- the store: manifests/<host>/<namespace>/<name>/<tag> + blobs/sha256-<hex>
store=$scratch/ollama
add_model() { # <gguf> <namespace/name> <tag>
  local sha size cfg
  sha=$(sha256sum "$1" | cut -d' ' -f1) size=$(stat -c %s "$1")
  mkdir -p "$store/blobs" "$store/manifests/registry.ollama.ai/$2"
  cp "$1" "$store/blobs/sha256-$sha"
  printf '{"model_format":"gguf"}' > cfg.json
  cfg=$(sha256sum cfg.json | cut -d' ' -f1)
  cp cfg.json "$store/blobs/sha256-$cfg"
  cat > "$store/manifests/registry.ollama.ai/$2/$3" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:$cfg","size":23},
 "layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:$cfg","size":23},
           {"mediaType":"application/vnd.ollama.image.model","digest":"sha256:$sha","size":$size}]}
EOF
}
add_model tiny-bf16.gguf library/tiny latest
add_model tiny-q8.gguf library/tiny q8
add_model tiny-bf16.gguf someone/tiny v2
export OLLAMA_MODELS=$store

# ---- name, name:tag, namespace/name:tag
"$novaq" ollama tiny -o o.novaq "${FAST[@]}" 2>err.txt || { cat err.txt; fail "ollama tiny"; }
"$novaq" validate o.novaq >/dev/null || fail "ollama output does not validate"
"$novaq" ollama someone/tiny:v2 -o o2.novaq "${FAST[@]}" 2>err.txt || { cat err.txt; fail "ollama someone/tiny:v2"; }
"$novaq" ollama tiny:q8 -o q8.novaq "${FAST[@]}" 2>err.txt || { cat err.txt; fail "ollama tiny:q8"; }
"$novaq" validate q8.novaq >/dev/null 2>&1 || fail "a .novaq made from a Q8_0 GGUF does not validate"
"$novaq" decompress q8.novaq -o q8.safetensors >/dev/null || fail "decompress of a Q8_0-sourced .novaq"

# ---- the GGUF compresses to the same tensors as the safetensors original
"$novaq" local "$tiny" -o st.novaq "${FAST[@]}" >/dev/null
"$novaq" decompress o.novaq -o from_gguf.safetensors >/dev/null || fail "decompress gguf-sourced"
"$novaq" decompress st.novaq -o from_st.safetensors >/dev/null || fail "decompress safetensors-sourced"
cmp -s from_gguf.safetensors from_st.safetensors || fail "GGUF and safetensors sources decode differently"
"$novaq" info --json o.novaq > info.json
grep -q '"gguf"' info.json || fail "source format not recorded as gguf"

# ---- the forward pass on the GGUF from the store: the same perplexity as the original
ppl() { "$novaq" ppl "$1" --tokens "$tiny/val_tokens.u16" --windows 2 --json | grep '"perplexity"'; }
p_st=$(ppl "$tiny") || fail "ppl of the safetensors original"
p_gg=$(ppl "$store/blobs/sha256-$(sha256sum tiny-bf16.gguf | cut -d' ' -f1)") || fail "ppl of the GGUF blob"
[ -n "$p_st" ] && [ "$p_st" = "$p_gg" ] || fail "perplexity differs: safetensors $p_st, GGUF $p_gg"

# ---- bad stores
if "$novaq" ollama nosuch -o x.novaq 2>err.txt; then fail "missing model accepted"; fi
grep -q "not found" err.txt || fail "missing model message: $(cat err.txt)"
if "$novaq" ollama ../../etc/passwd -o x.novaq 2>err.txt; then fail "path-like name accepted"; fi
cp -r "$store" bad && export OLLAMA_MODELS=$scratch/bad
blob=$(ls bad/blobs/ | head -1)
for b in bad/blobs/*; do [ "$(stat -c %s "$b")" -gt 1000 ] && blob=$b; done
printf '\x01' | dd of="$blob" bs=1 seek=5000 conv=notrunc status=none
if "$novaq" ollama tiny -o x.novaq 2>err.txt && "$novaq" ollama tiny:q8 -o x.novaq 2>>err.txt; then
  fail "corrupted blob accepted"; fi
grep -q "does not match the manifest digest" err.txt || fail "corrupted blob message: $(cat err.txt)"
[ ! -e x.novaq ] || fail "output written from a corrupted blob"
echo '{"layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:00","size":1}]}' \
  > bad/manifests/registry.ollama.ai/library/tiny/latest
if "$novaq" ollama tiny -o x.novaq 2>err.txt; then fail "manifest without model layer accepted"; fi
grep -q "no layer of media type application/vnd.ollama.image.model" err.txt || fail "manifest message: $(cat err.txt)"
echo 'not json' > bad/manifests/registry.ollama.ai/library/tiny/latest
if "$novaq" ollama tiny -o x.novaq 2>err.txt; then fail "bad manifest JSON accepted"; fi
export OLLAMA_MODELS=$store

# ---- bad GGUF files through `novaq local`: clear errors, no output
python3 - <<'EOF'
import struct
src = open("tiny-bf16.gguf", "rb").read()
open("trunc.gguf", "wb").write(src[:5000])                       # inside the metadata
open("count.gguf", "wb").write(src[:8] + struct.pack("<Q", 1 << 40) + src[16:])
bad = bytearray(src)                                              # first tensor's offset
i = src.index(b"output.weight") + len("output.weight") + 4 + 16 + 4
bad[i:i + 8] = struct.pack("<Q", 7)                               # misaligned
open("align.gguf", "wb").write(bad)
bad[i:i + 8] = struct.pack("<Q", 1 << 40)                         # past the end
open("offset.gguf", "wb").write(bad)
EOF
for f in trunc:"cannot fit in the 4394 bytes left" count:"tensor count" align:"not a multiple of the alignment" \
         offset:"runs past end of file"; do
  name=${f%%:*} want=${f#*:}
  if "$novaq" local "$name.gguf" -o "$name.novaq" 2>err.txt; then fail "$name.gguf accepted"; fi
  grep -q "$want" err.txt || fail "$name.gguf message: $(cat err.txt)"
  [ ! -e "$name.novaq" ] || fail "$name.novaq written"
done

[ "$fails" = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo ok
