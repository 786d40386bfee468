cd "$(dirname "$0")/.."
# r20: on 4 validation seeds batch 32 made the skew cost FedAvg more than batch 64 in every seed (sem_p5
# 0.074 vs 0.050), but by 0.002-0.04, and batch 16 cost less (2 seeds): not a clean dose-response. Four more
# validation seeds (4-7) of the pair that decides it, FedAvg at IID and alpha 0.1 at batch 32 and 64, plus
# FedAID at alpha 0.1 at batch 32, before anything is run on the test split.
.venv/bin/python research/grid.py --out research/r21_b32_seeds4_7 --seeds 4 5 6 7 --base fed.eval_every=5 \
  --variant avg-iid-b32:fed.algorithm=fedavg,data.label_skew=inf,train.batch_size=32 \
  --variant avg-0.1-b32:fed.algorithm=fedavg,data.label_skew=0.1,train.batch_size=32 \
  --variant aid-0.1-b32:fed.algorithm=fedaid,data.label_skew=0.1,train.batch_size=32 \
  --variant avg-iid-b64:fed.algorithm=fedavg,data.label_skew=inf,train.batch_size=64 \
  --variant avg-0.1-b64:fed.algorithm=fedavg,data.label_skew=0.1,train.batch_size=64
