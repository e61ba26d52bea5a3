#!/usr/bin/env bash
# Tiny-scale sanity check of the three heads on CPU (NOT a measure of model quality):
# the same few hundred prepared UTKFace crops, input 32 px, 3 epochs, one run per head.
#   scripts/recipe_check.sh [PREPARED] [OUT] [extra overrides...]
set -euo pipefail
cd "$(dirname "$0")/.."
PREPARED=${1:-data/prepared/utkface-160}
OUT=${2:-runs/recipe-check}
shift $(($# < 2 ? $# : 2))
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
for head in bins l1 mse; do
  "$PY" -m training train data.prepared="$PREPARED" data.limit=320 model.head=$head model.input_size=32 \
    optim.epochs=3 optim.batch_size=16 optim.lr=1e-3 optim.warmup_epochs=0.3 optim.ema_decay=0.99 \
    run.progress=false run.num_threads=2 run.out_dir="$OUT/$head" "$@" >"$OUT/$head.log" 2>&1
done
"$PY" - "$OUT" <<'PYTHON'
import json
import sys

for head in ("bins", "l1", "mse"):
    metrics = json.load(open(f"{sys.argv[1]}/{head}/metrics.json"))
    first, last = metrics["history"][0]["train_loss"], metrics["history"][-1]["train_loss"]
    print(f"{head:>4}: train loss {first:.3f} -> {last:.3f}, best val MAE {metrics['best_val_mae']:.2f} "
          f"(epoch {metrics['best_epoch']}), {metrics['train_minutes']} min")
PYTHON
