"""Tune FedAID's binding weight and stage-1 length on the *validation* split (never the test split).

For each (fed.bind_lambda, fed.stage1_steps) in the grid, runs FedAID with `fedaid-lite compare`'s code
(`run_compare`, `fed.eval_split=val`) over the given seeds, plus FedAvg once as the yardstick, then
prints and writes `OUT/tuning.md`: validation metrics (mean over seeds) per setting, best first by the
selection score = semantic P@5 (`sem_p5`, the headline's primary metric) on the pooled validation cases.
Every run checkpoints under OUT, so an interrupted sweep resumes when the same command is run again.

    python tools/tune_fedaid.py --out runs/tune --lambdas 0.3 1 3 --stage1 5     # around the class preset's values

The screens that chose today's defaults (λ_bind = 1, stage 1 = 5 of 20 steps) are in research/ (README there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from fedaid_lite.config import Experiment
from fedaid_lite.experiments import markdown_table, run_compare

# The headline runs the class preset (README "Results"); tuning uses that budget, evaluating once at the end.
HEADLINE_BUDGET = ("fed.eval_every=5",)
METRICS = ("sem_p5", "i2t_r5", "zeroshot_auroc", "worst_site_sem_p5", "dist_to_ref")


def score(row: dict) -> float:
    """The selection score: semantic P@5 (validation)."""
    return float(row["sem_p5"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.3, 1.0, 3.0])
    ap.add_argument("--stage1", type=int, nargs="+", default=[5], help="fed.stage1_steps values")
    ap.add_argument("--label-skew", type=float, default=0.1, help="Dirichlet alpha of the sweep (strong skew)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2, help="seeds run in parallel processes")
    ap.add_argument("--set", nargs="*", default=list(HEADLINE_BUDGET), metavar="KEY=VALUE",
                    help=f"config overrides (default: the headline budget {' '.join(HEADLINE_BUDGET)})")
    ap.add_argument("--out", required=True, help="folder for the runs and tuning.md")
    args = ap.parse_args(argv)
    try:
        pairs = dict(kv.split("=", 1) for kv in args.set)
    except ValueError:
        ap.error(f"--set takes KEY=VALUE items, got {args.set}")
    try:
        base = Experiment.default().override({**pairs, "fed.eval_split": "val"})
        for s1 in args.stage1:
            if not 1 <= s1 < base.train.local_steps:
                raise ValueError(f"--stage1 {s1}: needs 1 <= stage1_steps < train.local_steps "
                                  f"({base.train.local_steps}) so that stage 2 has steps")
        for lam in args.lambdas:
            base.override({"fed.bind_lambda": lam})
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    results: list[tuple[str, list[dict]]] = []
    fedavg = run_compare(base, out / "fedavg", ["fedavg"], [args.label_skew], args.seeds, jobs=args.jobs,
                         progress=False)
    results.append(("FedAvg", fedavg.rows))
    for s1 in args.stage1:
        for lam in args.lambdas:
            cfg = base.override({"fed.bind_lambda": lam, "fed.stage1_steps": s1})
            res = run_compare(cfg, out / f"fedaid_lambda-{lam:g}_stage1-{s1}", ["fedaid"], [args.label_skew],
                              args.seeds, jobs=args.jobs, progress=False)
            results.append((f"FedAID λ_bind={lam:g}, stage 1 = {s1} of {cfg.train.local_steps} steps", res.rows))
            print(f"done: {results[-1][0]}  score {np.mean([score(r) for r in res.rows]):.3f}", flush=True)
    table = tuning_table(results)
    header = (f"Validation split, α = {args.label_skew:g}, seeds {' '.join(map(str, args.seeds))}, "
              f"budget {' '.join(args.set)}; score = semantic P@5 (mean over seeds).\n"
              f"Command: python tools/tune_fedaid.py {' '.join(argv if argv is not None else sys.argv[1:])}\n\n")
    (out / "tuning.md").write_text(header + table)
    print(header + table)
    return 0


def tuning_table(results: list[tuple[str, list[dict]]]) -> str:
    """Markdown: one line per setting, best score first, metrics as mean over seeds."""
    lines = []
    for name, rows in results:
        line = {"setting": name, "score": np.mean([score(r) for r in rows])}
        lines.append(line | {m: np.mean([float(r[m]) for r in rows]) for m in METRICS})
    lines.sort(key=lambda line: -line["score"])
    return markdown_table([{k: v if k == "setting" else f"{v:.3f}" for k, v in line.items()} for line in lines])


if __name__ == "__main__":
    raise SystemExit(main())
