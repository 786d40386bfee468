"""r22: FedAID, FedProx and MOON against FedAvg at alpha 0.1 and IID, paired over validation seeds 0-3.

For each method: its gain over FedAvg at alpha 0.1, at IID, and the difference of the two (the part of the
gain the skew adds), mean and 95 % t-interval over seeds; semantic P@5 and zero-shot AUROC.

    python research/baseline_pairs.py > research/r22_baselines/pairs.txt
"""
import csv
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).parent
# name -> [(grid, variant in that grid)]: the same setting (batch 64, defaults) gathered from earlier grids
SOURCES = {
    "avg-0.1": [("r15_ssl", "avg-0.1-sup"), ("r20_b32_seeds23", "avg-0.1-b64")],
    "avg-iid": [("r15_ssl", "avg-iid-sup"), ("r20_b32_seeds23", "avg-iid-b64")],
    "aid-0.1": [("r15_ssl", "aid-0.1-sup"), ("r22_fedaid_seeds23", "aid-0.1")],
    "aid-iid": [("r18_anchor", "aid-iid-authors"), ("r22_fedaid_seeds23", "aid-iid")],
    **{f"{m}-{s}": [("r22_baselines", f"{m}-{s}")] for m in ("prox", "moon") for s in ("0.1", "iid")},
    "prox-mu0.1-0.1": [("r22_baselines", "prox-0.1-mu0.1")],
    "prox-mu0.1-iid": [("r22_baselines", "prox-iid-mu0.1")],
}
SEEDS = (0, 1, 2, 3)


def load(metric: str) -> dict[str, dict[int, float]]:
    out = {}
    for name, sources in SOURCES.items():
        values = {}
        for grid, variant in sources:
            for row in csv.DictReader(open(HERE / grid / "results.csv")):
                if row["variant"] == variant and int(row["seed"]) in SEEDS:
                    values[int(row["seed"])] = float(row[metric])
        out[name] = values
    return out


def interval(x: list[float]) -> str:
    x = np.asarray(x)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{x.mean():+.3f} [{x.mean() - half:+.3f}, {x.mean() + half:+.3f}]"


def main() -> None:
    for metric in ("sem_p5", "zeroshot_auroc"):
        v = load(metric)
        print(f"## {metric} (validation, seeds {list(SEEDS)})")
        print("| method | mean α=0.1 | mean IID | − FedAvg at α=0.1 | − FedAvg at IID | gain at α=0.1 minus at IID |")
        print("|---|---|---|---|---|---|")
        cost = [v["avg-iid"][s] - v["avg-0.1"][s] for s in SEEDS]
        print(f"| FedAvg | {np.mean([v['avg-0.1'][s] for s in SEEDS]):.3f} | "
              f"{np.mean([v['avg-iid'][s] for s in SEEDS]):.3f} | skew cost (IID − α=0.1) {interval(cost)} | | |")
        for method, label in (("aid", "FedAID"), ("prox", "FedProx μ 0.01"), ("prox-mu0.1", "FedProx μ 0.1"),
                              ("moon", "MOON")):
            a, i = v[f"{method}-0.1"], v[f"{method}-iid"]
            if set(a) != set(SEEDS) or set(i) != set(SEEDS):
                print(f"| {label} | missing seeds ({sorted(a)}, {sorted(i)}) | | | | |")
                continue
            ga = [a[s] - v["avg-0.1"][s] for s in SEEDS]
            gi = [i[s] - v["avg-iid"][s] for s in SEEDS]
            print(f"| {label} | {np.mean(list(a.values())):.3f} | {np.mean(list(i.values())):.3f} | {interval(ga)} | "
                  f"{interval(gi)} | {interval([x - y for x, y in zip(ga, gi)])} |")
        print()


if __name__ == "__main__":
    main()
