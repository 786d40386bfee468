"""The live curves' starting point (round 0): the model every run starts from, scored before any training.

Every algorithm of one Train starts from the same weights θ0 (same seed, same pretrained towers) and is
scored on the same held-out pairs, so one evaluation serves all of them: the round-1 points are then read
against where training began. It is what each round reports, made by the same engine code: the held-out
ℓ_clip of each client (FedAID's binding term is exactly 0 at its anchor θ0, FedProx's proximal term is not
part of the score), the data shares p as the client weights (FedAID's DRO weights start there), and
`evaluate`'s metrics. Computing it takes an evaluation (≈ 0.8 s for the class config), so a student who
presses Train sees a first point well before round 1 has trained. It never enters a run's `History`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import Experiment
from ..federated import build_federation, prepare_server
from ..protocol import StateDict, clone_state
from ..registry import make_algorithm
from .preparation import PreparedData

START_LABEL = "start (round 0)"
"""Its name on the curves: the model before any federated round."""


@dataclass
class StartPoint:
    """Round 0: a record shaped like a round's (`round` 0) and the weights θ0 (for the distance to the ideal)."""

    record: dict[str, Any]
    state: StateDict


def start_point(cfg: Experiment, data: PreparedData, device: torch.device, reference: Any = None) -> StartPoint:
    """Score the model `cfg`'s runs start from on `data` (with the ideal's `reference` when it is there)."""
    # FedAvg's score is the plain held-out ℓ_clip that every algorithm's score equals at θ0
    base = cfg.override({"fed.algorithm": "fedavg"})
    server = prepare_server(base, hospitals=data.hospitals, evalset=data.evalset, device=device)
    algo = make_algorithm(base, data.hospitals.num_sites)
    fed = build_federation(base, data.hospitals)
    state = clone_state(server.runtime.model)
    memory = algo.init_memory(state, [len(t) for t in fed.train])
    payload = algo.broadcast(state, memory)
    names = list(fed.site_names)
    scores = {names[k]: float(algo.client_score(server.runtime, payload, fed.holdout[k])) for k in range(len(names))}
    weights = algo.current_weights(memory)
    metrics = server.evaluator(reference)([state])
    record = {"round": 0, "client_losses": scores, "dro_weights": dict(zip(names, weights)), "metrics": metrics}
    return StartPoint(record, state)
