#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up, build, compress the tiny model that ships
# in tests/data at preset 2 (or the model and settings given as arguments), validate the result
# and print its summary.  Usage: scripts/run.sh [model.safetensors|dir] [novaq local flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
model=${1:-tests/data/novaq-tiny-llama/model.safetensors}
shift || true
mkdir -p out
./build/cli/novaq local "$model" -o out/model.novaq "$@"
./build/cli/novaq validate out/model.novaq
./build/cli/novaq info out/model.novaq
