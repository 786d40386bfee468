cd "$(dirname "$0")/.."
# Does keeping each client's AdamW state from round to round (instead of a fresh optimizer each round, as the
# authors' clients and this library do) make label skew bias FedAvg more, and what does FedAID do then?
# A research harness (research/keep_optimizer.py), in-process only. Validation split, seeds 0 1; the baseline
# is r15's shipped-tower block (same seeds and base, fresh optimizers; zero-shot with the report prompts).
K=research.keep_optimizer=1
.venv/bin/python research/grid.py --out research/r17_optstate --seeds 0 1 --base fed.eval_every=5 \
  --variant cen-0.1-keep:fed.algorithm=centralized,data.label_skew=0.1,$K \
  --variant avg-0.1-keep:fed.algorithm=fedavg,data.label_skew=0.1,$K \
  --variant aid-0.1-keep:fed.algorithm=fedaid,data.label_skew=0.1,$K \
  --variant avg-iid-keep:fed.algorithm=fedavg,data.label_skew=inf,$K
