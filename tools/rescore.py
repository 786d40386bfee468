"""Re-score the saved models of a finished `compare` / `tools/headline.py` folder with today's evaluation code.

When a metric's definition changes (e.g. a hospital's retrieval measured in a gallery as large as the global
one), the trained models need not be trained again: each run folder keeps its final model, and training is
deterministic (tests/test_reproduce.py), so evaluating the saved model gives what re-running the grid would.

    python tools/rescore.py runs/headline            # rewrites results.json / results.csv, keeps the old as *.before
    python tools/headline.py --out runs/headline --analyse

Each (label skew, seed) is scored as `compare` scores it: the centralized run's embeddings are the reference
for every run of that setting. Metrics whose definition did not change must come out exactly as stored; if any
differs by more than float32 rounding (1e-4), nothing is written (the saved models would not be the grid's).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.data import load_hospitals
from fedaid_lite.evaluate import evaluate, prepare_eval, reference_embeddings
from fedaid_lite.history import atomic_write_text, jsonable
from fedaid_lite.model import load_model
from fedaid_lite.names import row_run_name
from fedaid_lite.train import configure_threads

UNCHANGED = ("sem_p5", "zeroshot_auroc", "linprobe_auroc_10", "i2t_r5", "dist_to_ref", "same_site_top5")
"""Global metrics whose definition has not changed since the headline grids: they must match exactly."""


def rescore(folder: Path) -> tuple[list[dict], list[str]]:
    """(the rows with fresh metrics, the problems found); rows keep their order and non-metric fields."""
    rows = json.loads((folder / "results.json").read_text())
    cpu, problems = torch.device("cpu"), []
    settings: dict[tuple[str, int], list[int]] = {}
    for i, row in enumerate(rows):
        settings.setdefault((str(row["label_skew"]), int(row["seed"])), []).append(i)
    fresh: dict[int, dict] = {}
    for (skew, seed), index in settings.items():
        order = sorted(index, key=lambda i: rows[i]["algorithm"] != "centralized")   # the reference first
        first = folder / "runs" / row_run_name(rows[order[0]])
        cfg = Experiment.from_dict(json.loads((first / "history.json").read_text())["config"])
        evalset = prepare_eval(load_hospitals(cfg.data), cfg.model, split=cfg.fed.eval_split)
        reference = None
        for i in order:
            model = load_model(folder / "runs" / row_run_name(rows[i]) / "model")
            metrics = evaluate(model, evalset, cpu, reference=reference)
            if rows[i]["algorithm"] == "centralized":
                reference = reference_embeddings(model, evalset, cpu)
            for key in UNCHANGED:
                old, new = rows[i].get(key), metrics.get(key)
                # float32 embeddings: a saved-and-loaded model moves a distance in the 8th digit, and can swap
                # one near-tied pair in an AUROC (1e-5); a different model moves these by far more
                if old is not None and new is not None and not np.isclose(float(old), new, rtol=0, atol=1e-4,
                                                                          equal_nan=True):
                    problems.append(f"{row_run_name(rows[i])}: {key} {old} stored, {new} now")
            fresh[i] = {**rows[i], **metrics}
            print(f"{row_run_name(rows[i])}: worst_site_sem_p5 {rows[i].get('worst_site_sem_p5')} -> "
                  f"{metrics['worst_site_sem_p5']:.4f}", flush=True)
    return [fresh[i] for i in range(len(rows))], problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a finished compare / headline folder (results.json + runs/)")
    args = ap.parse_args(argv)
    if not (args.folder / "results.json").is_file():
        print(f"error: {args.folder / 'results.json'} not found: give a finished compare or headline folder",
              file=sys.stderr)
        return 2
    configure_threads(1)
    rows, problems = rescore(args.folder)
    if problems:
        print("error: the saved models do not reproduce the stored metrics, nothing written:\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 1
    for name in ("results.json", "results.csv"):
        if (args.folder / name).exists():
            shutil.copy2(args.folder / name, args.folder / f"{name}.before")
    atomic_write_text(args.folder / "results.json", json.dumps(jsonable(rows), indent=1, allow_nan=False))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(args.folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
    print(f"rescored {len(rows)} runs in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
