"""Classifiers fitted on frozen embeddings: the linear probe (per finding) and the site-identity probe.

Both are L2-regularised logistic regressions with the objective of scikit-learn's
`LogisticRegression(C=PROBE_C)` (C·sum of log-losses + ½||w||², intercept unpenalised), solved here by
Newton's method for all outputs at once: `evaluate` fits ~30 of them every round, and the solver
below is about 20x faster than fitting them one by one with lbfgs. A test checks it against sklearn.

The solver pins numpy's BLAS to one thread: its matrices are small, and with torch's threads in the
same process two spinning thread pools on two cores made it ~100x slower (measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from .metrics import auroc, macro

PROBE_C = 1.0
"""Inverse L2 strength of every probe: fixed (no tuning), so that only the embeddings change between runs."""


@dataclass(frozen=True)
class LinearProbe:
    """F independent logistic regressions on D features; `fitted[j]` is False where a class was missing."""

    coef: np.ndarray       # (F, D)
    intercept: np.ndarray  # (F,)
    fitted: np.ndarray     # (F,) bool

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, F) logits."""
        return np.asarray(x, np.float64) @ self.coef.T + self.intercept


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = PROBE_C, max_iter: int = 50,
                 tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """(coef (F, D), intercept (F,)) minimising, per column j of y (N, F) in {0,1}, C·Σ logloss + ½||w_j||²."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _newton_logistic(x, y, c, max_iter, tol)


def _newton_logistic(x: np.ndarray, y: np.ndarray, c: float, max_iter: int,
                     tol: float) -> tuple[np.ndarray, np.ndarray]:
    x1 = np.hstack([np.asarray(x, np.float64), np.ones((len(x), 1))])         # (N, D+1): last column = bias
    y = np.asarray(y, np.float64)
    n_out, dim = y.shape[1], x1.shape[1]
    reg = np.full(dim, 1.0 / c)
    reg[-1] = 0.0                                                             # the intercept is not penalised
    w = np.zeros((n_out, dim))

    def objective(w: np.ndarray) -> np.ndarray:                               # (F,) (loss / C scale)
        z = x1 @ w.T
        return (np.logaddexp(0.0, z) - y * z).sum(0) + 0.5 * (reg * w * w).sum(1)

    f = objective(w)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x1 @ w.T)))                                # (N, F)
        grad = (x1.T @ (p - y)).T + reg * w                                   # (F, D+1)
        s = p * (1 - p)
        step = np.stack([np.linalg.solve(x1.T @ (x1 * s[:, j:j + 1]) + np.diag(reg + 1e-10), grad[j])
                         for j in range(n_out)])                              # (F, D+1) Newton directions
        t = np.ones(n_out)
        for _ in range(30):  # halve each output's step until its objective descends
            f_new = objective(w - t[:, None] * step)
            worse = f_new > f + 1e-12
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        w, f = w - t[:, None] * step, np.minimum(f, f_new)
        if np.max(np.abs(t[:, None] * step)) < tol:
            break
    return w[:, :-1], w[:, -1]


def probe_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices: ceil(fraction·N) rows, seeded, with at least one positive of every finding present.

    "Stratified-ish": the forced positives let a 1 % probe fit every finding that has any positive;
    the rest are drawn uniformly. fraction >= 1 returns every row.
    """
    n = len(labels)
    if fraction >= 1:
        return np.arange(n)
    chosen: list[int] = []
    for j in range(labels.shape[1]):
        pos = np.flatnonzero(labels[:, j] > 0)
        if len(pos) and not (labels[chosen, j] > 0).any():
            chosen.append(int(rng.choice(pos)))
    size = max(math.ceil(fraction * n), len(chosen))
    rest = np.setdiff1d(np.arange(n), chosen)
    extra = rng.choice(rest, size=min(size - len(chosen), len(rest)), replace=False)
    return np.sort(np.concatenate([np.array(chosen, dtype=np.int64), extra.astype(np.int64)]))


def fit_linear_probes(train_x: np.ndarray, train_y: np.ndarray, fraction: float, seed: int) -> LinearProbe:
    """One logistic regression per finding (label column) on a seeded `fraction` of the rows."""
    idx = probe_subset(train_y, fraction, np.random.default_rng(seed))
    x, y = np.asarray(train_x)[idx], (np.asarray(train_y)[idx] > 0).astype(np.float64)
    coef, intercept = fit_logistic(x, y)
    return LinearProbe(coef, intercept, fitted=y.min(0) != y.max(0))        # both classes needed to mean anything


def probe_auroc(probe: LinearProbe, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Macro AUROC over findings that were fitted and have both classes in the test set (nan if none)."""
    scores = probe.decision_function(test_x)
    return macro({str(j): auroc(test_y[:, j], scores[:, j]) if probe.fitted[j] else float("nan")
                  for j in range(scores.shape[1])})


def linear_probe_auroc(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                       fraction: float = 1.0, seed: int = 0) -> float:
    """Macro AUROC of per-finding linear probes trained on `fraction` of the labelled training rows."""
    return probe_auroc(fit_linear_probes(train_x, train_y, fraction, seed), test_x, test_y)


def site_probe_accuracy(emb: np.ndarray, sites: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated accuracy of a one-vs-rest logistic regression predicting the site from embeddings.

    High = the embedding leaks scanner/site identity; compare with `chance_accuracy`. nan with fewer
    than two sites or a site with a single case; folds shrink to the smallest site's size.
    """
    emb, sites = np.asarray(emb, np.float64), np.asarray(sites)
    names, codes, counts = np.unique(sites, return_inverse=True, return_counts=True)
    if len(names) < 2 or counts.min() < 2:
        return float("nan")
    onehot = np.eye(len(names))[codes]                                        # (N, K)
    split = StratifiedKFold(n_splits=min(folds, int(counts.min())), shuffle=True, random_state=seed)
    correct = 0
    for train, test in split.split(emb, codes):
        coef, intercept = fit_logistic(emb[train], onehot[train])
        correct += int(((emb[test] @ coef.T + intercept).argmax(1) == codes[test]).sum())
    return correct / len(sites)


def chance_accuracy(sites: np.ndarray) -> float:
    """Accuracy of always guessing the most common site."""
    _, counts = np.unique(np.asarray(sites), return_counts=True)
    return float(counts.max() / counts.sum()) if len(counts) else float("nan")
