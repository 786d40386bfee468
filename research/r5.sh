cd /work/main
.venv/bin/python research/grid.py --out research/r5_lambda --seeds 0 1 --base data.report_shift=0 fed.rounds=5 train.local_steps=20 fed.stage1_steps=5 fed.eval_every=5 \
  --variant aid-iid-l1:fed.algorithm=fedaid,data.label_skew=inf,fed.bind_lambda=1 \
  --variant aid-0.1-l3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=3 \
  --variant aid-0.1-l10:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=10 \
  --variant aidnodro-0.1-l1:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=1,fed.dro=false \
  --variant aid-0.1-l1-s10:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=1,fed.stage1_steps=10
