"""r19-r21: batch 32 vs 64, paired over the eight validation seeds that ran both (seeds 0-7).

Reads the grids' results.csv files (r15's shipped-tower block is batch 64 on seeds 0-1) and prints, per
metric, the skew's cost to FedAvg (IID - alpha 0.1) at each batch size and FedAID - FedAvg at alpha 0.1 and
batch 32: mean and a 95 % t-interval over seeds, then each seed.

    python research/batch_pairs.py > research/r21_b32_seeds4_7/pairs.txt
"""
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).parent
GRIDS = ("r15_ssl", "r19_batch", "r20_b32", "r20_b32_seeds23", "r21_b32_seeds4_7")


def load() -> dict:
    runs = defaultdict(dict)   # variant -> seed -> row
    for grid in GRIDS:
        for row in csv.DictReader(open(HERE / grid / "results.csv")):
            name = row["variant"]
            if grid == "r15_ssl":   # its shipped-tower block is the default, batch 64
                if not name.endswith("-sup"):
                    continue
                name = name.replace("-sup", "-b64")
            runs[name][int(row["seed"])] = row
    return runs


def paired(runs: dict, a: str, b: str, metric: str) -> str:
    seeds = sorted(set(runs[a]) & set(runs[b]))
    x = np.array([float(runs[a][s][metric]) - float(runs[b][s][metric]) for s in seeds])
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    each = " ".join(f"{v:+.3f}" for v in x)
    return f"{a} - {b}: {x.mean():+.3f} [{x.mean() - half:+.3f}, {x.mean() + half:+.3f}] over seeds {seeds}: {each}"


def main() -> None:
    runs = load()
    for metric in ("sem_p5", "zeroshot_auroc"):
        print(f"## {metric}")
        for a, b in (("avg-iid-b32", "avg-0.1-b32"), ("avg-iid-b64", "avg-0.1-b64"), ("aid-0.1-b32", "avg-0.1-b32")):
            print(paired(runs, a, b, metric))
        for name in ("avg-iid-b32", "avg-0.1-b32", "aid-0.1-b32", "avg-iid-b64", "avg-0.1-b64"):
            values = [float(r[metric]) for r in runs[name].values()]
            print(f"{name}: {np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} (n={len(values)})")


if __name__ == "__main__":
    main()
