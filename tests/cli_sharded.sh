#!/usr/bin/env bash
# A sharded model directory (model.safetensors.index.json + 2 shards, split by Python from the
# tiny model) compresses as one model, and every tensor decodes to exactly what the single-file
# compression gives (tensors are encoded independently of their neighbours and order).
set -u
novaq=$1 data=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir/sharded" && cd "$dir" || exit 1
model=$data/novaq-tiny-llama/model.safetensors
python3 - "$model" sharded <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
hdr = json.loads(b[8:8 + n]); meta = hdr.pop("__metadata__", None)
names = sorted(hdr)
parts = [names[:len(names) // 2], names[len(names) // 2:]]
wmap = {}
for i, group in enumerate(parts):
    fname = "model-%05d-of-00002.safetensors" % (i + 1)
    h, data, off = {}, bytearray(), 0
    for k in reversed(group):  # a different order than the original file
        s, e = hdr[k]["data_offsets"]
        h[k] = {"dtype": hdr[k]["dtype"], "shape": hdr[k]["shape"], "data_offsets": [off, off + e - s]}
        data += b[8 + n + s:8 + n + e]; off += e - s; wmap[k] = fname
    if meta: h["__metadata__"] = meta
    j = json.dumps(h).encode()
    open(sys.argv[2] + "/" + fname, "wb").write(struct.pack("<Q", len(j)) + j + data)
json.dump({"metadata": {"total_size": len(b) - 8 - n}, "weight_map": wmap}, open(sys.argv[2] + "/model.safetensors.index.json", "w"))
PY
fast="--bits 1.5 --kmeans-iters 3 --train-vectors 4096"
"$novaq" local sharded -o sharded.novaq $fast >/dev/null || { echo "FAIL: compress sharded dir"; exit 1; }
"$novaq" local "$model" -o single.novaq $fast >/dev/null || { echo "FAIL: compress single"; exit 1; }
"$novaq" validate sharded.novaq >/dev/null 2>&1 || { echo "FAIL: validate"; exit 1; }
"$novaq" decompress sharded.novaq -o a.safetensors --dtype f32 >/dev/null && "$novaq" decompress single.novaq -o b.safetensors --dtype f32 >/dev/null || exit 1
python3 - <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = load("a.safetensors"), load("b.safetensors")
assert len(a) == 57 and a.keys() == b.keys(), "tensor sets differ"
bad = [k for k in a if a[k] != b[k]]
assert not bad, "tensors differ: %s" % bad[:3]
PY
[ $? = 0 ] || { echo "FAIL: decoded tensors differ between sharded and single-file input"; exit 1; }
python3 -c "
import json,struct; b=open('sharded.novaq','rb').read(); off,size=struct.unpack('<QQ',b[-56:-40]); m=json.loads(b[off:off+size])
f=[x['name'] for x in m['source']['files']]; assert f==['model-00001-of-00002.safetensors','model-00002-of-00002.safetensors'], f" || { echo "FAIL: manifest source files"; exit 1; }
# a shard missing from the directory is a clear error
rm sharded/model-00002-of-00002.safetensors
"$novaq" local sharded -o x.novaq 2>err.txt; rc=$?
[ $rc = 1 ] && grep -q "model-00002-of-00002.safetensors" err.txt || { echo "FAIL: missing shard: rc=$rc $(cat err.txt)"; exit 1; }
exit 0
