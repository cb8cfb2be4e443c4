#!/usr/bin/env bash
# novaq local --calib (stage 3): same bytes for 1 and 2 threads, the file validates, the
# mixed layout of preset 3 (some tensors with the third stage, within the 3.0625-bit budget;
# --no-mixed: none), the
# manifest records output-aware refinement for the linear layers and lm_head and the
# weight-space fallback (with its reason) for the embedding, and the end-to-end step (a few
# steps here: tests/test_stage3_distill.c checks what it achieves) on every quantized tensor and
# RMSNorm weight; bad calibration inputs fail cleanly with a message naming the file and
# leave no output.
set -u
novaq=$1 data=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
m=$data/novaq-tiny-llama
fail=0
NOVAQ_NUM_THREADS=1 "$novaq" local "$m" -o c1.novaq --bits 3 --calib "$m/calib.txt" --calib-tokens 512 --e2e-steps 4 >/dev/null 2>err1 \
  || { echo "FAIL: compress with --calib"; cat err1; fail=1; }
NOVAQ_NUM_THREADS=2 "$novaq" local "$m" -o c2.novaq --bits 3 --calib "$m/calib.txt" --calib-tokens 512 --e2e-steps 4 >/dev/null 2>&1
cmp -s c1.novaq c2.novaq || { echo "FAIL: --calib output differs between 1 and 2 threads"; fail=1; }
grep -q "calibration: 512 tokens" err1 || { echo "FAIL: calibration summary missing"; fail=1; }
grep -q "stage 3 end to end: 4 steps, .*(kept)" err1 || { echo "FAIL: end-to-end summary missing or dropped"; cat err1; fail=1; }
grep -q "stage 3 mixed precision: [1-9][0-9]* tensors .* take all 3 stages" err1 || { echo "FAIL: mixed-precision summary missing"; cat err1; fail=1; }
"$novaq" local "$m" -o c3.novaq --bits 3 --calib "$m/calib.txt" --calib-tokens 512 --e2e-steps 0 --no-mixed >/dev/null 2>err4 \
  || { echo "FAIL: compress with --no-mixed"; cat err4; fail=1; }
grep -q "mixed precision" err4 && { echo "FAIL: --no-mixed still allocates"; fail=1; }
"$novaq" validate c1.novaq >/dev/null 2>&1 || { echo "FAIL: --calib output does not validate"; fail=1; }
python3 - c1.novaq <<'PY' || fail=1
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
off, size = struct.unpack('<QQ', b[-56:-40])
t = {x['name']: x for x in json.loads(b[off:off + size])['tensors'] if x['method'] == 'vq'}
s3 = lambda n: t[n]['vq']['stage3']
ok = all(s3(n)['mode'] == 'output-aware' and s3(n)['objective'] <= s3(n)['objective_stage2']
         for n in t if n.startswith('model.layers.') or n == 'lm_head.weight')
ok = ok and s3('model.embed_tokens.weight')['mode'] == 'weight-space' and 'no activations' in s3('model.embed_tokens.weight')['reason']
if not ok: print('FAIL: stage3 records', {n: s3(n)['mode'] for n in t})
e2e = all('end_to_end' in s3(n) for n in t)
norms = [x for x in json.loads(b[off:off + size])['tensors'] if x['name'].endswith('norm.weight')]
e2e = e2e and len(norms) == 13 and all('end to end' in x.get('refined', '') for x in norms)
if not e2e: print('FAIL: end-to-end records missing'); ok = False
man = json.loads(b[off:off + size])
stages = [len(t[n]['vq']['K']) for n in t]
if not (0 < stages.count(3) < len(stages) and stages.count(3) + stages.count(2) == len(stages)):
    print('FAIL: mixed layout', stages); ok = False
if not (man['settings']['base_stages'] == 2 and man['settings']['codebook_sizes'] == [512, 8, 16]
        and man['stats']['bits_per_weight_quantized'] <= 3.0625):
    print('FAIL: mixed settings or budget', man['settings'], man['stats']); ok = False
sys.exit(0 if ok else 1)
PY
python3 - c3.novaq <<'PY' || fail=1
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
off, size = struct.unpack('<QQ', b[-56:-40])
man = json.loads(b[off:off + size])
if any(len(x['vq']['K']) != 2 for x in man['tensors'] if x['method'] == 'vq') or man['settings']['base_stages'] != 0:
    print('FAIL: --no-mixed file has a mixed layout'); sys.exit(1)
PY
# bad input: missing calibration file; a model without tokenizer.json beside it
"$novaq" local "$m" -o bad.novaq --calib nope.txt >/dev/null 2>err2; rc=$?
[ $rc = 1 ] && grep -q "nope.txt" err2 && [ ! -e bad.novaq ] || { echo "FAIL: missing --calib file: rc $rc, $(cat err2)"; fail=1; }
mkdir -p lone && cp "$m/model.safetensors" "$m/config.json" lone/
"$novaq" local lone -o bad2.novaq --calib "$m/calib.txt" >/dev/null 2>err3; rc=$?
[ $rc = 1 ] && grep -q "tokenizer.json" err3 && [ ! -e bad2.novaq ] || { echo "FAIL: no tokenizer.json: rc $rc, $(cat err3)"; fail=1; }
"$novaq" local "$m" -o bad3.novaq --calib >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || { echo "FAIL: --calib without a file: rc $rc"; fail=1; }
exit $fail
