#!/usr/bin/env bash
# `novaq ppl`, `benchmark`, `generate` on the tiny model: figures are the same for any thread
# count, --text and --tokens agree, a model benchmarked against itself shows no divergence,
# greedy and seeded generation repeat, and bad input gets clear errors with the right exit codes.
set -u
novaq=$1 data=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail=0
m=$data/novaq-tiny-llama
expect() { # expect <exit code> <needle in output> <command...>
  local want=$1 needle=$2; shift 2
  "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" != "$want" ] || ! grep -qF -- "$needle" err.txt out.txt; then
    echo "FAIL: $* -> exit $got (want $want, '$needle'), output:"; cat err.txt out.txt; fail=1
  fi
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

# perplexity: deterministic across thread counts; text tokenized here == stored ids
"$novaq" ppl "$m" --tokens "$m/val_tokens.u16" --windows 3 --threads 1 --json > p1.json || fail=1
"$novaq" ppl "$m" --tokens "$m/val_tokens.u16" --windows 3 --threads 3 --json > p3.json || fail=1
"$novaq" ppl "$m" --text "$m/val.txt" --windows 3 --threads 2 --json > pt.json || fail=1
a=$(field p1.json "['perplexity']") b=$(field p3.json "['perplexity']") c=$(field pt.json "['perplexity']")
[ "$a" = "$b" ] && [ "$a" = "$c" ] || { echo "FAIL: ppl differs: $a / $b / $c"; fail=1; }
python3 -c "import sys; p=float(sys.argv[1]); sys.exit(0 if 10 < p < 1000 else 1)" "$a" \
  || { echo "FAIL: implausible perplexity $a"; fail=1; }
[ "$(field p1.json "['predicted_tokens']")" = 768 ] || { echo "FAIL: predicted tokens"; fail=1; }
expect 0 "perplexity" "$novaq" ppl "$m/model.safetensors" --tokens "$m/val_tokens.u16" --windows 1 --ctx 64

# a sharded copy (two safetensors files + index, config beside them) gives the same figure
mkdir -p sharded && cp "$m/config.json" sharded/
python3 - "$m/model.safetensors" sharded <<'PY' || fail=1
import json, struct, sys
src, out = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
names = sorted(k for k in hdr if k != "__metadata__")
shards = [names[: len(names) // 2], names[len(names) // 2:]]
wmap = {}
for i, part in enumerate(shards):
    fn = "model-%05d-of-00002.safetensors" % (i + 1)
    h, blob = {}, b""
    for k in part:
        a, b = hdr[k]["data_offsets"]
        h[k] = {"dtype": hdr[k]["dtype"], "shape": hdr[k]["shape"], "data_offsets": [len(blob), len(blob) + b - a]}
        blob += data[a:b]; wmap[k] = fn
    hj = json.dumps(h).encode()
    open(out + "/" + fn, "wb").write(struct.pack("<Q", len(hj)) + hj + blob)
json.dump({"metadata": {}, "weight_map": wmap}, open(out + "/model.safetensors.index.json", "w"))
PY
"$novaq" ppl sharded --tokens "$m/val_tokens.u16" --windows 3 --threads 2 --json > ps.json || fail=1
[ "$(field ps.json "['perplexity']")" = "$a" ] || { echo "FAIL: sharded ppl $(field ps.json "['perplexity']") != $a"; fail=1; }

# benchmark: the original against itself (the .safetensors file; config found beside it)
"$novaq" benchmark "$m/model.safetensors" --original "$m" --tokens "$m/val_tokens.u16" --windows 2 --blocks --json > b.json || fail=1
python3 - b.json "$a" <<'PY' || fail=1
import json, sys
b = json.load(open(sys.argv[1]))
ok = (b['original']['perplexity'] == b['compressed']['perplexity'] and b['ppl_ratio'] == 1
      and abs(b['kl_mean']) < 1e-9 and b['top1_agreement'] == 1 and abs(b['cosine_mean'] - 1) < 1e-6
      and b['predicted_tokens'] == 512
      and len(b['cosine_per_block']) == 6 and all(abs(c - 1) < 1e-6 for c in b['cosine_per_block']))
if not ok: print("FAIL: self-benchmark", b)
sys.exit(0 if ok else 1)
PY
expect 0 "top-1 agreement" "$novaq" benchmark "$m/model.safetensors" --original "$m" --text "$m/val.txt" --windows 1 --ctx 32

# generate: greedy repeats; seeded sampling repeats; the prompt is echoed
"$novaq" generate "$m" --prompt "The committee said" -n 12 > g1.txt || fail=1
"$novaq" generate "$m" --prompt "The committee said" -n 12 > g2.txt || fail=1
"$novaq" generate "$m" --prompt "The committee said" -n 12 --temperature 0.9 --top-k 40 --seed 7 > s1.txt || fail=1
"$novaq" generate "$m" --prompt "The committee said" -n 12 --temperature 0.9 --top-k 40 --seed 7 > s2.txt || fail=1
cmp -s g1.txt g2.txt && cmp -s s1.txt s2.txt || { echo "FAIL: generation not repeatable"; fail=1; }
grep -q "^The committee said." g1.txt && [ "$(wc -c < g1.txt)" -gt 30 ] || { echo "FAIL: generate output"; cat g1.txt; fail=1; }

# bad input
expect 2 "--text <file> or --tokens" "$novaq" ppl "$m"
expect 2 "unknown option" "$novaq" ppl "$m" --frob
expect 2 "--ctx needs an integer" "$novaq" ppl "$m" --ctx zero --tokens "$m/val_tokens.u16"
expect 2 "needs --original" "$novaq" benchmark "$m" --tokens "$m/val_tokens.u16"
expect 1 "longer than the model allows (max_position_embeddings 512)" "$novaq" ppl "$m" --tokens "$m/val_tokens.u16" --ctx 1000
printf '\x01\x00\x02' > odd.u16
expect 1 "not a whole number of u16" "$novaq" ppl "$m" --tokens odd.u16
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<6H', 5, 6, 7, 5000, 8, 9))" > big.u16
expect 1 "token id 5000 at index 3 is outside the model's vocabulary (0..4095)" "$novaq" ppl "$m" --tokens big.u16 --ctx 4
printf '\x01\x00\x02\x00' > two.u16
expect 1 "too few for one window" "$novaq" ppl "$m" --tokens two.u16 --ctx 8
mkdir -p lone && cp "$m/model.safetensors" lone/
expect 1 "no config.json beside the model" "$novaq" ppl lone/model.safetensors --tokens "$m/val_tokens.u16"
sed 's/"num_key_value_heads": 8/"num_key_value_heads": 3/' "$m/config.json" > badheads.json
expect 1 "not a multiple of num_key_value_heads 3" "$novaq" ppl "$m" --config badheads.json --tokens "$m/val_tokens.u16"
sed 's/"intermediate_size": 768/"intermediate_size": 512/' "$m/config.json" > badshape.json
expect 1 "mlp.gate_proj.weight' has shape [768, 256], config needs [512, 256]" "$novaq" ppl "$m" --config badshape.json --tokens "$m/val_tokens.u16"
sed 's/"rope_type": "default"/"rope_type": "yarn"/' "$m/config.json" > yarn.json
expect 1 "rope type 'yarn' is not supported" "$novaq" ppl "$m" --config yarn.json --tokens "$m/val_tokens.u16"
expect 1 "is longer than the model allows" "$novaq" generate "$m" --prompt "Hello" -n 600
expect 1 "kernel 'nope' is not available" "$novaq" ppl "$m" --tokens "$m/val_tokens.u16" --kernel nope
exit $fail
