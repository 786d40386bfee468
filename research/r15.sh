cd "$(dirname "$0")/.."
# Does a self-supervised image tower (SimCLR on the public corpus' images, no labels) change the story? The
# shipped image tower is pretrained on the findings themselves, which is optimistic next to a generic
# pretrained encoder; a tower that never saw a label leaves the federated stage more of the findings to
# learn, so label skew may bias more. Towers: fedaid-lite pretrain --out runs/pt/pt_simclr --image-objective
# simclr (text tower: masked-LM, as shipped). Validation split, seeds 0 1; the shipped towers run beside
# them (their semantic P@5 equals r13's scale-1 block; zero-shot is scored with r16's report prompts here).
[ -f runs/pt/pt_simclr/towers.safetensors ] || .venv/bin/fedaid-lite pretrain --out runs/pt/pt_simclr --image-objective simclr
P=model.pretrained=runs/pt/pt_simclr
.venv/bin/python research/grid.py --out research/r15_ssl --seeds 0 1 --base fed.eval_every=5 \
  --variant cen-0.1-ssl:fed.algorithm=centralized,data.label_skew=0.1,$P \
  --variant avg-0.1-ssl:fed.algorithm=fedavg,data.label_skew=0.1,$P \
  --variant aid-0.1-ssl:fed.algorithm=fedaid,data.label_skew=0.1,$P \
  --variant avg-iid-ssl:fed.algorithm=fedavg,data.label_skew=inf,$P \
  --variant cen-0.1-sup:fed.algorithm=centralized,data.label_skew=0.1 \
  --variant avg-0.1-sup:fed.algorithm=fedavg,data.label_skew=0.1 \
  --variant aid-0.1-sup:fed.algorithm=fedaid,data.label_skew=0.1 \
  --variant avg-iid-sup:fed.algorithm=fedavg,data.label_skew=inf
