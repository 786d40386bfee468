cd "$(dirname "$0")/.."
# Does fine-tuning the pretrained towers at the full learning rate cost the ideal its zero-shot (the text tower
# forgets how to place short prompts), and does a slower tower change how much label skew biases FedAvg?
# train.tower_lr_scale = 1 (today), 0.3, 0.1; frozen towers (0) for the ideal only. Validation split, seeds 0 1
# (as r4/r12). The centralized variant runs first in each block so FedAvg/FedAID get dist_to_ref.
V=""
for s in 1 0.3 0.1; do
  V="$V --variant cen-0.1-s$s:fed.algorithm=centralized,data.label_skew=0.1,train.tower_lr_scale=$s"
  V="$V --variant avg-0.1-s$s:fed.algorithm=fedavg,data.label_skew=0.1,train.tower_lr_scale=$s"
  V="$V --variant aid-0.1-s$s:fed.algorithm=fedaid,data.label_skew=0.1,train.tower_lr_scale=$s"
  V="$V --variant avg-iid-s$s:fed.algorithm=fedavg,data.label_skew=inf,train.tower_lr_scale=$s"
done
V="$V --variant cen-0.1-s0:fed.algorithm=centralized,data.label_skew=0.1,train.tower_lr_scale=0"
.venv/bin/python research/grid.py --out research/r13_tower_lr --seeds 0 1 --base fed.eval_every=5 $V
