#!/usr/bin/env bash
# Forward-pass speed of the built-in LLaMA implementation on ONE core: tokens/s over N
# windows of 256 tokens (prefill with a KV cache, logits for every position, plus the
# perplexity bookkeeping), for each matmul kernel variant, and peak memory (GNU time).
# tokens per CPU second (user + sys, model loading included) is the figure to compare on a
# shared machine; wall-clock tokens/s is printed too.
# All variants print the same perplexity: the kernels are bit-identical by contract.
# usage: scripts/bench-forward.sh [model or .novaq] [windows]   (default: tiny model, 10)
#   a .novaq needs NOVAQ_BENCH_CONFIG=<config.json> unless a config.json sits beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
novaq=${NOVAQ_BIN:-build/cli/novaq}
[ -x "$novaq" ] || bash scripts/build.sh >/dev/null
model=${1:-tests/data/novaq-tiny-llama}
windows=${2:-10}
tokens=tests/data/novaq-tiny-llama/val_tokens.u16
cfg=()
[ -n "${NOVAQ_BENCH_CONFIG:-}" ] && cfg=(--config "$NOVAQ_BENCH_CONFIG")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "model $model, $windows windows x 256 tokens, 1 thread, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
printf "%-14s %8s %8s %10s %12s %12s %9s\n" kernel wall_s cpu_s tokens/s tokens/cpu_s perplexity peak_MiB
for k in scalar sse2 avx avx512 wasm-simd128; do
  n=$windows
  [ "$k" = scalar ] && n=$(( windows < 2 ? windows : 2 )) # the plain reference loop is slow
  /usr/bin/time -v -o "$tmp/time.txt" "$novaq" ppl "$model" "${cfg[@]}" --tokens "$tokens" \
    --windows "$n" --threads 1 --kernel "$k" --json > "$tmp/out.json" 2> "$tmp/err.txt" || continue
  peak=$(awk -F: '/Maximum resident set size/ {print $2/1024}' "$tmp/time.txt")
  cpu=$(awk -F: '/User time|System time/ {s += $2} END {print s}' "$tmp/time.txt")
  python3 - "$tmp/out.json" "$k" "$peak" "$cpu" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cpu = float(sys.argv[4])
print("%-14s %8.2f %8.2f %10.0f %12.0f %12.4f %9.1f   (%d windows)" % (sys.argv[2], d["seconds"], cpu,
      d["tokens_per_second"], d["windows"] * d["ctx"] / cpu, d["perplexity"], float(sys.argv[3]), d["windows"]))
PY
done
