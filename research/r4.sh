cd /work/main
.venv/bin/python research/grid.py --out research/r4_L20R5 --seeds 0 1 --base data.report_shift=0 fed.rounds=5 train.local_steps=20 fed.stage1_steps=5 fed.eval_every=5 \
  --variant avg-iid:fed.algorithm=fedavg,data.label_skew=inf \
  --variant avg-0.1:fed.algorithm=fedavg,data.label_skew=0.1 \
  --variant aid-0.1-l0.03:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=0.03 \
  --variant aid-0.1-l0.3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=0.3 \
  --variant aid-0.1-l1:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=1
