#!/usr/bin/env bash
# Ablation of the quality ingredients at preset 2 on the shared tiny model (docs/QUALITY.md):
# each row adds one ingredient (or removes one from the full setting). Decoder linear layers
# only; perplexity ratio and KL over the first WINDOWS (default 96) windows of val_tokens.u16;
# compression CPU seconds on one core. Row 1 is the format-1 coding: per-tensor codebooks of
# the old {256,256} layout (per-tensor 1024-entry codebooks would cost more than they code).
# Rows 6-22 keep one layout for every tensor (--no-mixed, as before mixed precision); rows 23
# and 24 are the defaults with mixed precision, with and without the end-to-end step.
# usage: scripts/bench-ablation.sh [build dir] [out dir]   (ROWS="8 9 21" runs only those rows)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}; out=${2:-/tmp/novaq-ablation}
novaq=$build/cli/novaq
model=$root/tests/data/novaq-tiny-llama
calib="--calib $model/calib.txt"
win=${WINDOWS:-96}
mkdir -p "$out"
printf "%-4s %-58s %9s %9s %8s %7s\n" row flags bpw_quant ppl_ratio kl cpu_s
i=0
while IFS='|' read -r flags; do
  i=$((i + 1))
  [ -n "${ROWS:-}" ] && [[ " $ROWS " != *" $i "* ]] && continue
  f=$out/a$i.novaq
  t=$( { TIMEFORMAT=%U; time NOVAQ_NUM_THREADS=1 "$novaq" local "$model" -o "$f" --bits 2 \
         --no-quantize-embeddings --no-quantize-lm-head $flags >/dev/null 2>&1; } 2>&1 )
  bq=$("$novaq" stats --json "$f" | python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['bits_per_weight_quantized'])")
  b=$("$novaq" benchmark "$f" --original "$model" --tokens "$model/val_tokens.u16" --windows "$win" --json)
  r=$(echo "$b" | python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['ppl_ratio'])")
  k=$(echo "$b" | python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['kl_mean'])")
  printf "%-4s %-58s %9s %9s %8s %7s\n" "A$i" "${flags//$model\//}" "$bq" "$r" "$k" "$t"
done <<LIST
--no-share-codebooks --no-joint --no-rotate --no-refine --codebook-size 256 --residual-codebook-size 256
--no-joint --no-rotate --no-refine
--no-rotate --no-refine
--no-refine
 
$calib --calib-tokens 8192 --e2e-steps 0 --no-mixed
$calib --e2e-steps 0 --no-mixed
$calib --no-mixed
$calib --e2e-lambda 0 --no-mixed
$calib --e2e-steps 128 --no-mixed
$calib --calib-tokens 8192 --e2e-steps 64 --no-mixed
$calib --no-rotate --no-mixed
$calib --no-joint --no-mixed
$calib --act-order --no-mixed
$calib --damp 0.01 --no-mixed
$calib --codebook-size 512 --residual-codebook-size 128 --no-mixed
$calib --codebook-size 256 --residual-codebook-size 256 --no-mixed
$calib --beam 1 --no-mixed
$calib --beam 8 --no-mixed
$calib --e2e-steps 32 --no-mixed
$calib --e2e-lambda 1 --no-mixed
$calib --e2e-lambda 30 --no-mixed
$calib
$calib --e2e-steps 0
LIST
