cd "$(dirname "$0")/.."
# Does the skew bias the alignment through in-batch false negatives? Under label skew a hospital's batch is
# mostly cases with the same findings, and the contrastive loss pushes their reports apart. If that is the
# mechanism, a larger batch (more same-finding negatives per anchor) should make the skew cost FedAvg more and a
# smaller one less. Batch 32 and 128 (the default is 64: r15's shipped block, same seeds), FedAvg at IID and
# alpha 0.1 and FedAID at alpha 0.1, validation split, seeds 0 1. `python research/false_negatives.py` counts
# the same-finding negatives per batch.
.venv/bin/python research/grid.py --out research/r19_batch --seeds 0 1 --base fed.eval_every=5 \
  --variant avg-iid-b32:fed.algorithm=fedavg,data.label_skew=inf,train.batch_size=32 \
  --variant avg-0.1-b32:fed.algorithm=fedavg,data.label_skew=0.1,train.batch_size=32 \
  --variant aid-0.1-b32:fed.algorithm=fedaid,data.label_skew=0.1,train.batch_size=32 \
  --variant avg-iid-b128:fed.algorithm=fedavg,data.label_skew=inf,train.batch_size=128 \
  --variant avg-0.1-b128:fed.algorithm=fedavg,data.label_skew=0.1,train.batch_size=128 \
  --variant aid-0.1-b128:fed.algorithm=fedaid,data.label_skew=0.1,train.batch_size=128
