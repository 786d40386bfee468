"""Constraints between config keys, and between a config and this machine: one line naming the keys.

No single key's range can express these (`model.heads` must divide `model.hidden_size`; the split
fractions must leave a training split; FedAID's stage 1 must leave steps for stage 2). `Experiment`
checks `cross_field_problem` on construction, so every entry point (CLI, papermill, dashboard, Flower)
refuses a bad combination the same way before any work starts. Whether `train.device` exists depends on
the machine, not on the config: `device_problem`, called through `Experiment.check_runnable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:                      # config imports this module; the annotation only needs the name
    from .config import Experiment

MIN_TRAIN_CASES = 4
"""Each synthetic site must expect at least this many training cases under the split fractions."""


def cross_field_problem(cfg: Experiment) -> str | None:
    """The first constraint between keys that `cfg` breaks, as one line naming the keys; None if all hold."""
    d, m, t, f = cfg.data, cfg.model, cfg.train, cfg.fed
    if m.hidden_size % m.heads:
        return (f"model.heads={m.heads} must divide model.hidden_size={m.hidden_size} (each head gets "
                f"hidden_size / heads channels); choose heads from {_divisors(m.hidden_size)}")
    if m.logit_scale_init > m.logit_scale_max:
        return (f"model.logit_scale_init={m.logit_scale_init:g} is above model.logit_scale_max="
                f"{m.logit_scale_max:g} (it would be clamped at once); lower it or raise the maximum")
    train_share = 1.0 - d.val_fraction - d.test_fraction
    if train_share < 0.2:
        return (f"data.val_fraction={d.val_fraction:g} + data.test_fraction={d.test_fraction:g} leave "
                f"{max(train_share, 0):.0%} of patients for training; keep their sum at most 0.8")
    if not d.manifest and d.n_per_site * train_share < MIN_TRAIN_CASES:
        return (f"data.n_per_site={d.n_per_site} with data.val_fraction={d.val_fraction:g} and "
                f"data.test_fraction={d.test_fraction:g} leaves under {MIN_TRAIN_CASES} training cases per "
                "site; raise data.n_per_site or lower the fractions")
    if f.algorithm == "fedaid" and f.two_stage and f.stage1_steps >= t.local_steps:
        return (f"fed.stage1_steps={f.stage1_steps} must be below train.local_steps={t.local_steps} "
                "(stage 2 gets the remaining steps); lower it or raise train.local_steps")
    return None


def _divisors(n: int) -> str:
    return ", ".join(str(k) for k in range(1, min(n, 16) + 1) if n % k == 0)


def device_problem(device: str) -> str | None:
    """Why `train.device` cannot run on this machine (None when it can)."""
    # torch is imported here, not at the top: the config and `fedaid-lite --help` stay fast without it.
    import torch

    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "cuda" and not torch.cuda.is_available():
        return "train.device='cuda' but no CUDA GPU is visible; use train.device=auto or cpu"
    if device == "mps" and not has_mps:
        return "train.device='mps' but Apple MPS is not available; use train.device=auto or cpu"
    return None
