#!/usr/bin/env bash
# Compression throughput on one core and peak memory (GNU time), per preset.
# usage: scripts/bench-compress.sh [model] [presets...]   (default: the tiny model, all presets)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/cli/novaq ] || bash scripts/build.sh >/dev/null
model=${1:-tests/data/novaq-tiny-llama/model.safetensors}
shift || true
presets=${*:-1.5 2 3 4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf "%-7s %10s %12s %10s %12s %10s\n" preset seconds weights/s bits/w ratio peak_MiB
for p in $presets; do
  NOVAQ_NUM_THREADS=1 /usr/bin/time -v -o "$tmp/time.txt" ./build/cli/novaq local "$model" -o "$tmp/x.novaq" \
    --bits "$p" --json > "$tmp/out.json"
  peak=$(awk -F: '/Maximum resident set size/ {print $2/1024}' "$tmp/time.txt")
  python3 - "$tmp/out.json" "$p" "$peak" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("%-7s %10.2f %12.0f %10.4f %12.3f %10.1f" % (sys.argv[2], d["seconds"], d["weights_per_second"],
      d["bits_per_weight_file"], d["ratio"], float(sys.argv[3])))
PY
done
