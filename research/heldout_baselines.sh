#!/usr/bin/env bash
# MOON beside FedAvg on the held-out data seeds 1 and 2 (training seeds 0-2); plan in
# research/headline_baselines/PLAN_heldout.md, written before it ran.
set -euo pipefail
cd "$(dirname "$0")/.."
for ds in 1 2; do
  .venv/bin/python tools/headline.py --out runs/headline-baselines-data$ds --seeds 0 1 2 --algorithms fedavg moon \
      --set data.seed=$ds fed.eval_every=5
done
.venv/bin/python tools/headline.py --out - --across runs/headline-baselines runs/headline-baselines-data1 \
  runs/headline-baselines-data2 --method moon
