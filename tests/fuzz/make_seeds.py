#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (scripts/fuzz.sh), small files of each format written
here from scratch, so the fuzzer starts from inputs that get deep into each reader.
Standard library only.

usage: make_seeds.py <corpus dir> <data dir (tests/data)>
Writes <corpus dir>/<target>/seed-*: safetensors, gguf, tokenizer, config. The novaq and
manifest seeds are made by scripts/fuzz.sh with `novaq local` from the safetensors seed."""
import json
import os
import random
import struct
import sys

corpus, data = sys.argv[1], sys.argv[2]
rng = random.Random(7)


def put(target, name, blob):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob if isinstance(blob, bytes) else blob.encode())


def bf16(xs):
    return b"".join(struct.pack("<f", x)[2:] for x in xs)


def safetensors(tensors, meta=None):
    """tensors: [(name, dtype, shape, raw bytes)]"""
    header, off, blobs = {}, 0, []
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def rand(n, scale=0.05):
    return [rng.gauss(0, scale) for _ in range(n)]


# safetensors: a tiny LLaMA-named layer (quantizable linears, a norm) in three dtypes
st = safetensors([
    ("model.layers.0.mlp.up_proj.weight", "BF16", [64, 64], bf16(rand(64 * 64))),
    ("model.layers.0.self_attn.q_proj.weight", "F32", [32, 64], struct.pack("<2048f", *rand(2048))),
    ("model.layers.0.input_layernorm.weight", "F16", [64], struct.pack("<64e", *([1.0] * 64))),
], {"format": "pt"})
put("safetensors", "seed-layer", st)
put("safetensors", "seed-empty-tensor", safetensors([
    ("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "F32", [0], b""),
    ("c", "BF16", [3], bf16([1, 2, 3]))]))
with open(os.path.join(corpus, "model-seed.safetensors"), "wb") as f:
    f.write(st)


# GGUF v3: llama metadata (with an array), two tensors F32 and F16, alignment 32
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, val):
    return gstr(key) + struct.pack("<I", typ) + val


U32, F32T, STRING, ARRAY = 4, 6, 8, 9
kvs = [
    kv("general.architecture", STRING, gstr("llama")),
    kv("general.alignment", U32, struct.pack("<I", 32)),
    kv("llama.embedding_length", U32, struct.pack("<I", 16)),
    kv("llama.feed_forward_length", U32, struct.pack("<I", 32)),
    kv("llama.block_count", U32, struct.pack("<I", 1)),
    kv("llama.attention.head_count", U32, struct.pack("<I", 2)),
    kv("llama.context_length", U32, struct.pack("<I", 64)),
    kv("llama.attention.layer_norm_rms_epsilon", F32T, struct.pack("<f", 1e-5)),
    kv("tokenizer.ggml.tokens", ARRAY, struct.pack("<IQ", STRING, 3) + gstr("a") + gstr("b") + gstr("c")),
]
tens = [("blk.0.ffn_up.weight", [16, 32], 0, struct.pack("<512f", *rand(512))),
        ("blk.0.attn_norm.weight", [16], 1, struct.pack("<16e", *([1.0] * 16)))]
infos, off, datas = b"", 0, b""
for name, dims, typ, raw in tens:
    infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
    infos += struct.pack("<IQ", typ, off)
    datas += raw + b"\0" * (-len(raw) % 32)
    off = len(datas)
g = b"GGUF" + struct.pack("<IQQ", 3, len(tens), len(kvs)) + b"".join(kvs) + infos
g += b"\0" * (-len(g) % 32) + datas
put("gguf", "seed-llama", g)

# tokenizer: mode byte 'T' + text (encoded with the shared model's tokenizer), 'J' + a
# tokenizer.json (loaded). Texts from the calibration file, and edge cases.
with open(os.path.join(data, "novaq-tiny-llama", "calib.txt"), "rb") as f:
    calib = f.read()
for i in range(4):
    put("tokenizer", "seed-text-%d" % i, b"T" + calib[i * 1000:i * 1000 + 300])
put("tokenizer", "seed-text-ws", b"T" + b"  \n\n\t  x   " + "héllo wörld ✓ 日本".encode() + b" 123456 's 're")
with open(os.path.join(data, "novaq-tiny-llama", "tokenizer.json"), "rb") as f:
    tj = json.load(f)
small = dict(tj)
vocab = dict(list(tj["model"]["vocab"].items())[:300])
small["model"] = dict(tj["model"], vocab=vocab, merges=[m for m in tj["model"]["merges"][:50]])
small["added_tokens"] = tj.get("added_tokens", [])[:3]
put("tokenizer", "seed-json", b"J" + json.dumps(small, separators=(",", ":")).encode())

# config: mode byte 'Y' (novaq-config.yaml), 'J' (novaq-config.json), 'L' (a config.json)
put("config", "seed-yaml", "Y" + """model:
  compression:
    bits_per_weight: 2
    codebook_size: 1024
    residual_codebook_sizes: [32]
refinement:
  enabled: true
  calibration_tokens: 512
output:
  shard_size_bytes: 1900000
  zstd_level: 9
""")
put("config", "seed-json", "J" + json.dumps({"model": {"compression": {"bits_per_weight": 3, "seed": 5}},
                                              "refinement": {"end_to_end_steps": 4}}))
with open(os.path.join(data, "novaq-tiny-llama", "config.json"), "rb") as f:
    put("config", "seed-llama-config", b"L" + f.read())
