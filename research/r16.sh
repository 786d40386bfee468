cd "$(dirname "$0")/.."
# Is the ideal's zero-shot AUROC low (0.71 on test, 0.75 on validation) because two bare phrases per side are
# too few to point the small text tower at a finding? Train the ideal (centralized, alpha 0.1) on the
# validation protocol for 4 training seeds, keep the models, and score them under each prompt style of
# fedaid_lite/data/prompts.py (research/zeroshot_prompts.py). Two jobs on two cores, ~4 min.
export OMP_NUM_THREADS=1
train() { for s in "$@"; do
  .venv/bin/fedaid-lite run --algorithm centralized --out runs/zsp/c_s$s --quiet \
    --set fed.eval_split=val --set seed=$s --set fed.eval_every=5 --set data.label_skew=0.1 > /dev/null; done; }
train 0 2 & train 1 3 & wait
mkdir -p research/r16_prompts
.venv/bin/python research/zeroshot_prompts.py --split val runs/zsp/c_s0 runs/zsp/c_s1 runs/zsp/c_s2 runs/zsp/c_s3 \
  | tee research/r16_prompts/results.txt
