cd "$(dirname "$0")/.."
# r19 found the opposite of its hypothesis: batch 32 made the skew cost FedAvg more than batch 64 (validation,
# 2 seeds), batch 128 made FedAvg unstable. Before anything changes: is the ideal still one at batch 32, does
# the cost hold on two more seeds (2 3), how strong should binding be at batch 32 (lambda 0.3 / 1 / 3), is
# FedAID no worse at IID, and does batch 16 go further (dose-response)? Validation split.
.venv/bin/python research/grid.py --out research/r20_b32 --seeds 0 1 --base fed.eval_every=5 train.batch_size=32 \
  --variant cen-0.1-b32:fed.algorithm=centralized,data.label_skew=0.1 \
  --variant aid-0.1-b32-l0.3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=0.3 \
  --variant aid-0.1-b32-l3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=3 \
  --variant aid-iid-b32:fed.algorithm=fedaid,data.label_skew=inf \
  --variant avg-iid-b16:fed.algorithm=fedavg,data.label_skew=inf,train.batch_size=16 \
  --variant avg-0.1-b16:fed.algorithm=fedavg,data.label_skew=0.1,train.batch_size=16 \
  --variant aid-0.1-b16:fed.algorithm=fedaid,data.label_skew=0.1,train.batch_size=16
.venv/bin/python research/grid.py --out research/r20_b32_seeds23 --seeds 2 3 --base fed.eval_every=5 train.batch_size=32 \
  --variant cen-0.1-b32:fed.algorithm=centralized,data.label_skew=0.1 \
  --variant avg-iid-b32:fed.algorithm=fedavg,data.label_skew=inf \
  --variant avg-0.1-b32:fed.algorithm=fedavg,data.label_skew=0.1 \
  --variant aid-0.1-b32:fed.algorithm=fedaid,data.label_skew=0.1 \
  --variant aid-0.1-b32-l0.3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=0.3 \
  --variant aid-0.1-b32-l3:fed.algorithm=fedaid,data.label_skew=0.1,fed.bind_lambda=3 \
  --variant aid-iid-b32:fed.algorithm=fedaid,data.label_skew=inf \
  --variant avg-iid-b64:fed.algorithm=fedavg,data.label_skew=inf,train.batch_size=64 \
  --variant avg-0.1-b64:fed.algorithm=fedavg,data.label_skew=0.1,train.batch_size=64
