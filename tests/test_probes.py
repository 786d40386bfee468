"""Linear probe and site probe: the solver matches scikit-learn, the subsets and accuracies are right."""

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from fedaid_lite.probes import (chance_accuracy, fit_logistic, linear_probe_auroc, probe_subset,
                                site_probe_accuracy)


def test_newton_solver_matches_sklearn_logistic_regression():
    # Our fast solver must minimise exactly sklearn's LogisticRegression(C=1) objective.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = (x @ rng.normal(size=(6, 3)) + rng.normal(size=(300, 3)) > 0.2).astype(float)
    coef, intercept = fit_logistic(x, y, c=1.0)
    for j in range(3):
        ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=2000).fit(x, y[:, j])
        assert np.allclose(coef[j], ref.coef_[0], atol=1e-5)
        assert intercept[j] == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_solver_survives_separable_data():
    # Perfectly separable data has no MLE; the L2 penalty keeps the solution finite.
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    coef, intercept = fit_logistic(x, np.array([[0.0], [0.0], [1.0], [1.0]]))
    ref = LogisticRegression(C=1.0, tol=1e-10).fit(x, [0, 0, 1, 1])
    assert np.isfinite(coef).all() and coef[0, 0] == pytest.approx(ref.coef_[0, 0], abs=1e-5)


def test_probe_subset_is_seeded_sized_and_covers_every_finding():
    # 1 % of 500 rows = 5 rows, plus forced positives so every finding with a positive can be fitted.
    rng = np.random.default_rng(0)
    labels = (rng.random((500, 4)) < [0.5, 0.1, 0.02, 0.0]).astype(int)
    idx = probe_subset(labels, 0.01, np.random.default_rng(1))
    assert len(idx) == 5 and len(set(idx)) == 5
    assert all(labels[idx, j].any() for j in range(3))
    assert np.array_equal(idx, probe_subset(labels, 0.01, np.random.default_rng(1)))
    assert np.array_equal(probe_subset(labels, 1.0, rng), np.arange(500))


def test_linear_probe_auroc_separable_vs_random():
    # A feature that encodes the label gives AUROC 1; pure noise gives about 0.5.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (400, 2))
    x = np.hstack([y * 2.0 - 1 + rng.normal(0, 0.1, y.shape), rng.normal(size=(400, 3))])
    assert linear_probe_auroc(x[:200], y[:200], x[200:], y[200:], 1.0) == 1.0
    noise = rng.normal(size=(400, 5))
    assert abs(linear_probe_auroc(noise[:200], y[:200], noise[200:], y[200:], 1.0) - 0.5) < 0.1


def test_site_probe_accuracy_and_chance():
    # Embeddings that encode the site are probed perfectly; identical ones leave only chance.
    sites = np.repeat([0, 1, 2], 10)
    emb = np.eye(3)[sites] + np.random.default_rng(0).normal(0, 0.01, (30, 3))
    assert site_probe_accuracy(emb, sites) == 1.0
    assert chance_accuracy(np.array([0, 0, 0, 1])) == 0.75
    assert math.isnan(site_probe_accuracy(emb, np.zeros(30)))
