#!/usr/bin/env bash
# CLI exit codes and messages on bad input: usage errors exit 2, invalid input exits 1 with
# a message naming what and where, and no output file (or temp file) is left behind.
set -u
novaq=$1 data=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail=0
expect() { # expect <exit code> <needle in stderr> <command...>
  local want=$1 needle=$2; shift 2
  "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" != "$want" ] || ! grep -qF -- "$needle" err.txt out.txt; then
    echo "FAIL: $* -> exit $got (want $want), output:"; cat err.txt out.txt; fail=1
  fi
}
model=$data/novaq-tiny-llama/model.safetensors
expect 2 "usage" "$novaq"
expect 2 "unknown command" "$novaq" frobnicate
expect 2 "unknown option" "$novaq" local "$model" --frob
expect 2 "unknown bits preset '2.5'" "$novaq" local "$model" --bits 2.5
expect 2 "power of two" "$novaq" local "$model" --codebook-size 100
expect 1 "No such file" "$novaq" local missing.safetensors -o x.novaq

# truncated safetensors at several points, header length past EOF, bad JSON header
for n in 0 5 8 100 4000 1000000; do head -c $n "$model" > trunc.safetensors
  expect 1 "trunc.safetensors" "$novaq" local trunc.safetensors -o t.novaq; done
printf '\xff\xff\x00\x00\x00\x00\x00\x00{}' > longhdr.safetensors
expect 1 "past end of file" "$novaq" local longhdr.safetensors -o t.novaq
printf '\x07\x00\x00\x00\x00\x00\x00\x00{"a":1,' > badjson.safetensors
expect 1 "not valid JSON" "$novaq" local badjson.safetensors -o t.novaq
[ -e t.novaq ] && { echo "FAIL: output left behind after failure"; fail=1; }
ls t.novaq.tmp.* >/dev/null 2>&1 && { echo "FAIL: temp file left behind"; fail=1; }

# A 1 TiB sparse file with a bad header is refused by its header at once: the input hash
# for the manifest is computed only after the model parsed (it once read all 1 TiB first).
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"bogus": 1,   }' > sparse.safetensors
if truncate -s 1T sparse.safetensors 2>/dev/null; then
  expect 1 "sparse.safetensors: header is not valid JSON" timeout 20 "$novaq" local sparse.safetensors -o t.novaq
  mkdir -p sparse_dir && ln -sf "$model" sparse_dir/a.safetensors && ln -sf ../sparse.safetensors sparse_dir/b.safetensors
  printf '{"weight_map":{"x":"a.safetensors","y":"b.safetensors"}}' > sparse_dir/model.safetensors.index.json
  expect 1 "b.safetensors" timeout 20 "$novaq" local sparse_dir -o t.novaq
fi
rm -f sparse.safetensors

# a small valid .novaq, then damage it
head -c 8 "$model" >/dev/null
"$novaq" local "$model" -o good.novaq --bits 1.5 --kmeans-iters 2 --train-vectors 2048 --shard-size 262144 >/dev/null || { echo "FAIL: compress"; exit 1; }
expect 0 "valid" "$novaq" validate good.novaq
# the manifest records the SHA-256 of the input file, as before
want=$(sha256sum "$model" | cut -d' ' -f1)
"$novaq" info --json good.novaq > info.json
python3 -c "import json,sys; f=json.load(open('info.json'))['source']['files']; sys.exit(0 if len(f)==1 and f[0]['sha256']=='$want' else 1)" \
  || { echo "FAIL: manifest input hash is not the SHA-256 of $model"; cat info.json; fail=1; }
python3 - <<'PY'
import json, struct
b = bytearray(open("good.novaq", "rb").read())
off, size = struct.unpack("<QQ", b[-56:-40])
m = json.loads(b[off:off+size])
s = m["shards"][2]
b[s["offset"] + s["size"] // 2] ^= 0x10
open("flipped.novaq", "wb").write(b)
open("truncated.novaq", "wb").write(b[:len(b)//2])
PY
expect 1 "shard 2: SHA-256 mismatch" "$novaq" validate flipped.novaq
"$novaq" validate --json flipped.novaq > v.json
python3 -c "import json,sys; d=json.load(open('v.json')); sys.exit(0 if not d['valid'] and any(p['where']=='shard 2' for p in d['problems']) else 1)" || { echo "FAIL: --json validate"; fail=1; }
# decoders verify shard hashes too (issue 16): decompress names the shard, leaves no output;
# --no-verify is the explicit opt-out
expect 1 "flipped.novaq: shard 2 (bytes [" "$novaq" decompress flipped.novaq -o f.safetensors
grep -qF "SHA-256 mismatch" err.txt || { echo "FAIL: decompress hash message"; cat err.txt; fail=1; }
[ -e f.safetensors ] && { echo "FAIL: decompress of a corrupted shard left output"; fail=1; }
expect 0 "tensors written" "$novaq" decompress flipped.novaq -o f.safetensors --no-verify
expect 0 "--no-verify" "$novaq" decompress --help
# a 33 KB decompression bomb: one raw part whose zstd frame (RLE blocks) claims 1 GiB;
# refused from its manifest before anything is allocated
python3 - <<'PY'
import hashlib, json, struct
raw = 1 << 30
fr = bytearray(b"\x28\xb5\x2f\xfd\xe0") + struct.pack("<Q", raw)
n = raw >> 17
for i in range(n):
    fr += struct.pack("<I", (1 if i == n - 1 else 0) | 2 | (131072 << 3))[:3] + b"\0"
sh = hashlib.sha256(fr).digest()
part = {"kind": "raw", "a": 0, "b": raw, "shard": 0, "offset": 0, "size": len(fr), "codec": "zstd", "raw_size": raw}
man = json.dumps({"format": "novaq", "version": 2, "codebooks": [],
                  "tensors": [{"name": "big", "shape": [raw // 2], "dtype": "F16", "method": "raw", "parts": [part]}],
                  "shards": [{"index": 0, "offset": 16, "size": len(fr), "sha256": sh.hex()}],
                  "root_hash": hashlib.sha256(sh).hexdigest()}).encode()
foot = struct.pack("<QQ", 16 + len(fr), len(man)) + hashlib.sha256(man).digest() + struct.pack("<I", 2) + b"NQFT"
open("bomb.novaq", "wb").write(b"NOVAQ\0\r\n" + struct.pack("<II", 2, 0) + fr + man + foot)
PY
expect 1 "tensor 0 'big' part 0: raw_size 1073741824" "$novaq" validate bomb.novaq
expect 1 "part limit" "$novaq" decompress bomb.novaq -o b.safetensors
[ -e b.safetensors ] && { echo "FAIL: decompress of a bomb left output"; fail=1; }
expect 1 "footer" "$novaq" validate truncated.novaq
expect 1 "footer" "$novaq" info truncated.novaq
expect 1 "footer" "$novaq" decompress truncated.novaq -o x.safetensors
[ -e x.safetensors ] && { echo "FAIL: decompress left output"; fail=1; }
expect 2 "decompress" "$novaq" decompress good.novaq
expect 2 "--dtype" "$novaq" decompress good.novaq -o y.safetensors --dtype f8
exit $fail
