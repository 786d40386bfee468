cd "$(dirname "$0")/.."
# Does the "stitched" anchor matter? The authors' order refreshes the anchor's alignment layers after stage 1
# and its encoders after stage 2, so the next round's stage 1 binds to this round's stage-1 alignment layers;
# research/anchor_refresh.py refreshes it whole after stage 2 instead. FedAID at alpha 0.1 and IID, both
# orders, validation split, seeds 0 1 (FedAvg's rows for the same seeds are r15's shipped block).
.venv/bin/python research/grid.py --out research/r18_anchor --seeds 0 1 --base fed.eval_every=5 \
  --variant aid-0.1-whole:fed.algorithm=fedaid,data.label_skew=0.1,research.anchor=whole \
  --variant aid-iid-whole:fed.algorithm=fedaid,data.label_skew=inf,research.anchor=whole \
  --variant aid-iid-authors:fed.algorithm=fedaid,data.label_skew=inf
