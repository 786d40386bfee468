"""Seed statistics for the headline: paired differences with 95 % intervals, and the two claims as shares.

Runs that share a seed share the model initialisation, the batch order and (for the same data seed)
the hospitals, so differences are taken *within* a seed and summarised over seeds (a paired
t-interval): that removes the seed-to-seed spread that both methods share.

    heterogeneity harm  = (FedAvg_IID - FedAvg_skew) / (FedAvg_IID - chance)      share of the above-chance score lost
    recovery            = (FedAID_skew - FedAvg_skew) / (FedAvg_IID - FedAvg_skew) share of that loss won back
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Paired:
    """Mean over seeds of a per-seed difference, with its 95 % t-interval (nan with fewer than 2 seeds)."""

    mean: float
    lo: float
    hi: float
    n: int

    def excludes_zero(self) -> bool:
        """True when the whole interval is on one side of 0."""
        return bool(self.n >= 2 and (self.lo > 0 or self.hi < 0))

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}]"


def paired(diffs: Sequence[float]) -> Paired:
    """The mean of per-seed differences and its two-sided 95 % Student-t interval."""
    d = np.asarray([x for x in diffs if np.isfinite(x)], dtype=np.float64)
    n = len(d)
    if n == 0:
        return Paired(math.nan, math.nan, math.nan, 0)
    if n == 1:
        return Paired(float(d[0]), math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
    return Paired(float(d.mean()), float(d.mean() - half), float(d.mean() + half), n)


def by_seed(rows: Sequence[Mapping], algorithm: str, label_skew: str, metric: str) -> dict[int, float]:
    """{seed: value} of `metric` for one (algorithm, label skew) in `run_compare` rows."""
    return {int(r["seed"]): float(r[metric]) for r in rows
            if r["algorithm"] == algorithm and str(r["label_skew"]) == label_skew and r.get(metric) is not None}


def difference(rows: Sequence[Mapping], a: tuple[str, str], b: tuple[str, str], metric: str) -> Paired:
    """Paired (a - b) over the seeds both (algorithm, label skew) settings have."""
    x, y = by_seed(rows, *a, metric), by_seed(rows, *b, metric)
    return paired([x[s] - y[s] for s in sorted(set(x) & set(y))])


def ratio(num: Paired, den: Paired) -> float:
    """num.mean / den.mean (nan when the denominator is 0 or missing)."""
    return num.mean / den.mean if den.n and den.mean not in (0.0,) and np.isfinite(den.mean) else math.nan
