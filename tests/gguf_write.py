#!/usr/bin/env python3
"""Write a GGUF v3 file from a Hugging Face LLaMA model directory, the way llama.cpp's
converter lays it out: llama.cpp tensor names, dims innermost first, Q/K rows permuted for
its rotary layout, llama.* metadata and the tokenizer vocabulary. Standard library only.

usage: gguf_write.py <model dir> <out.gguf> [--type bf16|f32|f16|q8_0] [--align N]

With --type q8_0, 2-D tensors are Q8_0 (32 int8 + an f16 scale per block, scale =
max|x|/127, round half away from zero, as ggml does); 1-D tensors stay F32, as in llama.cpp.
This is an independent writer used to test core/io/gguf.c, not a copy of llama.cpp code."""
import json
import struct
import sys
from array import array

GGML = {"f32": 0, "f16": 1, "q8_0": 8, "bf16": 30}
U32, I32, F32, BOOL, STRING, ARRAY, U64 = 4, 5, 6, 7, 8, 9, 10


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = (t["dtype"], t["shape"], data[b:e])
    return out


def to_f32(dtype, raw):
    if dtype == "F32":
        a = array("f")
        a.frombytes(raw)
        return a
    if dtype == "BF16":
        h = array("H")
        h.frombytes(raw)
        return array("f", struct.unpack("<%df" % len(h), array("I", (x << 16 for x in h)).tobytes()))
    raise SystemExit("unsupported dtype " + dtype)


def permute_rows(rows, heads):
    """llama.cpp's Q/K order: each head's rows viewed as (2, half) are stored as (half, 2)."""
    n = len(rows)
    hd = n // heads
    half = hd // 2
    out = [None] * n
    for h in range(heads):
        for part in range(2):
            for j in range(half):
                out[h * hd + 2 * j + part] = rows[h * hd + part * half + j]
    return out


def gguf_name(hf):
    fixed = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if hf in fixed:
        return fixed[hf]
    parts = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    assert hf.startswith("model.layers."), hf
    rest = hf[len("model.layers."):]
    layer, rest = rest.split(".", 1)
    stem, suffix = rest.rsplit(".", 1)
    return "blk.%s.%s.%s" % (layer, parts[stem], suffix)


def f16_bits(x):
    return struct.unpack("<H", struct.pack("<e", x))[0]


def q8_0(row):
    out = bytearray()
    for b in range(0, len(row), 32):
        blk = row[b:b + 32]
        amax = max(abs(v) for v in blk)
        d = amax / 127.0
        inv = 1.0 / d if d else 0.0
        out += struct.pack("<H", f16_bits(d))
        for v in blk:
            x = v * inv
            q = int(abs(x) + 0.5)
            out += struct.pack("<b", -q if x < 0 else q)
    return bytes(out)


def encode(values, cols, ty):
    if ty == "f32":
        return array("f", values).tobytes()
    if ty == "f16":
        return struct.pack("<%de" % len(values), *values)
    if ty == "bf16":  # exact: the values came from bf16
        return array("H", (x >> 16 for x in array("I", array("f", values).tobytes()))).tobytes()
    return b"".join(q8_0(values[r:r + cols]) for r in range(0, len(values), cols))


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, ty, value):
    out = gstr(key) + struct.pack("<I", ty)
    if ty == STRING:
        return out + gstr(value)
    if ty == ARRAY:
        et, items = value
        body = b"".join(gstr(x) if et == STRING else struct.pack("<i", x) for x in items)
        return out + struct.pack("<IQ", et, len(items)) + body
    return out + struct.pack({U32: "<I", I32: "<i", F32: "<f", BOOL: "<B", U64: "<Q"}[ty], value)


def main():
    args = sys.argv[1:]
    ty, align = "bf16", 32
    if "--type" in args:
        i = args.index("--type")
        ty = args[i + 1]
        del args[i:i + 2]
    if "--align" in args:
        i = args.index("--align")
        align = int(args[i + 1])
        del args[i:i + 2]
    model_dir, out_path = args
    cfg = json.load(open(model_dir + "/config.json"))
    tok = json.load(open(model_dir + "/tokenizer.json"))
    tensors = read_safetensors(model_dir + "/model.safetensors")
    heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    theta = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)

    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kvp: kvp[1])
    merges = [" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]]
    meta = [
        kv("general.architecture", STRING, "llama"),
        kv("general.name", STRING, "novaq-tiny-llama"),
        kv("general.alignment", U32, align),
        kv("llama.context_length", U32, cfg["max_position_embeddings"]),
        kv("llama.embedding_length", U32, cfg["hidden_size"]),
        kv("llama.block_count", U32, cfg["num_hidden_layers"]),
        kv("llama.feed_forward_length", U32, cfg["intermediate_size"]),
        kv("llama.attention.head_count", U32, heads),
        kv("llama.attention.head_count_kv", U32, kv_heads),
        kv("llama.attention.layer_norm_rms_epsilon", F32, cfg["rms_norm_eps"]),
        kv("llama.rope.freq_base", F32, theta),
        kv("llama.rope.dimension_count", U32, cfg.get("head_dim", cfg["hidden_size"] // heads)),
        kv("tokenizer.ggml.model", STRING, "gpt2"),
        kv("tokenizer.ggml.tokens", ARRAY, (STRING, [t for t, _ in vocab])),
        kv("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
        kv("tokenizer.ggml.bos_token_id", U32, cfg["bos_token_id"]),
        kv("tokenizer.ggml.eos_token_id", U32, cfg["eos_token_id"]),
    ]

    infos, blobs, offset = [], [], 0
    for hf in sorted(tensors):
        dtype, shape, raw = tensors[hf]
        vals = to_f32(dtype, raw)
        cols = shape[-1] if len(shape) > 1 else len(vals)
        if hf.endswith(("q_proj.weight", "k_proj.weight")):
            h = heads if "q_proj" in hf else kv_heads
            rows = [vals[r * cols:(r + 1) * cols] for r in range(shape[0])]
            vals = array("f", b"".join(r.tobytes() for r in permute_rows(rows, h)))
        t = ty if len(shape) > 1 else ("f32" if ty == "q8_0" else ty)
        data = encode(list(vals), cols, t)
        dims = list(reversed(shape))
        infos.append(gstr(gguf_name(hf)) + struct.pack("<I", len(dims)) +
                     b"".join(struct.pack("<Q", d) for d in dims) +
                     struct.pack("<IQ", GGML[t], offset))
        pad = (-len(data)) % align
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad

    head = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(meta)) + b"".join(meta) + b"".join(infos)
    head += b"\0" * ((-len(head)) % align)
    with open(out_path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
