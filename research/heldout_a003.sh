# The strong-skew (alpha 0.03) check on data seeds never used in research (test split, 3 training seeds each),
# run from the same code as runs/headline-a003; then one line per data seed with tools/headline.py --across.
for ds in 1 2; do
  .venv/bin/python tools/headline.py --out runs/headline-a003-data$ds --skew 0.03 --seeds 0 1 2 \
    --algorithms centralized fedavg fedaid --set fed.eval_every=5 data.seed=$ds
done
.venv/bin/python tools/headline.py --out - --skew 0.03 --across runs/headline-a003 runs/headline-a003-data1 runs/headline-a003-data2
