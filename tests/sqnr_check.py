#!/usr/bin/env python3
"""Independent check of `novaq stats`: recompute every quantized tensor's SQNR from the original
safetensors file and a decompressed (F32) safetensors file, with Python's own reader, and
compare with the figures the manifest reports. Also enforce a per-tensor SQNR floor.
usage: sqnr_check.py original.safetensors decompressed.safetensors stats.json floor_db"""
import json, math, struct, sys
from array import array

def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    hdr.pop("__metadata__", None)
    return b, 8 + n, hdr

def floats(b, base, info):
    s, e = info["data_offsets"]
    raw = b[base + s:base + e]
    if info["dtype"] == "F32":
        return array("f", raw)
    if info["dtype"] == "BF16":
        h = array("H", raw)
        return array("f", struct.pack("<%dI" % len(h), *[x << 16 for x in h]))
    raise SystemExit("unexpected dtype " + info["dtype"])

orig, ob, oh = read_st(sys.argv[1])
dec, db, dh = read_st(sys.argv[2])
stats = json.load(open(sys.argv[3]))
floor = float(sys.argv[4])
bad = 0
worst = 1e9
for t in stats["tensors"]:
    if t["method"] != "vq":
        continue
    a, q = floats(orig, ob, oh[t["name"]]), floats(dec, db, dh[t["name"]])
    sig = sum(x * x for x in a)
    sse = sum((x - y) * (x - y) for x, y in zip(a, q))
    sqnr = 10 * math.log10(sig / sse)
    worst = min(worst, sqnr)
    if abs(sqnr - t["sqnr_db"]) > 0.01 or sqnr < floor:
        print("FAIL %s: recomputed %.3f dB, reported %.3f dB, floor %.2f" % (t["name"], sqnr, t["sqnr_db"], floor))
        bad += 1
print("checked %d tensors, worst %.2f dB (floor %.2f)" % (sum(t["method"] == "vq" for t in stats["tensors"]), worst, floor))
sys.exit(1 if bad else 0)
