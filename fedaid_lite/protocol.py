"""The wire protocol shared by every engine: stages, client updates, the client runtime, state-dict math.

See `algorithms.py` for how an engine drives an `Algorithm` through it.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .config import Experiment
from .data.tensors import Batch
from .model import DualEncoder
from .train import Objective

StateDict = dict[str, Tensor]
Memory = dict[str, Any]


class StopRequested(Exception):
    """Raised inside a local step when the runtime's stop event is set; the engine discards the round."""


@dataclass(frozen=True)
class Stage:
    """One client round-trip within a round: `steps` local steps training `trainable` parameters."""

    name: str
    index: int
    steps: int
    trainable: str = "all"        # "all" | "alignment" (encoders frozen)


@dataclass
class ClientUpdate:
    """What a client sends back after one stage."""

    client_id: int
    state: StateDict               # the trained model (a copy; safe to keep)
    num_examples: int              # n_k: training pairs on the client
    loss: float                    # mean training objective over the stage's steps
    logs: dict[str, float] = field(default_factory=dict)
    client_state: StateDict | None = None   # per-client memory kept *on the client* (MOON, LocalOnly)


class ClientRuntime:
    """The modules one client reuses across calls: the model it trains in place and frozen copies."""

    def __init__(self, model: DualEncoder, device: torch.device, cfg: Experiment,
                 stop: threading.Event | None = None) -> None:
        self.model, self.device, self.cfg, self.stop = model.to(device), device, cfg, stop
        self._frozen: dict[str, DualEncoder] = {}
        self._loaded: dict[str, StateDict] = {}

    def frozen(self, role: str, state: StateDict) -> DualEncoder:
        """A no-grad eval-mode model holding `state`, reused per `role` ("anchor", "global", "previous")."""
        model = self._frozen.get(role)
        if model is None:
            model = copy.deepcopy(self.model).requires_grad_(False)
            self._frozen[role] = model
        if self._loaded.get(role) is not state:          # skip reloading the same dict (e.g. K clients)
            model.load_state_dict(state)
            self._loaded[role] = state
        return model.eval()

    def guard(self, objective: Objective) -> Objective:
        """`objective` that first checks the stop event, so a run stops at the next optimizer step."""
        if self.stop is None:
            return objective

        def guarded(model: DualEncoder, batch: Batch) -> tuple[Tensor, dict[str, float]]:
            if self.stop.is_set():
                raise StopRequested
            return objective(model, batch)
        return guarded


def batch_seed(seed: int, server_round: int, client_id: int, stage_index: int) -> int:
    """A 63-bit seed for client k's batches in round r, stage s: a pure function, so resume is exact."""
    words = np.random.SeedSequence([seed, server_round, client_id, stage_index]).generate_state(2, np.uint32)
    return int((int(words[0]) << 31) ^ int(words[1]))


def clone_state(model: torch.nn.Module) -> StateDict:
    """A detached copy of `model.state_dict()` (the model is trained in place and reused)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def weighted_average(states: Sequence[Mapping[str, Tensor]], weights: Sequence[float]) -> StateDict:
    """Σ_k w_k θ_k for every floating entry (accumulated in float64, so identical states come back exactly)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(states) == 0 or len(states) != len(w):
        raise ValueError(f"weighted_average got {len(states)} states and {len(w)} weights")
    w = w / w.sum()
    out: StateDict = {}
    for key, first in states[0].items():
        if not torch.is_floating_point(first):
            out[key] = first.clone()                      # integer buffers (counters, ids) are not averaged
            continue
        acc = first.to(torch.float64) * float(w[0])
        for state, wk in zip(states[1:], w[1:]):
            acc.add_(state[key].to(torch.float64), alpha=float(wk))
        out[key] = acc.to(first.dtype)
    return out


def all_finite(state: Mapping[str, Tensor]) -> bool:
    """True when every floating entry of `state` is free of NaN and inf."""
    return all(bool(torch.isfinite(v).all()) for v in state.values() if torch.is_floating_point(v))
