#!/usr/bin/env bash
# MOON and FedProx (mu 0.1) beside FedAvg, headline setting (test split, seeds 0-4); plan in
# research/headline_baselines/PLAN.md, written before it ran. Then each method's gain at alpha 0.1, at IID and
# the difference, pooled over the seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python tools/headline.py --out runs/headline-baselines --algorithms fedavg moon fedprox \
  --set fed.eval_every=5 fed.prox_mu=0.1
for method in moon fedprox; do
  .venv/bin/python tools/headline.py --out - --across runs/headline-baselines --method $method
done
