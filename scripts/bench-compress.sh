#!/usr/bin/env bash
# Compression throughput on one core (NOVAQ_NUM_THREADS=1) and peak memory (GNU time), per
# preset. cpu_s (user+sys) is the robust figure on a busy machine; wall_s is printed too.
# usage: scripts/bench-compress.sh [model] [presets...]   (default: the tiny model, all presets)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/cli/novaq ] || bash scripts/build.sh >/dev/null
model=${1:-tests/data/novaq-tiny-llama/model.safetensors}
shift || true
presets=${*:-1.5 2 3 4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf "%-7s %9s %9s %14s %10s %9s %10s\n" preset wall_s cpu_s weights/cpu_s bits/w ratio peak_MiB
for p in $presets; do
  NOVAQ_NUM_THREADS=1 /usr/bin/time -v -o "$tmp/time.txt" ./build/cli/novaq local "$model" -o "$tmp/x.novaq" \
    --bits "$p" --json > "$tmp/out.json"
  peak=$(awk -F: '/Maximum resident set size/ {print $2/1024}' "$tmp/time.txt")
  cpu=$(awk -F: '/User time|System time/ {s += $2} END {print s}' "$tmp/time.txt")
  python3 - "$tmp/out.json" "$p" "$peak" "$cpu" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cpu = float(sys.argv[4])
print("%-7s %9.2f %9.2f %14.0f %10.4f %9.3f %10.1f" % (sys.argv[2], d["seconds"], cpu, d["weights"] / cpu,
      d["bits_per_weight_file"], d["ratio"], float(sys.argv[3])))
PY
done
