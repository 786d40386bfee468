cd /work/main
# Which heterogeneity makes FedAvg's alignment worse at the default 20 x 5: stronger label skew, a stronger
# scanner shift, or sampling half the hospitals per round? (and FedAID at the stronger skew)
.venv/bin/python research/grid.py --out research/r8_hetero --seeds 0 1 --base fed.eval_every=5 \
  --variant avg-iid:fed.algorithm=fedavg,data.label_skew=inf \
  --variant avg-0.1:fed.algorithm=fedavg,data.label_skew=0.1 \
  --variant avg-0.03:fed.algorithm=fedavg,data.label_skew=0.03 \
  --variant aid-0.03:fed.algorithm=fedaid,data.label_skew=0.03 \
  --variant avg-0.1-img2:fed.algorithm=fedavg,data.label_skew=0.1,data.image_shift=2 \
  --variant avg-0.1-half:fed.algorithm=fedavg,data.label_skew=0.1,fed.fraction=0.5
