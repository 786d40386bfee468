"""The round bookkeeping every engine shares: one place builds the record, checks divergence, applies the
eval cadence, the checkpoint and the `on_round` call.

The in-process engine (`federated.py`) and the Flower strategy (`flower/strategy.py`) differ only in how
client work travels (a function call or a message); after a round's stages and scores both hand the
result to `RoundCore.finish_round`, so their records cannot drift apart:

    core = RoundCore(cfg, algo, site_names, history, evaluate=..., checkpoint_dir=..., on_round=...)
    for r in core.rounds():
        sampled = core.sample(r)
        ... stages (algo.aggregate), scores (algo.client_score) ...
        core.check(r, global_state, scores)             # NonFiniteLossError on NaN/inf
        memory = algo.end_round(r, global_state, scores, memory)
        core.finish_round(r, sampled, RoundState(global_state, memory, client_states), scores, train_losses)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .algorithms import Algorithm
from .checkpoint import Checkpoint, save_checkpoint
from .config import Experiment
from .history import History
from .protocol import Memory, StateDict, all_finite
from .train import NonFiniteLossError


class TrainingDiverged(RuntimeError):
    """A loss or the weights became NaN/inf; `history` holds the rounds completed before it."""

    def __init__(self, message: str, history: History, server_round: int) -> None:
        super().__init__(message)
        self.history, self.server_round = history, server_round


@dataclass(frozen=True)
class RoundState:
    """The server's state after a round: the global model, the algorithm's memory, the kept client models."""

    global_state: StateDict
    memory: Memory
    client_states: Mapping[int, StateDict] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainedState:
    """What `on_round` receives next to the record: the round's state and the model(s) it reports."""

    server_round: int
    state: RoundState
    eval_states: list[StateDict]   # global model, or LocalOnly's per-site models (metrics are averaged)

    @property
    def global_state(self) -> StateDict:
        """The round's global model (for LocalOnly: the untouched initial model)."""
        return self.state.global_state


Evaluate = Callable[[list[StateDict]], dict[str, float]]
OnRound = Callable[[dict[str, Any], TrainedState], None]


class RoundCore:
    """Sampling, divergence check, eval cadence, record, checkpoint and `on_round`, for any engine."""

    def __init__(self, cfg: Experiment, algo: Algorithm, site_names: Sequence[str], history: History, *,
                 evaluate: Evaluate | None = None, checkpoint_dir: str | Path | None = None,
                 on_round: OnRound | None = None) -> None:
        self.cfg, self.algo, self.names, self.history = cfg, algo, list(site_names), history
        self.evaluate, self.on_round = evaluate, on_round
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        # A resumed run's clock continues from the time its last record reached.
        self.elapsed0 = float(history.records[-1].get("time") or 0.0) if history.records else 0.0
        self.started = time.perf_counter()
        self.round_start = self.started

    def rounds(self, last: int | None = None) -> range:
        """The rounds still to run: after the history's last one, up to `last` (default `cfg.fed.rounds`)."""
        return range(self.history.last_round + 1, (self.cfg.fed.rounds if last is None else last) + 1)

    def sample(self, server_round: int) -> list[int]:
        """Start the round's clock and return the clients taking part (seeded; see `sample_clients`)."""
        self.round_start = time.perf_counter()
        return sample_clients(self.cfg, server_round, len(self.names))

    def check(self, server_round: int, global_state: StateDict, scores: Mapping[int, float]) -> None:
        """Raise `NonFiniteLossError` when a held-out score or the new global weights are NaN/inf."""
        bad = [self.names[k] for k, s in scores.items() if not np.isfinite(s)]
        if bad or not all_finite(global_state):
            raise NonFiniteLossError(0, 0, float("nan"), what=f"global model (held-out loss at {bad or 'weights'})")

    def diverged(self, server_round: int, err: Exception) -> TrainingDiverged:
        """The error a run raises when round `server_round` diverged: what was kept and what to change."""
        kept = f" in {self.checkpoint_dir}" if self.checkpoint_dir is not None else ""
        return TrainingDiverged(
            f"training diverged in round {server_round} ({err}); kept the {server_round - 1} completed "
            f"round(s){kept}. Lower train.lr (now {self.cfg.train.lr}) or set train.grad_clip",
            self.history, server_round)

    def due(self, server_round: int) -> bool:
        """True when round `server_round` is evaluated: every `fed.eval_every` rounds and always the last."""
        return server_round % self.cfg.fed.eval_every == 0 or server_round == self.cfg.fed.rounds

    def finish_round(self, server_round: int, sampled: Sequence[int], state: RoundState,
                     scores: Mapping[int, float], train_losses: Mapping[str, float],
                     failed: Mapping[int, str] | None = None) -> dict[str, Any]:
        """Evaluate if due, append the record, checkpoint, call `on_round`; returns the record.

        `failed` (client id -> why it dropped out) is given by an engine whose clients can fail (Flower):
        its record then also holds `failed_clients` and `errors`, empty when everyone answered.
        """
        trained = TrainedState(server_round, state, self.algo.eval_states(state.global_state, state.client_states))
        metrics: dict[str, float] = {}
        if self.evaluate is not None and self.due(server_round):
            metrics = dict(self.evaluate(trained.eval_states))
        weights = self.algo.current_weights(state.memory)
        now = time.perf_counter()
        names, dropped = self.names, dict(failed or {})
        record = {"round": server_round, "time": self.elapsed0 + now - self.started,
                  "round_seconds": now - self.round_start,
                  "clients": [names[k] for k in sampled if k not in dropped],
                  "client_losses": {names[k]: float(scores[k]) for k in sorted(scores)},
                  "train_losses": dict(train_losses),
                  "dro_weights": {names[k]: weights[k] for k in range(len(names))},
                  "metrics": metrics}
        if failed is not None:
            record["failed_clients"] = [names[k] for k in sorted(dropped)]
            record["errors"] = {names[k]: dropped[k] for k in sorted(dropped)}
        self.history.append(record)
        if self.checkpoint_dir is not None:
            save_checkpoint(self.checkpoint_dir, Checkpoint(server_round, state.global_state, dict(state.memory),
                                                            dict(state.client_states), self.history))
        if self.on_round is not None:
            self.on_round(self.history.records[-1], trained)
        return record


def sample_clients(cfg: Experiment, server_round: int, num_clients: int) -> list[int]:
    """The clients taking part in `server_round`: all, or a seeded `fed.fraction` share of them."""
    if cfg.fed.fraction >= 1.0:
        return list(range(num_clients))
    m = max(1, int(round(cfg.fed.fraction * num_clients)))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, server_round, 0x5A3F]))
    return sorted(int(k) for k in rng.choice(num_clients, size=m, replace=False))
