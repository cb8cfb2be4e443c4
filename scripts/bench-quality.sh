#!/usr/bin/env bash
# Quality frontier of the presets on the shared tiny model (docs/QUALITY.md):
# perplexity ratio to the original over the 331 windows of val_tokens.u16 (novaq benchmark),
# bits per weight from the stored bytes, compression time on one core (user CPU seconds).
#   rows "linears":  only the 42 decoder linear layers quantized (embeddings, lm_head kept)
#   rows "all":      embeddings and lm_head quantized too (whole-file bits per weight)
#   mode "full":     stage 3 with calibration (--calib calib.txt); "fast": without;
#        "lw":       full without the end-to-end step (--e2e-steps 0, layer-wise stage 3 only)
#        "long":     full with a beam of 8 and 256 end-to-end steps (preset 3's defaults, so
#                    not run again for it; presets 1.5, 2 and 4 default to a beam of 4 and
#                    48, 48 and 256 steps)
# usage: scripts/bench-quality.sh [build dir] [out dir] [presets...]   (WINDOWS=N for fewer)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}; out=${2:-/tmp/novaq-quality}; shift $(( $# > 2 ? 2 : $# )) || true
presets=${*:-1.5 2 3 4}
novaq=$build/cli/novaq
model=$root/tests/data/novaq-tiny-llama
win=${WINDOWS:+--windows $WINDOWS}
mkdir -p "$out"
printf "%-6s %-8s %-5s %10s %10s %9s %9s %9s\n" preset rows mode bpw_quant bpw_file ppl_ratio kl cpu_s
run() { # preset rows mode flags...
  local p=$1 rows=$2 mode=$3; shift 3
  local f=$out/p$p-$rows-$mode.novaq
  local t0
  t0=$( { TIMEFORMAT=%U; time NOVAQ_NUM_THREADS=1 "$novaq" local "$model" -o "$f" --bits "$p" "$@" >/dev/null 2>&1; } 2>&1 )
  local st; st=$("$novaq" stats --json "$f")
  local bq bf; bq=$(echo "$st" | python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['bits_per_weight_quantized'])")
  bf=$(echo "$st" | python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['bits_per_weight_file'])")
  local b; b=$("$novaq" benchmark "$f" --original "$model" --tokens "$model/val_tokens.u16" --json $win)
  local r k; r=$(echo "$b" | python3 -c "import json,sys; d=json.load(sys.stdin); print('%.4f' % d['ppl_ratio'])")
  k=$(echo "$b" | python3 -c "import json,sys; d=json.load(sys.stdin); print('%.4f' % d['kl_mean'])")
  printf "%-6s %-8s %-5s %10s %10s %9s %9s %9s\n" "$p" "$rows" "$mode" "$bq" "$bf" "$r" "$k" "$t0"
}
for p in $presets; do
  run "$p" linears full --no-quantize-embeddings --no-quantize-lm-head --calib "$model/calib.txt"
  run "$p" all full --calib "$model/calib.txt"
  run "$p" linears fast --no-quantize-embeddings --no-quantize-lm-head
  [ -n "${SHORT:-}" ] && continue   # SHORT=1: only the full, all and fast rows
  run "$p" linears lw --no-quantize-embeddings --no-quantize-lm-head --calib "$model/calib.txt" --e2e-steps 0
  [ "$p" = 3 ] && continue
  run "$p" linears long --no-quantize-embeddings --no-quantize-lm-head --calib "$model/calib.txt" --beam 8 --e2e-steps 256
done
