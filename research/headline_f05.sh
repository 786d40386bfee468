# Half the hospitals per round (fed.fraction=0.5), the setting the validation screen r12 pointed to, on the
# TEST split: 5 training seeds on the default data seed, then 3 training seeds on each of data seeds 1 and 2
# (never used for choosing), then one line per data seed. Written and started before any of it had run.
cd /work/main
.venv/bin/python tools/headline.py --out runs/headline-f05 --algorithms centralized fedavg fedaid \
  --set fed.eval_every=5 fed.fraction=0.5
for ds in 1 2; do
  .venv/bin/python tools/headline.py --out runs/headline-f05-data$ds --seeds 0 1 2 \
    --algorithms centralized fedavg fedaid --set fed.eval_every=5 fed.fraction=0.5 data.seed=$ds
done
.venv/bin/python tools/headline.py --out - --across runs/headline-f05 runs/headline-f05-data1 runs/headline-f05-data2
