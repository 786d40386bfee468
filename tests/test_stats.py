"""Seed statistics for the headline: paired differences and their 95 % intervals."""

import math

import numpy as np
from scipy import stats as sps

from fedaid_lite.stats import difference, paired, ratio


def test_paired_interval_is_the_student_t_interval_of_the_differences():
    # If this fails, the README's intervals are not the paired t-intervals they claim to be.
    d = [0.03, 0.01, 0.04, 0.02, -0.01]
    p = paired(d)
    half = sps.t.ppf(0.975, 4) * np.std(d, ddof=1) / math.sqrt(5)
    assert math.isclose(p.mean, np.mean(d)) and math.isclose(p.hi - p.mean, half) and math.isclose(p.mean - p.lo, half)
    assert p.excludes_zero() == (p.lo > 0)
    assert paired([0.1]).n == 1 and math.isnan(paired([0.1]).lo) and not paired([0.1]).excludes_zero()


def test_difference_pairs_runs_by_seed_not_by_order():
    # If this fails, a difference mixes seed 0 of one method with seed 1 of another (unpaired, wider noise).
    rows = [{"algorithm": "a", "label_skew": "0.1", "seed": 1, "m": 0.5},
            {"algorithm": "a", "label_skew": "0.1", "seed": 0, "m": 0.2},
            {"algorithm": "b", "label_skew": "0.1", "seed": 0, "m": 0.1},
            {"algorithm": "b", "label_skew": "0.1", "seed": 1, "m": 0.4},
            {"algorithm": "b", "label_skew": "0.1", "seed": 2, "m": 9.9}]     # no partner: left out
    d = difference(rows, ("a", "0.1"), ("b", "0.1"), "m")
    assert d.n == 2 and math.isclose(d.mean, 0.1) and math.isclose(d.lo, d.hi)    # both pairs differ by 0.1
    assert math.isclose(ratio(d, paired([0.2, 0.2])), 0.5) and math.isnan(ratio(d, paired([])))
