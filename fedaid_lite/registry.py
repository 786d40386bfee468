"""The algorithm registry: `cfg.fed.algorithm` -> its `Algorithm` class (kept apart so no algorithm module imports another's)."""

from __future__ import annotations

from .algorithms import MOON, Algorithm, Centralized, FedAvg, FedProx, LocalOnly
from .config import Experiment
from .fedaid import FedAID

CLASSES: dict[str, type[Algorithm]] = {"centralized": Centralized, "local": LocalOnly, "fedavg": FedAvg,
                                       "fedprox": FedProx, "moon": MOON, "fedaid": FedAID}
"""Every algorithm by its config name (the names and their order: `names.ALGORITHMS`)."""


def make_algorithm(cfg: Experiment, num_clients: int) -> Algorithm:
    """The `Algorithm` named by `cfg.fed.algorithm`, for `num_clients` clients."""
    return CLASSES[cfg.fed.algorithm](cfg, num_clients)
