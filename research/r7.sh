cd /work/main
# Does more local work per round make the skew hurt FedAvg more (and FedAID help more)? 40 steps x 5 rounds.
.venv/bin/python research/grid.py --out research/r7_L40R5 --seeds 0 1 --base fed.rounds=5 train.local_steps=40 fed.stage1_steps=10 fed.eval_every=5 \
  --variant avg-iid:fed.algorithm=fedavg,data.label_skew=inf \
  --variant avg-0.1:fed.algorithm=fedavg,data.label_skew=0.1 \
  --variant aid-0.1-l1:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=1
