"""The in-process federated engine: every client in one process, deterministic, resumable.

    history = run_federated(Experiment.tiny().override({"fed.algorithm": "fedaid"}))

It drives an `Algorithm` (algorithms.py) through its protocol: stages, client training, aggregation,
per-client scores and the end-of-round step, then evaluates, records, calls `on_round(record)` and
checkpoints. Each client's training data loses a held-out `fed.dro_holdout` share (for every
algorithm alike, so all train on the same pairs) on which the new global model is scored each round:
that score is FedAID's DRO signal and everyone's `client_losses`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .algorithms import (Algorithm, ClientRuntime, StateDict, StopRequested, all_finite, batch_seed, clone_state,
                         make_algorithm)
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import Experiment
from .data.tensors import PairedTensors, to_tensors
from .data.types import Hospitals, PairedData
from .history import History
from .model import save_model
from .pretrain import check_checkpoint, init_model
from .train import NonFiniteLossError, configure_threads, resolve_device

RUNTIME_ONLY = ("fed.rounds", "fed.eval_every", "train.device", "train.threads")
"""Config keys that may change when a run is resumed (they do not change the numbers of past rounds)."""


class TrainingDiverged(RuntimeError):
    """A loss or the weights became NaN/inf; `history` holds the rounds completed before it."""

    def __init__(self, message: str, history: History, server_round: int) -> None:
        super().__init__(message)
        self.history, self.server_round = history, server_round


@dataclass(frozen=True)
class Federation:
    """The clients' tensors, built once per run: training pairs, held-out pairs, and the pooled set."""

    site_names: tuple[str, ...]
    train: tuple[PairedTensors, ...]
    holdout: tuple[PairedTensors, ...]
    pooled: PairedTensors | None          # all clients' training pairs (Centralized only)


def split_holdout(n: int, share: float, seed: int, client_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, holdout_idx) of a client's n pairs; ≥ 2 held out when n ≥ 8, none below (scored on train)."""
    m = max(2, int(round(share * n))) if n >= 8 else 0
    perm = np.random.default_rng(np.random.SeedSequence([seed, client_id, 0x401D])).permutation(n)
    return np.sort(perm[m:]), np.sort(perm[:m])


def build_federation(cfg: Experiment, hospitals: Hospitals, pooled: bool = False) -> Federation:
    """Tokenise each client's training data once and split off its held-out share."""
    trains, holdouts, parts = [], [], []
    for k, data in enumerate(hospitals.train):
        if len(data) < 2:
            raise ValueError(f"site {hospitals.site_names[k]!r} has {len(data)} training pairs; "
                             "every client needs at least 2 (raise data.n_per_site)")
        train_t, hold_t = client_tensors(cfg, data, hospitals.tokenizer, k)
        trains.append(train_t)
        holdouts.append(hold_t)
        parts.append(data.subset(split_holdout(len(data), cfg.fed.dro_holdout, cfg.seed, k)[0]))
    # Pooled tokenised in one call, so `text_ids` (equal iff identical text) hold across sites.
    pooled_t = to_tensors(PairedData.concat(parts), hospitals.tokenizer, cfg.model.max_text_len) if pooled else None
    return Federation(tuple(hospitals.site_names), tuple(trains), tuple(holdouts), pooled_t)


def client_tensors(cfg: Experiment, data: PairedData, tokenizer: Any, client_id: int
                   ) -> tuple[PairedTensors, PairedTensors]:
    """(train, held-out) tensors of one client's training split: what a Flower client builds for itself."""
    train_idx, hold_idx = split_holdout(len(data), cfg.fed.dro_holdout, cfg.seed, client_id)
    train = to_tensors(data.subset(train_idx), tokenizer, cfg.model.max_text_len)
    hold = to_tensors(data.subset(hold_idx), tokenizer, cfg.model.max_text_len) if len(hold_idx) else train
    return train, hold


def sample_clients(cfg: Experiment, server_round: int, num_clients: int) -> list[int]:
    """The clients taking part in `server_round`: all, or a seeded `fed.fraction` share of them."""
    if cfg.fed.fraction >= 1.0:
        return list(range(num_clients))
    m = max(1, int(round(cfg.fed.fraction * num_clients)))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, server_round, 0x5A3F]))
    return sorted(int(k) for k in rng.choice(num_clients, size=m, replace=False))


def run_federated(cfg: Experiment, on_round: Callable[[dict[str, Any]], None] | None = None,
                  stop: threading.Event | None = None, checkpoint_dir: str | Path | None = None, *,
                  hospitals: Hospitals | None = None, reference: dict | None = None,
                  device: torch.device | str | None = None, evalset: Any = None,
                  progress: bool = False) -> History:
    """Train `cfg.fed.algorithm` for `cfg.fed.rounds` rounds; resume from `checkpoint_dir` if it holds one."""
    from .evaluate import evaluate, prepare_eval

    configure_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device) if device is None else torch.device(device)
    check_checkpoint(cfg.model)          # a missing or mismatched checkpoint fails before any data work
    if hospitals is None:
        from .data import load_hospitals  # the data package's front door; tests pass hospitals directly

        hospitals = load_hospitals(cfg.data)
    evalset = prepare_eval(hospitals, cfg.model, split=cfg.fed.eval_split) if evalset is None else evalset
    num_clients = hospitals.num_sites
    algo = make_algorithm(cfg, num_clients)
    fed = build_federation(cfg, hospitals, pooled=algo.pooled)
    model = init_model(cfg, hospitals.tokenizer, image_size=hospitals.train[0].images.shape[-1])
    runtime = ClientRuntime(model, device, cfg, stop)

    ckpt = load_checkpoint(checkpoint_dir, device) if checkpoint_dir is not None else None
    if ckpt is None:
        global_state = clone_state(model)
        memory = algo.init_memory(global_state, [len(t) for t in fed.train])
        client_states: dict[int, StateDict] = {}
        history = History(config=cfg.to_dict(), site_names=list(fed.site_names))
    else:
        _check_resumable(cfg, ckpt, checkpoint_dir)
        global_state, memory, client_states, history = ckpt.global_state, ckpt.memory, ckpt.client_states, ckpt.history
        history.config = cfg.to_dict()
    elapsed0 = float(history.records[-1].get("time") or 0.0) if history.records else 0.0
    started = time.perf_counter()
    bar = _progress_bar(progress, cfg.fed.rounds, history.last_round, algo.name)
    names = fed.site_names
    for server_round in range(history.last_round + 1, cfg.fed.rounds + 1):
        if stop is not None and stop.is_set():
            break
        round_start = time.perf_counter()
        sampled = sample_clients(cfg, server_round, num_clients)
        try:
            new_state, new_memory, new_clients, train_losses = _train_round(
                algo, runtime, fed, server_round, sampled, global_state, memory, client_states)
            payload = algo.broadcast(new_state, new_memory)
            scores = {k: algo.client_score(runtime, payload, fed.holdout[k], new_clients.get(k)) for k in sampled}
            bad = [names[k] for k, s in scores.items() if not np.isfinite(s)]
            if bad or not all_finite(new_state):
                raise NonFiniteLossError(0, 0, float("nan"), what=f"global model (held-out loss at {bad or 'weights'})")
            new_memory = algo.end_round(server_round, new_state, scores, new_memory)
        except StopRequested:
            break
        except NonFiniteLossError as err:
            finish_run(checkpoint_dir, runtime, algo, global_state, client_states)
            raise TrainingDiverged(
                f"training diverged in round {server_round} ({err}); kept the {server_round - 1} completed "
                f"round(s){' in ' + str(checkpoint_dir) if checkpoint_dir else ''}. Lower train.lr "
                f"(now {cfg.train.lr}) or set train.grad_clip", history, server_round) from None
        global_state, memory, client_states = new_state, new_memory, new_clients
        metrics: dict[str, float] = {}
        if server_round % cfg.fed.eval_every == 0 or server_round == cfg.fed.rounds:
            metrics = evaluate_states(evaluate, runtime, algo.eval_states(global_state, client_states), evalset,
                                device, reference)
        weights = algo.current_weights(memory)
        record = {"round": server_round, "time": elapsed0 + time.perf_counter() - started,
                  "round_seconds": time.perf_counter() - round_start,
                  "clients": [names[k] for k in sampled],
                  "client_losses": {names[k]: scores[k] for k in sampled},
                  "train_losses": train_losses,
                  "dro_weights": {names[k]: weights[k] for k in range(num_clients)},
                  "metrics": metrics}
        history.append(record)
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, Checkpoint(server_round, global_state, memory, client_states, history))
        if bar is not None:
            if "sem_p5" in metrics:   # the bar stays when the cell ends: one line per run with its last score
                bar.set_postfix_str(f"semantic P@5 {metrics['sem_p5']:.3f}", refresh=False)
            bar.update(1)
        if on_round is not None:
            on_round(history.records[-1])
    if bar is not None:
        bar.close()
    finish_run(checkpoint_dir, runtime, algo, global_state, client_states)
    return history


def _train_round(algo: Algorithm, runtime: ClientRuntime, fed: Federation, server_round: int, sampled: list[int],
                 global_state: StateDict, memory: dict, client_states: dict[int, StateDict]
                 ) -> tuple[StateDict, dict, dict[int, StateDict], dict[str, float]]:
    """All stages of one round; returns new (global state, memory, client states, last-stage train losses)."""
    client_states = dict(client_states)
    clients = [(0, fed.pooled)] if algo.pooled else [(k, fed.train[k]) for k in sampled]
    losses: dict[str, float] = {}
    for stage in algo.stages(server_round):
        payload = algo.broadcast(global_state, memory)
        updates = []
        for k, data in clients:
            seed = batch_seed(runtime.cfg.seed, server_round, k, stage.index)
            update = algo.client_train(stage, runtime, payload, data, client_id=k, seed=seed,
                                       client_state=client_states.get(k))
            if update.client_state is not None:
                client_states[k] = update.client_state
            updates.append(update)
            losses["pooled" if algo.pooled else fed.site_names[k]] = update.loss
        global_state, memory = algo.aggregate(stage, global_state, updates, memory)
    return global_state, memory, client_states, losses


def evaluate_states(evaluate: Callable, runtime: ClientRuntime, states: list[StateDict], evalset: Any,
                    device: torch.device, reference: dict | None) -> dict[str, float]:
    """Metrics of each state (reusing one eval model), averaged key by key when there are several."""
    runs = [evaluate(runtime.frozen("eval", s), evalset, device, reference=reference) for s in states]
    if len(runs) == 1:
        return dict(runs[0])
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def finish_run(checkpoint_dir: str | Path | None, runtime: ClientRuntime, algo: Algorithm,
               global_state: StateDict, client_states: dict[int, StateDict]) -> None:
    """Save the final model to `checkpoint_dir/model` (LocalOnly: also each site's model under local_models/)."""
    if checkpoint_dir is None:
        return
    states = algo.eval_states(global_state, client_states)
    save_model(runtime.frozen("eval", states[0]), Path(checkpoint_dir) / "model")
    if algo.name == "local":
        for k, state in sorted(client_states.items()):
            save_model(runtime.frozen("eval", state), Path(checkpoint_dir) / "local_models" / f"client{k}")


def check_output_dir(cfg: Experiment, directory: str | Path) -> None:
    """Refuse `directory` when it holds a checkpoint of a different run; callers check before writing there."""
    ckpt = load_checkpoint(directory)
    if ckpt is not None:
        _check_resumable(cfg, ckpt, directory)


def _check_resumable(cfg: Experiment, ckpt: Checkpoint, directory: str | Path) -> None:
    old, new = _flat(ckpt.history.config), cfg.flat()
    changed = sorted(k for k in set(old) | set(new) if k not in RUNTIME_ONLY and old.get(k) != new.get(k))
    if changed:
        raise CheckpointError(f"{directory} holds a checkpoint of a different run (changed: {', '.join(changed)}); "
                              "use a new output folder, or delete this one to start over")


def _flat(config: dict) -> dict[str, Any]:
    try:
        return Experiment.from_dict(config).flat()
    except ValueError as err:
        raise CheckpointError(f"checkpoint config is not valid ({err}); delete the folder to start over") from None


def _progress_bar(enabled: bool, total: int, done: int, name: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=name, unit="round", leave=True)
