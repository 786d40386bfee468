# The headline's defaults on five new training seeds (5-9), test split, default data seed; plan in
# research/headline_rep/PLAN.md (written before it ran). Then the replication alone and pooled with seeds 0-4.
cd "$(dirname "$0")/.."
.venv/bin/python tools/headline.py --out runs/headline-rep --seeds 5 6 7 8 9 --algorithms centralized fedavg fedaid \
  --set fed.eval_every=5
.venv/bin/python tools/headline.py --out - --across runs/headline runs/headline-rep
