cd /work/main
# r8 hinted that a stronger label skew (alpha 0.03) hurts FedAvg more (and makes it unstable) while FedAID holds
# IID-level semantic P@5. Check on two fresh training seeds, with alpha 0.05 in between. Validation split.
.venv/bin/python research/grid.py --out research/r9_skew --seeds 2 3 --base fed.eval_every=5 \
  --variant avg-iid:fed.algorithm=fedavg,data.label_skew=inf \
  --variant avg-0.03:fed.algorithm=fedavg,data.label_skew=0.03 \
  --variant aid-0.03:fed.algorithm=fedaid,data.label_skew=0.03 \
  --variant avg-0.05:fed.algorithm=fedavg,data.label_skew=0.05 \
  --variant aid-0.05:fed.algorithm=fedaid,data.label_skew=0.05
