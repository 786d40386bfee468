cd /work/main
# Why is the ideal's zero-shot AUROC low (0.71 on test) while its probe is 0.88? Scoring the test REPORTS'
# own embeddings against the prompts gives only 0.71-0.77 too (tools: none, a scratch check on the headline
# models), so the text side does not separate "effusion" from "no effusion" well: the text tower is
# pretrained with masked-LM only. Hypothesis: a text tower pretrained as a findings labeller on the public
# reports (as CheXbert-style report labellers are) lifts zero-shot without hurting the rest.
# Checkpoints: python -c "from fedaid_lite.pretrain import *; from fedaid_lite.config import Experiment; \
#   pretrain(Experiment.preset('default'), 'runs/pt/pt_find', PretrainConfig(text_objective='findings'))"
# (and 'mlm+findings' -> runs/pt/pt_both). Validation split, seeds 0 1.
.venv/bin/python research/grid.py --out research/r10_text --seeds 0 1 --base fed.eval_every=5 \
  --variant c-find:fed.algorithm=centralized,data.label_skew=0.1,model.pretrained=runs/pt/pt_find \
  --variant c-both:fed.algorithm=centralized,data.label_skew=0.1,model.pretrained=runs/pt/pt_both \
  --variant c-mlm:fed.algorithm=centralized,data.label_skew=0.1 \
  --variant avg-0.1-find:fed.algorithm=fedavg,data.label_skew=0.1,model.pretrained=runs/pt/pt_find \
  --variant aid-0.1-find:fed.algorithm=fedaid,data.label_skew=0.1,model.pretrained=runs/pt/pt_find \
  --variant avg-iid-find:fed.algorithm=fedavg,data.label_skew=inf,model.pretrained=runs/pt/pt_find
