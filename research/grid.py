"""Research grid on the validation split: named variants x seeds, hospitals built once per seed.

    python research/grid.py --out research/NAME --seeds 0 1 --base data.report_shift=0 \
        --variant fedavg:fed.algorithm=fedavg --variant aid:fed.algorithm=fedaid,fed.bind_lambda=1

Each seed runs in its own process (one torch thread); rows go to research/NAME/results.csv with the command.
"""
import argparse
import csv
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path


def parse(items):
    return dict(kv.split("=", 1) for kv in items if kv)


def run_seed(args):
    base, variants, seed, data_seed, out_dir = args
    from fedaid_lite.config import Experiment
    from fedaid_lite.data import load_hospitals
    from fedaid_lite.evaluate import prepare_eval, reference_embeddings
    from fedaid_lite.federated import run_federated
    from fedaid_lite.train import configure_threads
    import torch
    from anchor_refresh import anchor_refresh
    from keep_optimizer import keep_optimizer

    cfg0 = Experiment.default().override({**base, "fed.eval_split": "val", "seed": seed})
    if data_seed is not None:
        cfg0 = cfg0.override({"data.seed": data_seed})
    configure_threads(1)
    cache = {}
    rows, reference = [], {}
    for name, ov in variants:
        ov = dict(ov)
        keep = ov.pop("research.keep_optimizer", "0") == "1"   # research/keep_optimizer.py (r17)
        order = ov.pop("research.anchor", "authors")             # research/anchor_refresh.py (r18)
        cfg = cfg0.override(ov)
        key = json.dumps(cfg.to_dict()["data"], sort_keys=True)
        if key not in cache:
            h = load_hospitals(cfg.data)
            cache[key] = (h, prepare_eval(h, cfg.model, split="val"))
        h, ev = cache[key]
        t = time.perf_counter()
        # The ideal a run is measured against: same data and same starting towers (model.init/pretrained).
        ref_key = (key, cfg.model.init, cfg.model.pretrained)
        ref = reference.get(ref_key)
        with tempfile.TemporaryDirectory() as tmp, keep_optimizer(keep), anchor_refresh(order):
            hist = run_federated(cfg, hospitals=h, evalset=ev, reference=ref, device=torch.device("cpu"),
                                 checkpoint_dir=tmp)
            if cfg.fed.algorithm == "centralized" and ref_key not in reference:
                reference[ref_key] = reference_embeddings(hist.model, ev, torch.device("cpu"))   # just trained
        m = hist.final_metrics()
        rows.append({"variant": name, "seed": seed, "data_seed": cfg.data.seed, "seconds": round(time.perf_counter() - t, 1),
                     **{k: m[k] for k in sorted(m)}})
        with open(Path(out_dir) / f"partial-seed{seed}.jsonl", "a") as f:   # kept if a later variant fails
            f.write(json.dumps(rows[-1]) + "\n")
        print(f"seed {seed} {name}: sem_i2t_p5 {m['sem_i2t_p5']:.3f} zs {m['zeroshot_auroc']:.3f} "
              f"({time.perf_counter() - t:.0f}s)", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--data-seed", type=int, default=None)
    ap.add_argument("--base", nargs="*", default=[])
    ap.add_argument("--variant", action="append", required=True, help="NAME:key=v,key=v")
    a = ap.parse_args()
    variants = []
    for v in a.variant:
        name, _, rest = v.partition(":")
        variants.append((name, parse(rest.split(","))))
    base = parse(a.base)
    from fedaid_lite.config import Experiment
    for name, ov in variants:   # a bad key or value stops here, not after an hour of other variants
        Experiment.default().override({k: v for k, v in {**base, **ov}.items() if not k.startswith("research.")})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "command.txt").write_text("python " + " ".join(sys.argv) + "\n")
    with mp.get_context("spawn").Pool(min(2, len(a.seeds))) as pool:
        results = pool.map(run_seed, [(base, variants, s, a.data_seed, str(out)) for s in a.seeds])
    rows = [r for part in results for r in part]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
