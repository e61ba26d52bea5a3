#!/usr/bin/env bash
# Train an age model on one GPU machine, in one command (by default the from-random recipe
# training/configs/archive/gpu-default.toml, which has never run; the shipped model is the CPU lineage
# in training/configs/shipped/).
#
#   deploy/gpu/retrain.sh PACKED_DIR OUT_DIR [section.key=value ...]
#
# PACKED_DIR holds every shard-NNN.npz written by `python -m training pack` (see
# docs/training.md, "GPU retrain"). OUT_DIR receives only files below 16 MiB:
# best.safetensors.partNN + parts.json (join with `python -m training join-file`)
# and run-files.tar.gz (resolved config, metrics, history, log, plots, test-split
# evaluation). Extra arguments override the config, e.g. optim.epochs=60.
# Environment: PYTHON (default python3), CONFIG (default training/configs/archive/gpu-default.toml),
# WORK (scratch folder, default /tmp/age-retrain).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0"
  exit 2
fi
PACKED=$1
OUT=$2
shift 2
PY=${PYTHON:-python3}
CONFIG=${CONFIG:-training/configs/archive/gpu-default.toml}
WORK=${WORK:-/tmp/age-retrain}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

mkdir -p "$OUT" "$WORK"
rm -rf "$WORK/prepared" "$WORK/run"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.cuda.is_available())'

start=$(date +%s)
"$PY" -m training unpack --packed "$PACKED" --out "$WORK/prepared"
"$PY" -m training train --config "$CONFIG" data.prepared="$WORK/prepared" run.out_dir="$WORK/run" "$@"
"$PY" -m training evaluate --checkpoint "$WORK/run/best.safetensors" --prepared "$WORK/prepared" --split test \
  --json >"$WORK/run/test-eval.json"
"$PY" -m training evaluate --checkpoint "$WORK/run/best.safetensors" --prepared "$WORK/prepared" --split test
echo "wall time: $(($(date +%s) - start)) s"

"$PY" -m training split-file "$WORK/run/best.safetensors" --out "$OUT" --part-mib 15
files=(config.toml metrics.json history.json train.log test-eval.json)
for extra in curves.png samples.png; do [ -f "$WORK/run/$extra" ] && files+=("$extra"); done
tar -czf "$OUT/run-files.tar.gz" -C "$WORK/run" "${files[@]}"
ls -l "$OUT"
