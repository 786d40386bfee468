#!/usr/bin/env bash
# Every research/*/across*.md from the per-seed results committed here: no training, seconds.
# (The same tables come from freshly trained runs/ folders with the commands in the README.)
set -euo pipefail
cd "$(dirname "$0")/.."
gen() {   # gen OUT ARGS...: the command on the first line, then its table
  local out=$1; shift
  { echo "\`python tools/headline.py --out - --across $*\`"; echo
    .venv/bin/python tools/headline.py --out - --across "$@"; } > "$out"
}
R=research
gen $R/heldout/across.md $R/headline $R/heldout/headline-data1 $R/heldout/headline-data2
gen $R/heldout/across_zeroshot.md $R/headline $R/heldout/headline-data1 $R/heldout/headline-data2 --metric zeroshot_auroc
gen $R/headline_rep/across.md $R/headline $R/headline_rep/headline-rep
gen $R/headline_rep/across_zeroshot.md $R/headline $R/headline_rep/headline-rep --metric zeroshot_auroc
gen $R/headline_f05/across.md $R/headline_f05/headline-f05 $R/headline_f05/headline-f05-data1 $R/headline_f05/headline-f05-data2
gen $R/heldout_a003/across.md $R/headline_a003 $R/heldout_a003/headline-a003-data1 --skew 0.03
# every default-setting run on the test split: training seeds 0-9 on the default data seed, 0-2 on data seeds 1 and 2
mkdir -p $R/all_pairs
gen $R/all_pairs/across.md $R/headline $R/headline_rep/headline-rep $R/heldout/headline-data1 $R/heldout/headline-data2
gen $R/all_pairs/across_zeroshot.md $R/headline $R/headline_rep/headline-rep $R/heldout/headline-data1 \
  $R/heldout/headline-data2 --metric zeroshot_auroc
# MOON and FedProx (mu 0.1) beside FedAvg on the headline's seeds (research/headline_baselines/PLAN.md)
for method in moon fedprox; do
  gen $R/headline_baselines/across_$method.md $R/headline_baselines --method $method
  gen $R/headline_baselines/across_${method}_zeroshot.md $R/headline_baselines --method $method --metric zeroshot_auroc
done
# MOON on the held-out data seeds too (research/headline_baselines/PLAN_heldout.md)
gen $R/headline_baselines/across_moon_heldout.md $R/headline_baselines $R/headline_baselines/headline-baselines-data1 \
  $R/headline_baselines/headline-baselines-data2 --method moon
gen $R/headline_baselines/across_moon_heldout_zeroshot.md $R/headline_baselines \
  $R/headline_baselines/headline-baselines-data1 $R/headline_baselines/headline-baselines-data2 --method moon --metric zeroshot_auroc
