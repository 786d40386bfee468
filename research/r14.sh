cd "$(dirname "$0")/.."
# r13 showed the skew's bias is carried by the towers' drift: slower towers shrank FedAvg's skew cost and
# FedAID's gain. Does the opposite hold: a larger learning rate (2e-3, everything) makes the skew cost more and
# leave FedAID more to bind back; and a smaller one (5e-4) less? Validation split, seeds 0 1 (as r4/r12/r13;
# their lr 1e-3 rows are the comparison, r13's scale-1 block).
V=""
for lr in 0.002 0.0005; do
  V="$V --variant cen-0.1-lr$lr:fed.algorithm=centralized,data.label_skew=0.1,train.lr=$lr"
  V="$V --variant avg-0.1-lr$lr:fed.algorithm=fedavg,data.label_skew=0.1,train.lr=$lr"
  V="$V --variant aid-0.1-lr$lr:fed.algorithm=fedaid,data.label_skew=0.1,train.lr=$lr"
  V="$V --variant avg-iid-lr$lr:fed.algorithm=fedavg,data.label_skew=inf,train.lr=$lr"
done
.venv/bin/python research/grid.py --out research/r14_lr --seeds 0 1 --base fed.eval_every=5 $V
