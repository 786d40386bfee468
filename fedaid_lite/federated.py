"""The in-process federated engine: every client in one process, deterministic, resumable.

    run = run_federated(Experiment.tiny().override({"fed.algorithm": "fedaid"}))
    run.records[-1]["metrics"], run.model        # a History, plus the trained model and state

It drives an `Algorithm` (algorithms.py) through its protocol: stages, client training, aggregation,
per-client scores and the end-of-round step; `rounds.RoundCore` (shared with the Flower strategy) then
evaluates, records, checkpoints and calls `on_round(record, trained)`. Each client's training data
loses a held-out `fed.dro_holdout` share (for every algorithm alike, so all train on the same pairs) on
which the new global model is scored each round: that score is FedAID's DRO signal and everyone's
`client_losses`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import evaluate as evaluation   # module, not function: benchmarks swap `evaluation.evaluate` for a no-op
from .algorithms import Algorithm
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint
from .config import Experiment
from .data import load_hospitals
from .data.tensors import PairedTensors, to_tensors
from .data.types import Hospitals, PairedData
from .evaluate import EvalEmbeddings, EvalSet, prepare_eval
from .history import History
from .model import DualEncoder, save_model
from .names import label
from .pretrain import check_checkpoint, init_model
from .protocol import ClientRuntime, StateDict, StopRequested, batch_seed, clone_state
from .registry import make_algorithm
from .rounds import Evaluate, OnRound, RoundCore, RoundState, TrainedState
from .train import NonFiniteLossError, configure_threads, resolve_device

RUNTIME_ONLY = ("fed.rounds", "fed.eval_every", "train.device", "train.threads")
"""Config keys that may change when a run is resumed (they do not change the numbers of past rounds)."""


@dataclass(eq=False)
class TrainedRun(History):
    """What `run_federated` returns: the run's `History`, plus the final state and the model it reports.

    `model` holds `trained.eval_states[0]` in eval mode (what `model/` on disk holds), so a caller can
    embed with it directly instead of reloading what was just trained.
    """

    trained: TrainedState | None = field(default=None, repr=False)
    model: DualEncoder | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Server:
    """What the server side of either engine sets up once: device, hospitals, eval set, model runtime."""

    cfg: Experiment
    device: torch.device
    hospitals: Hospitals
    evalset: Any                 # an EvalSet (benchmarks pass a stand-in when evaluation is switched off)
    runtime: ClientRuntime

    def evaluator(self, reference: EvalEmbeddings | None = None) -> Evaluate:
        """`states -> metrics`: each state evaluated (one reused eval model), averaged key by key."""
        return lambda states: evaluate_states(self.runtime, states, self.evalset, self.device, reference)


def prepare_server(cfg: Experiment, *, hospitals: Hospitals | None = None, evalset: Any = None,
                   device: torch.device | str | None = None, stop: threading.Event | None = None) -> Server:
    """Threads, device, hospitals (built from `cfg.data` unless given), eval set and the initial model."""
    configure_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device) if device is None else torch.device(device)
    check_checkpoint(cfg.model)          # a missing or mismatched checkpoint fails before any data work
    hospitals = load_hospitals(cfg.data) if hospitals is None else hospitals
    evalset = prepare_eval(hospitals, cfg.model, split=cfg.fed.eval_split) if evalset is None else evalset
    model = init_model(cfg, hospitals.tokenizer, image_size=hospitals.train[0].images.shape[-1])
    return Server(cfg, device, hospitals, evalset, ClientRuntime(model, device, cfg, stop))


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


def run_federated(cfg: Experiment, on_round: OnRound | None = None, stop: threading.Event | None = None,
                  checkpoint_dir: str | Path | None = None, *, hospitals: Hospitals | None = None,
                  reference: EvalEmbeddings | None = None, device: torch.device | str | None = None,
                  evalset: Any = None, progress: bool | str = False) -> TrainedRun:
    """Train `cfg.fed.algorithm` for `cfg.fed.rounds` rounds; resume from `checkpoint_dir` if it holds one.

    `progress`: True shows a progress bar named by the algorithm's display label; a string names it instead.
    """
    server = prepare_server(cfg, hospitals=hospitals, evalset=evalset, device=device, stop=stop)
    runtime, num_clients = server.runtime, server.hospitals.num_sites
    algo = make_algorithm(cfg, num_clients)
    fed = build_federation(cfg, server.hospitals, pooled=algo.pooled)
    ckpt = load_checkpoint(checkpoint_dir, server.device) if checkpoint_dir is not None else None
    if ckpt is None:
        global_state = clone_state(runtime.model)
        state = RoundState(global_state, algo.init_memory(global_state, [len(t) for t in fed.train]), {})
        history = History(config=cfg.to_dict(), site_names=list(fed.site_names))
    else:
        _check_resumable(cfg, ckpt, checkpoint_dir)
        state, history = RoundState(ckpt.global_state, ckpt.memory, ckpt.client_states), ckpt.history
        history.config = cfg.to_dict()
    core = RoundCore(cfg, algo, fed.site_names, history, evaluate=server.evaluator(reference),
                     checkpoint_dir=checkpoint_dir, on_round=on_round)
    desc = progress if isinstance(progress, str) else label(algo.name)
    bar = tqdm(total=cfg.fed.rounds, initial=history.last_round, desc=desc, unit="round",
               leave=True) if progress else None
    for server_round in core.rounds():
        if stop is not None and stop.is_set():
            break
        sampled = core.sample(server_round)
        try:
            new, train_losses = _train_round(algo, runtime, fed, server_round, sampled, state)
            payload = algo.broadcast(new.global_state, new.memory)
            scores = {k: algo.client_score(runtime, payload, fed.holdout[k], new.client_states.get(k))
                      for k in sampled}
            core.check(server_round, new.global_state, scores)
            memory = algo.end_round(server_round, new.global_state, scores, new.memory)
        except StopRequested:
            break
        except NonFiniteLossError as err:
            finish_run(checkpoint_dir, runtime, algo, state.global_state, state.client_states)
            raise core.diverged(server_round, err) from None
        state = RoundState(new.global_state, memory, new.client_states)
        core.finish_round(server_round, sampled, state, scores, train_losses)
        if bar is not None:
            metrics = history.records[-1]["metrics"]
            if "sem_p5" in metrics:   # the bar stays when the cell ends: one line per run with its last score
                bar.set_postfix_str(f"semantic P@5 {metrics['sem_p5']:.3f}", refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    model = finish_run(checkpoint_dir, runtime, algo, state.global_state, state.client_states)
    trained = TrainedState(history.last_round, state, algo.eval_states(state.global_state, state.client_states))
    return TrainedRun(config=history.config, site_names=history.site_names, records=history.records,
                      trained=trained, model=model)


def _train_round(algo: Algorithm, runtime: ClientRuntime, fed: Federation, server_round: int, sampled: list[int],
                 state: RoundState) -> tuple[RoundState, dict[str, float]]:
    """All stages of one round; returns the new (global state, memory, client states) and last-stage train losses."""
    global_state, memory, client_states = state.global_state, state.memory, dict(state.client_states)
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
    return RoundState(global_state, memory, client_states), losses


def evaluate_states(runtime: ClientRuntime, states: list[StateDict], evalset: EvalSet, device: torch.device,
                    reference: EvalEmbeddings | None) -> dict[str, float]:
    """Metrics of each state (reusing one eval model), averaged key by key when there are several."""
    runs = [evaluation.evaluate(runtime.frozen("eval", s), evalset, device, reference=reference) for s in states]
    if len(runs) == 1:
        return dict(runs[0])
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def finish_run(checkpoint_dir: str | Path | None, runtime: ClientRuntime, algo: Algorithm,
               global_state: StateDict, client_states: dict[int, StateDict]) -> DualEncoder:
    """The reported model (eval mode); saved to `checkpoint_dir/model` (LocalOnly: also each site's model)."""
    states = algo.eval_states(global_state, client_states)
    model = runtime.frozen("eval", states[0])
    if checkpoint_dir is not None:
        save_model(model, Path(checkpoint_dir) / "model")
        if algo.name == "local":
            for k, state in sorted(client_states.items()):
                save_model(runtime.frozen("eval", state), Path(checkpoint_dir) / "local_models" / f"client{k}")
            model = runtime.frozen("eval", states[0])   # the loop above reused the eval model
    return model


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
