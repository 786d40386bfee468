"""The DRO max-step: exponentiated gradient on the simplex and the χ²-ball projection."""

import numpy as np
import pytest

from fedaid_lite.dro import (chi2_divergence, dro_update, exponentiated_gradient_step, in_ball,
                             project_chi2_ball)


def _random_cases(n: int = 200):
    rng = np.random.default_rng(0)
    for _ in range(n):
        k = int(rng.integers(2, 9))
        p = rng.dirichlet(np.ones(k))
        p = np.maximum(p, 0.02)
        p /= p.sum()
        w = rng.normal(size=k) * rng.choice([0.1, 1.0, 5.0])
        rho = float(rng.choice([0.0, 0.01, 0.1, 0.5, 1.0, 3.0]))
        yield w, p, rho


def test_projection_output_is_feasible():
    """Every projection lands in {λ ∈ simplex : ½Σ(λ−p)²/p ≤ ρ}; otherwise the DRO weights could leave the set."""
    for w, p, rho in _random_cases():
        lam = project_chi2_ball(w, p, rho)
        assert in_ball(lam, p, rho, atol=1e-9), (w, p, rho, lam)


def test_feasible_input_is_unchanged():
    """A λ already in the ball is its own projection; otherwise the server would move weights for no reason."""
    rng = np.random.default_rng(1)
    for _ in range(100):
        k = int(rng.integers(2, 8))
        p = rng.dirichlet(np.ones(k) * 5)
        lam = p + 0.3 * (rng.dirichlet(np.ones(k)) - p)
        rho = chi2_divergence(lam, p) + 1e-3
        np.testing.assert_array_equal(project_chi2_ball(lam, p, rho), lam)


def test_projection_is_the_nearest_feasible_point():
    """The result beats random feasible points in Euclidean distance; otherwise it is a projection in name only."""
    rng = np.random.default_rng(2)
    for w, p, rho in list(_random_cases(40)):
        lam = project_chi2_ball(w, p, rho)
        best = np.linalg.norm(lam - w)
        for _ in range(300):
            cand = p + rng.uniform(0, 1) * (rng.dirichlet(np.ones(len(p)) * 0.5) - p)
            if in_ball(cand, p, rho, atol=0.0):
                assert np.linalg.norm(cand - w) >= best - 1e-7


def test_weight_moves_toward_the_highest_loss():
    """The client with the highest loss gains weight and the lowest loses it; otherwise the step is not ascent."""
    p = np.full(5, 0.2)
    losses = np.array([1.0, 1.0, 3.0, 1.0, 0.5])
    lam = dro_update(p, losses, p, rho=1.0, eta=0.5)
    assert lam.argmax() == 2 and lam[2] > 0.2 and lam[4] < 0.2
    assert in_ball(lam, p, 1.0)


def test_one_hot_is_excluded_when_rho_is_small():
    """With K=5, p uniform and ρ=1, a one-hot λ (divergence 2) is projected back inside; otherwise one client could take over."""
    p = np.full(5, 0.2)
    onehot = np.eye(5)[0]
    assert chi2_divergence(onehot, p) == pytest.approx(2.0)
    lam = project_chi2_ball(onehot, p, rho=1.0)
    assert lam.max() < 1.0 and chi2_divergence(lam, p) == pytest.approx(1.0, abs=1e-9)
    huge = dro_update(p, [100.0, 0, 0, 0, 0], p, rho=1.0, eta=10.0)
    assert huge.max() < 1.0 and in_ball(huge, p, 1.0)


def test_rho_zero_returns_p_and_eg_is_stable():
    """ρ=0 pins λ to p, and huge η·L does not overflow; otherwise the no-DRO limit or large losses break."""
    p = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(project_chi2_ball([0.9, 0.1, 0.0], p, 0.0), p)
    step = exponentiated_gradient_step(p, [1e4, 0.0, 0.0], eta=10.0)
    assert np.all(np.isfinite(step)) and step[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite"):
        exponentiated_gradient_step(p, [np.nan, 0.0, 0.0], eta=1.0)
