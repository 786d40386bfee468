cd /work/main
.venv/bin/python research/grid.py --out research/r6_rho --seeds 0 1 --base data.report_shift=0 fed.rounds=5 train.local_steps=20 fed.stage1_steps=5 fed.eval_every=5 \
  --variant aid-0.1-l1-rho0.1:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=1,fed.dro_rho=0.1 \
  --variant aid-0.1-l1-rho0.3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=1,fed.dro_rho=0.3
