cd /work/main
# Which other heterogeneity makes the skew bias FedAvg more (r8 meant to test participation but stopped early)?
# (a) half the hospitals per round (fed.fraction=0.5): the global model is pulled to a different subset each
# round; (b) unequal hospital sizes (data.quantity_skew=1) on top of label skew. Validation split, seeds 0 1,
# the same seeds as r4 (whose full-participation, equal-size rows are the comparison).
.venv/bin/python research/grid.py --out research/r12_participation --seeds 0 1 --base fed.eval_every=5 \
  --variant avg-iid-f05:fed.algorithm=fedavg,data.label_skew=inf,fed.fraction=0.5 \
  --variant avg-0.1-f05:fed.algorithm=fedavg,data.label_skew=0.1,fed.fraction=0.5 \
  --variant aid-0.1-f05:fed.algorithm=fedaid,data.label_skew=0.1,fed.fraction=0.5 \
  --variant avg-iid-q1:fed.algorithm=fedavg,data.label_skew=inf,data.quantity_skew=1 \
  --variant avg-0.1-q1:fed.algorithm=fedavg,data.label_skew=0.1,data.quantity_skew=1 \
  --variant aid-0.1-q1:fed.algorithm=fedaid,data.label_skew=0.1,data.quantity_skew=1
