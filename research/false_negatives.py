"""How many in-batch negatives share the anchor's findings, per hospital, at IID and under label skew.

A CLIP batch treats every other report as a negative. A negative with exactly the anchor's finding set is a
false negative: the loss pushes apart two reports that say the same thing. Under label skew a hospital's
batches are mostly a few finding sets, so this share grows; r19 (`bash research/r19.sh`) asks whether that is
how the skew biases alignment. Pure data: no training, a few seconds.

    python research/false_negatives.py [--skews inf 0.1 0.03]
"""
import argparse

import numpy as np

from fedaid_lite.config import Experiment
from fedaid_lite.data import make_hospitals


def same_set_share(labels: np.ndarray) -> float:
    """Probability that a uniformly drawn other case of this set has exactly the anchor's finding set."""
    _, codes, counts = np.unique(labels != 0, axis=0, return_inverse=True, return_counts=True)
    n = len(labels)
    per_case = (counts[codes.reshape(-1)] - 1) / max(n - 1, 1)
    return float(per_case.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skews", nargs="+", default=["inf", "0.1", "0.03"])
    args = ap.parse_args()
    print("label_skew | same-finding-set share of in-batch negatives, per hospital (training split) | mean "
          "| pooled (the ideal's batches)")
    for skew in args.skews:
        cfg = Experiment.default().override({"data.label_skew": float(skew)})
        hospitals = make_hospitals(cfg.data)
        shares = [same_set_share(part.labels) for part in hospitals.train]
        pooled = same_set_share(hospitals.pooled("train").labels)
        print(f"{skew:>10} | {' '.join(f'{s:.2f}' for s in shares)} | {np.mean(shares):.2f} | {pooled:.2f}")


if __name__ == "__main__":
    main()
