#!/usr/bin/env bash
# The shipped tiny model at every preset: compress, validate, decompress, and check every
# quantized tensor's SQNR (recomputed independently by sqnr_check.py from the decompressed
# file) against the floors measured in docs/FORMAT.md; determinism across runs and threads.
set -u
novaq=$1 data=$2 dir=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
model=$data/novaq-tiny-llama/model.safetensors
fail=0
# Floors: the worst tensor measured at each preset minus 0.5 dB (format v2, shared codebook
# set, rotation; measured 2026-11-26: 7.08, 9.73, 14.65, 19.60 dB).
declare -A floor=([1.5]=6.5 [2]=9.2 [3]=14.1 [4]=19.1)
for p in 1.5 2 3 4; do
  NOVAQ_NUM_THREADS=2 "$novaq" local "$model" -o p$p.novaq --bits $p >/dev/null || { echo "FAIL: compress $p"; fail=1; continue; }
  "$novaq" validate p$p.novaq >/dev/null 2>&1 || { echo "FAIL: validate $p"; fail=1; }
  "$novaq" stats --json p$p.novaq > s$p.json || { echo "FAIL: stats $p"; fail=1; }
  "$novaq" decompress p$p.novaq -o d$p.safetensors --dtype f32 >/dev/null || { echo "FAIL: decompress $p"; fail=1; }
  echo "preset $p: $(python3 -c "import json; d=json.load(open('s$p.json')); print('%.4f bits/weight, ratio %.3f' % (d['bits_per_weight_file'], d['ratio']))")"
  python3 "$here/sqnr_check.py" "$model" d$p.safetensors s$p.json "${floor[$p]}" || fail=1
done
# Determinism: one thread gives the same bytes as two.
NOVAQ_NUM_THREADS=1 "$novaq" local "$model" -o p2_t1.novaq --bits 2 >/dev/null
cmp p2.novaq p2_t1.novaq || { echo "FAIL: output differs between 1 and 2 threads"; fail=1; }
# Decompress to the original dtype gives a file other tools (here: Python) can read.
"$novaq" decompress p4.novaq -o bf.safetensors >/dev/null
python3 -c "
import json,struct; b=open('bf.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n])
o=open('$model','rb').read(); m=struct.unpack('<Q',o[:8])[0]; g=json.loads(o[8:8+m])
assert all(h[k]['dtype']==g[k]['dtype'] and h[k]['shape']==g[k]['shape'] for k in g if k!='__metadata__'), 'dtype/shape mismatch'
assert len(b)-8-n==len(o)-8-m, 'data size mismatch'" || { echo "FAIL: original-dtype decompress"; fail=1; }
exit $fail
