"""Distributionally robust client weights: an exponentiated-gradient step and a χ²-ball projection.

FedAID's server plays the max player of  min_θ max_{λ ∈ Λ_ρ} Σ_k λ_k L_k(θ)  over mixtures of the
client distributions, with the uncertainty set

    Λ_ρ = {λ ∈ simplex : ½ Σ_k (λ_k − p_k)² / p_k ≤ ρ},   p_k = n_k / Σ_j n_j.

Once per round it takes an exponentiated-gradient ascent step on the clients' losses and projects
back onto Λ_ρ (Euclidean projection), in the spirit of Namkoong & Duchi (2016). Pure numpy, float64.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_TOL = 1e-12


def chi2_divergence(weights: Sequence[float], p: Sequence[float]) -> float:
    """½ Σ_k (λ_k − p_k)² / p_k: the χ² distance of `weights` from the reference `p`."""
    lam, ref = np.asarray(weights, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return float(0.5 * np.sum((lam - ref) ** 2 / ref))


def in_ball(weights: Sequence[float], p: Sequence[float], rho: float, atol: float = 1e-9) -> bool:
    """True when `weights` is a distribution within χ² distance `rho` of `p` (up to `atol`)."""
    lam = np.asarray(weights, dtype=np.float64)
    return bool(np.all(lam >= -atol) and abs(lam.sum() - 1.0) <= atol
                and chi2_divergence(lam, p) <= rho + atol)


def exponentiated_gradient_step(weights: Sequence[float], losses: Sequence[float], eta: float) -> np.ndarray:
    """λ_k ∝ λ_k · exp(η L_k): one mirror-ascent step on the simplex (log-space, so large η·L is safe)."""
    lam = np.asarray(weights, dtype=np.float64)
    loss = np.asarray(losses, dtype=np.float64)
    if lam.shape != loss.shape:
        raise ValueError(f"got {lam.size} weights but {loss.size} losses")
    if not np.all(np.isfinite(loss)):
        raise ValueError(f"client losses must be finite for the DRO step, got {loss.tolist()}")
    with np.errstate(divide="ignore"):
        logits = np.log(lam) + eta * loss           # log 0 = -inf keeps a zero weight at zero
    logits -= logits.max()
    out = np.exp(logits)
    return out / out.sum()


def project_chi2_ball(weights: Sequence[float], p: Sequence[float], rho: float) -> np.ndarray:
    """Euclidean projection of `weights` onto {λ ∈ simplex : ½ Σ (λ_k − p_k)²/p_k ≤ ρ}.

    KKT: with multiplier μ ≥ 0 on the ball and ν on Σλ = 1,
    λ_k(μ, ν) = max(0, (w_k + μ + ν) · p_k / (p_k + μ)). For each μ the ν that makes Σλ = 1 is found
    exactly (piecewise-linear), and μ by bisection until the ball constraint holds (the divergence
    falls as μ grows; μ → ∞ gives λ = p). A feasible input is returned unchanged.
    """
    w = np.asarray(weights, dtype=np.float64)
    ref = np.asarray(p, dtype=np.float64)
    if w.shape != ref.shape or w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights and p must be 1-D of the same length, got {w.shape} and {ref.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(ref))):   # NaN compares False: it would slip through
        raise ValueError(f"weights and p must be finite, got weights {w.tolist()} and p {ref.tolist()}")
    if not np.isfinite(rho):
        raise ValueError(f"rho must be finite, got {rho}")
    if np.any(ref <= 0) or abs(ref.sum() - 1.0) > 1e-6:
        raise ValueError(f"p must be a strictly positive distribution, got {ref.tolist()}")
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho}")
    if in_ball(w, ref, rho, atol=1e-12):
        return w.copy()
    if rho == 0:
        return ref.copy()
    lam = _simplex_solution(w, ref, 0.0)
    if chi2_divergence(lam, ref) <= rho:
        return lam
    lo, hi = 0.0, 1.0
    while chi2_divergence(_simplex_solution(w, ref, hi), ref) > rho:
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            return ref.copy()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if chi2_divergence(_simplex_solution(w, ref, mid), ref) > rho:
            lo = mid
        else:
            hi = mid
        if hi - lo <= _TOL * max(1.0, hi):
            break
    return _simplex_solution(w, ref, hi)           # the feasible end of the bracket


def dro_update(weights: Sequence[float], losses: Sequence[float], p: Sequence[float],
               rho: float, eta: float) -> np.ndarray:
    """One server max-step: exponentiated-gradient ascent on `losses`, then projection onto Λ_ρ."""
    return project_chi2_ball(exponentiated_gradient_step(weights, losses, eta), p, rho)


def _simplex_solution(w: np.ndarray, p: np.ndarray, mu: float) -> np.ndarray:
    """λ(μ) = max(0, c_k (w_k + μ + ν)) with c_k = p_k/(p_k + μ) and ν chosen so that Σλ = 1."""
    c = p / (p + mu)
    order = np.argsort(-w, kind="stable")           # breakpoints ν = -(w_k + μ) come in this order
    ws, cs = w[order] + mu, c[order]
    cum_cw, cum_c = np.cumsum(cs * ws), np.cumsum(cs)
    nu = 0.0
    for j in range(w.size):                          # active set = the j+1 largest w
        nu = (1.0 - cum_cw[j]) / cum_c[j]
        if j + 1 == w.size or ws[j + 1] + nu <= 0:
            break
    lam = np.maximum(0.0, c * (w + mu + nu))
    return lam / lam.sum()
