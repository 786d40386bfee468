#!/usr/bin/env bash
# The headline on data seeds never used for choosing the defaults (README Results, "held-out data seeds").
set -euo pipefail
cd "$(dirname "$0")/.."
for ds in 1 2; do
  .venv/bin/python tools/headline.py --out runs/headline-data$ds --seeds 0 1 2 \
      --algorithms centralized fedavg fedaid --set data.seed=$ds fed.eval_every=5
done
