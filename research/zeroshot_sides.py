"""Zero-shot AUROC of saved models scored from the image side and from the report side, per finding.

    python research/zeroshot_sides.py --split val runs/zs/c_traj_s0 runs/zs/c_traj_s1

The image side is the usual zero-shot score (image vs positive/negative prompts). The report side scores
each held-out REPORT's embedding against the same prompts: if that is low too, the text tower, not the
image-report alignment, is what limits zero-shot (prompts and reports are not told apart by their findings).
"""
import argparse
import json
from pathlib import Path

import torch

from fedaid_lite.config import Experiment
from fedaid_lite.data import load_hospitals
from fedaid_lite.evaluate import prepare_eval, reference_embeddings
from fedaid_lite.metrics import zero_shot_auroc
from fedaid_lite.model import load_model
from fedaid_lite.train import embed_texts

ap = argparse.ArgumentParser()
ap.add_argument("--split", choices=("val", "test"), default="val")
ap.add_argument("runs", nargs="+")
a = ap.parse_args()
torch.set_num_threads(1)
cfg = Experiment.from_dict(json.loads((Path(a.runs[0]) / "history.json").read_text())["config"])
ev = prepare_eval(load_hospitals(cfg.data), cfg.model, split=a.split)
cpu = torch.device("cpu")
for run in a.runs:
    model = load_model(Path(run) / "model")
    emb = reference_embeddings(model, ev, cpu).global_test
    prompts = embed_texts(model, ev.prompt_ids, ev.prompt_mask, cpu)
    ens = {f: (prompts[ix["positive"]], prompts[ix["negative"]]) for f, ix in ev.prompt_index.items()}
    labels = ev.global_test.labels.numpy()
    img, per = zero_shot_auroc(emb.image, ens, labels, ev.findings)
    txt, _ = zero_shot_auroc(emb.text, ens, labels, ev.findings)
    print(f"{run}: image side {img:.3f}, report side {txt:.3f}; per finding (image) "
          + " ".join(f"{f}={v:.2f}" for f, v in per.items()))
