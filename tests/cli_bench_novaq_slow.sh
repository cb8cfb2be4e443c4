#!/usr/bin/env bash
# The forward-pass commands on a .novaq: compress the tiny model, then `benchmark` reports a
# real but bounded divergence, `ppl` on the .novaq alone agrees with the benchmark's figure
# for it, and `generate` runs from it. Slow label: compression under ASan takes long.
set -u
novaq=$1 data=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail=0
m=$data/novaq-tiny-llama
"$novaq" local "$m" -o t.novaq --bits 3 > /dev/null 2>&1 || { echo "FAIL: compress"; exit 1; }
"$novaq" benchmark t.novaq --original "$m" --tokens "$m/val_tokens.u16" --windows 3 --blocks --json > b.json || fail=1
"$novaq" ppl t.novaq --config "$m/config.json" --tokens "$m/val_tokens.u16" --windows 3 --json > p.json || fail=1
python3 - b.json p.json "$(stat -c %s t.novaq)" <<'PY' || fail=1
import json, sys
b, p, size = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
c = b['compressed']
checks = {
    'ppl of the .novaq alone == its benchmark figure': p['perplexity'] == c['perplexity'],
    'KL > 0': b['kl_mean'] > 0,
    'KL bounded': b['kl_mean'] < 1.0,
    'top-1 below 1': 0.3 < b['top1_agreement'] < 1,
    'cosine in (0.8, 1)': 0.8 < b['cosine_mean'] < 1,
    'per-block cosine in (0.8, 1)': all(0.8 < x < 1 for x in b['cosine_per_block']),
    'bytes are the file size': c['bytes'] == size,
    'bits/weight from the size': abs(c['bits_per_weight'] - 8 * size / 7212288) < 1e-9,
}
for k, ok in checks.items():
    if not ok: print("FAIL:", k, json.dumps(b))
sys.exit(0 if all(checks.values()) else 1)
PY
"$novaq" generate t.novaq --config "$m/config.json" --tokenizer "$m/tokenizer.json" --prompt "It was" -n 8 > g.txt \
  && grep -q "^It was" g.txt || { echo "FAIL: generate from .novaq"; cat g.txt; fail=1; }
exit $fail
