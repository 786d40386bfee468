cd "$(dirname "$0")/.."
# Pooled over all sixteen test-split runs, FedAID gains nearly as much at IID as at alpha 0.1 (README, "Is
# FedAID's gain specific to the skew?"): does binding to the ideal do more than any pull towards the global
# model? FedProx (weights pulled to the global model, mu 0.01 and 0.1) and MOON (representations pulled to the
# global model's, away from the previous local one) at alpha 0.1 and IID, validation, seeds 0-3; FedAID on
# seeds 2-3 (seeds 0-1: r15_ssl aid-0.1-sup, r18_anchor aid-iid-authors). FedAvg for all eight seeds is in
# r15/r20/r21. `python research/baseline_pairs.py` pairs them.
.venv/bin/python research/grid.py --out research/r22_baselines --seeds 0 1 2 3 --base fed.eval_every=5 \
  --variant prox-0.1:fed.algorithm=fedprox,data.label_skew=0.1 \
  --variant prox-iid:fed.algorithm=fedprox,data.label_skew=inf \
  --variant prox-0.1-mu0.1:fed.algorithm=fedprox,data.label_skew=0.1,fed.prox_mu=0.1 \
  --variant prox-iid-mu0.1:fed.algorithm=fedprox,data.label_skew=inf,fed.prox_mu=0.1 \
  --variant moon-0.1:fed.algorithm=moon,data.label_skew=0.1 \
  --variant moon-iid:fed.algorithm=moon,data.label_skew=inf
.venv/bin/python research/grid.py --out research/r22_fedaid_seeds23 --seeds 2 3 --base fed.eval_every=5 \
  --variant aid-0.1:fed.algorithm=fedaid,data.label_skew=0.1 \
  --variant aid-iid:fed.algorithm=fedaid,data.label_skew=inf
