"""Zero-shot AUROC of saved models under each prompt style (validation only): is the ideal's zero-shot low
because two bare phrases per side are too few to point the text tower at a finding? (r16, `bash research/r16.sh`)

    python research/zeroshot_prompts.py --split val runs/zsp/c_s0 runs/zsp/c_s1

Prompt sets (`fedaid_lite.data.prompts`), each a positive and a negative ensemble per finding, scored as
evaluate does (cosine to the mean positive prompt minus cosine to the mean negative prompt):
- bare:      two short in-vocabulary phrases per side (what evaluate used before r16);
- lexicon:   every phrasing the report writer knows for the finding, slots filled with every value, written
             as report sentences ("Small left pleural effusion."), against every negative phrasing;
- report:    the lexicon sentences laid out as a one-finding report ("FINDINGS: ... IMPRESSION: ...") against
             a report whose only finding sentence is the negative (chosen by r16; evaluate's default since);
- heldout:   the synonyms no generated report uses (a generalisation check, not a candidate).
The "report side" column scores each held-out report's own embedding against the same prompts.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.data import load_hospitals, zero_shot_prompts
from fedaid_lite.evaluate import prepare_eval, reference_embeddings
from fedaid_lite.metrics import zero_shot_auroc
from fedaid_lite.model import load_model
from fedaid_lite.train import embed_texts

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = Experiment.from_dict(json.loads((Path(a.runs[0]) / "history.json").read_text())["config"])
    hospitals = load_hospitals(cfg.data)
    sets = {style: zero_shot_prompts(style) for style in ("bare", "lexicon", "report")}
    sets["heldout"] = {k: {"positive": v["positive_heldout"], "negative": v["negative_heldout"]}
                       for k, v in sets["bare"].items()}
    evs = {name: prepare_eval(hospitals, cfg.model, split=a.split, prompts=p) for name, p in sets.items()}
    print("prompts per finding (pos/neg): " + ", ".join(
        f"{n} {np.mean([len(v['positive']) for v in p.values()]):.0f}/{np.mean([len(v['negative']) for v in p.values()]):.0f}"
        for n, p in sets.items()))
    cpu = torch.device("cpu")
    table = {}
    for run in a.runs:
        model = load_model(Path(run) / "model")
        emb = reference_embeddings(model, evs["bare"], cpu).global_test
        labels = evs["bare"].global_test.labels.numpy()
        for name, ev in evs.items():
            pe = embed_texts(model, ev.prompt_ids, ev.prompt_mask, cpu)
            ens = {f: (pe[ix["positive"]], pe[ix["negative"]]) for f, ix in ev.prompt_index.items()}
            img, per = zero_shot_auroc(emb.image, ens, labels, ev.findings)
            txt, _ = zero_shot_auroc(emb.text, ens, labels, ev.findings)
            table.setdefault(name, []).append((img, txt))
            print(f"{run} {name}: image {img:.3f} report side {txt:.3f} | "
                  + " ".join(f"{f[:6]}={v:.2f}" for f, v in per.items()), flush=True)
    for name, vals in table.items():
        v = np.array(vals)
        print(f"{name:8s} image side {v[:, 0].mean():.3f} ± {v[:, 0].std(ddof=1) if len(v) > 1 else 0:.3f}   "
              f"report side {v[:, 1].mean():.3f}")


if __name__ == "__main__":
    main()
