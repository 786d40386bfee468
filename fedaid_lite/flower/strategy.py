"""`AlgorithmStrategy`: a Flower FedAvg whose train/evaluate steps are our algorithms' server side.

Per round r (the same protocol as `federated.run_federated`, one Flower round-trip per stage):

    for stage in algo.stages(r):     train message -> ClientApp train (algo.client_train) -> algo.aggregate
      (stage 0 also asks for round r-1's score: the client scores the global model it just received on its
       held-out share, algo.client_score, then trains from it; the server then closes round r-1:
       algo.end_round (FedAID: the DRO step) and rounds.RoundCore.finish_round: evaluate if due, record,
       checkpoint, on_round)
    after the last round: one evaluate round-trip for its scores, then it is closed the same way

So FedAvg costs one round-trip per round and FedAID two (plus one closing round-trip per run), not one
more per round for scoring. This is exact because the payload a client scores in-process,
`algo.broadcast(θ_r, memory)`, is the one round r+1 trains from: `end_round` changes only the DRO weights,
which the server alone uses (the strategy checks this every round). Round r+1's aggregation waits for
round r's DRO step, as in-process.

The strategy only moves messages (`messages.py` builds them and reads the replies); sampling, the
divergence check, the eval cadence, the record and the checkpoint are `rounds.RoundCore`'s, the same
code the in-process engine runs. Before round 1 one `query` round-trip maps Flower node ids to client
ids (partition-id / site) and learns n_k. Clients are sampled with `rounds.sample_clients` (seeded), not
Flower's `random.sample`, so runs are reproducible. A client that fails or does not answer within
`round-timeout` is left out of the rest of the round and listed in the record's `failed_clients` (its
DRO weight is kept, not stepped); a client that fails the message carrying round r's score is listed as
failed in round r too. `resume(checkpoint)` continues a run after the checkpoint's round (the ServerApp
does this when its output folder holds one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Result

from ..algorithms import Algorithm
from ..checkpoint import Checkpoint
from ..config import Experiment
from ..history import History
from ..protocol import StateDict
from ..rounds import Evaluate, OnRound, RoundCore, RoundState, sample_clients
from ..train import NonFiniteLossError
from .messages import FlowerRunError, query_nodes, round_scores, stage_messages, train_updates
from .records import from_record, to_record


class AlgorithmStrategy(FedAvg):
    """FedAvg's message plumbing driving `fedaid_lite.algorithms`: stages, aggregation, anchor, DRO."""

    def __init__(self, cfg: Experiment, make_algo: Callable[[int], Algorithm], global_state: StateDict, *,
                 evaluate: Evaluate | None = None, round_timeout: float = 600.0, min_nodes: int = 2,
                 on_round: OnRound | None = None, shared_config: Mapping[str, Any] | None = None,
                 checkpoint_dir: str | Path | None = None) -> None:
        super().__init__(fraction_train=cfg.fed.fraction, fraction_evaluate=cfg.fed.fraction, min_train_nodes=1,
                         min_evaluate_nodes=1, min_available_nodes=min_nodes)
        self.cfg, self.make_algo, self.global_state = cfg, make_algo, global_state
        self.evaluate, self.round_timeout, self.on_round = evaluate, round_timeout, on_round
        self.checkpoint_dir = checkpoint_dir
        self.core: RoundCore | None = None            # built by `discover`, once the sites are known
        self.shared_config = dict(shared_config or {})   # sent in every message (the server's tokenizer)
        self.algo: Algorithm | None = None
        self.memory: dict[str, Any] = {}
        self.client_states: dict[int, StateDict] = {}
        self.nodes: dict[int, int] = {}            # client id -> Flower node id
        self.names: list[str] = []
        self.history = History(config=cfg.to_dict())
        self.stage = None
        self.resumed: Checkpoint | None = None     # set by `resume`: continue after its round
        self.restore: set[int] = set()             # clients whose kept state goes back with their next message
        self.tally: Tally | None = None            # the round in progress: who is still in, who dropped out, why

    # --- discovery -------------------------------------------------------------------------------
    def discover(self, grid: Grid) -> None:
        """Wait for `min_available_nodes`, ask each node who it is, and set up the algorithm and the round core."""
        info = query_nodes(grid, self.min_available_nodes, self.round_timeout, self.shared_config)
        self.nodes = {k: info[k][0] for k in info}
        self.names = [info[k][1] for k in sorted(info)]
        self.algo = self.make_algo(len(info))
        if self.algo.pooled:
            raise FlowerRunError(f"{self.algo.name} pools all data in one place; run it with the in-process engine")
        self.memory = self.algo.init_memory(self.global_state, [info[k][2] for k in sorted(info)])
        self.history.site_names = list(self.names)
        if self.resumed is not None:
            self._apply_resume()
        self.core = RoundCore(self.cfg, self.algo, self.names, self.history, evaluate=self.evaluate,
                              checkpoint_dir=self.checkpoint_dir, on_round=self.on_round)

    # --- resume ------------------------------------------------------------------------------------
    def resume(self, ckpt: Checkpoint) -> None:
        """Continue after `ckpt`'s round: its model, memory (DRO weights, anchor), client states and History."""
        self.resumed, self.history = ckpt, ckpt.history    # saved as is if the federation never comes up

    def _apply_resume(self) -> None:
        ckpt = self.resumed
        if ckpt.history.site_names and list(ckpt.history.site_names) != self.names:
            raise FlowerRunError(f"the checkpoint's sites {ckpt.history.site_names} are not this federation's "
                                 f"{self.names}; use a new output folder")
        self.global_state, self.memory = ckpt.global_state, dict(ckpt.memory)
        self.client_states = dict(ckpt.client_states)
        self.history.config, self.history.site_names = self.cfg.to_dict(), list(self.names)
        # The ClientApps of a new run start with an empty context.state: hand MOON/LocalOnly theirs back once.
        self.restore = set(self.client_states)

    # --- messages ----------------------------------------------------------------------------------
    def _messages(self, server_round: int, train: Iterable[int], score: Iterable[int],
                  config: Mapping[str, Any]) -> list[Message]:
        """One message per client: train the current stage (first asking for the previous round's score), or
        only score. The payload is the same for both: the previous round's broadcast is this stage's."""
        conf = {**self.shared_config, **config, "server-round": server_round, "num-clients": len(self.nodes),
                "stage-index": self.stage.index}
        handed_back = {k: self.client_states[k] for k in self.restore.intersection(train)}  # once, after a resume
        self.restore -= set(handed_back)
        return stage_messages(self.nodes, self.algo.broadcast(self.global_state, self.memory), conf, train, score,
                              handed_back)

    # --- one stage: train --------------------------------------------------------------------------
    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """`algo.aggregate` over the active clients that answered (ordered by client id, as in-process)."""
        updates, failed = train_updates(replies, self.nodes, self.tally.active, self.round_timeout)
        self.tally.drop(failed)
        self.tally.active = [u.client_id for u in updates]
        if not updates:
            raise FlowerRunError(f"no client answered round {server_round} stage {self.stage.name!r}: "
                                 + "; ".join(f"{self.names[k]}: {why}" for k, why in self.tally.failed.items()))
        for u in updates:
            self.tally.train_losses[self.names[u.client_id]] = u.loss
            kept = self.algo.next_client_state(self.stage, u.state, self.client_states.get(u.client_id))
            if kept is not None:                  # the server's copy of what LocalOnly reports
                self.client_states[u.client_id] = kept
        self.global_state, self.memory = self.algo.aggregate(self.stage, self.global_state, updates, self.memory)
        loss = float(np.mean([u.loss for u in updates]))
        return to_record(self.global_state), MetricRecord({"loss": loss})

    # --- scoring: the end of a round ---------------------------------------------------------------
    def close_round(self, pending: Tally, replies: Iterable[Message], result: Result) -> None:
        """The previous round's scores arrived (with this round's first stage, or alone after the last round):
        `algo.end_round` (FedAID: the DRO step), then `RoundCore.finish_round` for that round."""
        scores, failed = round_scores(replies, self.nodes, pending.active, self.round_timeout)
        pending.drop(failed)              # a client that failed a stage of its round stays failed for that reason
        before = self.algo.broadcast(self.global_state, self.memory)
        stop_if_diverged(self.core, pending.server_round, self.global_state, scores)
        self.memory = self.algo.end_round(pending.server_round, self.global_state, scores, self.memory)
        same_broadcast(self.algo, before, self.algo.broadcast(self.global_state, self.memory))
        record = self.core.finish_round(pending.server_round, pending.sampled,
                                        RoundState(self.global_state, self.memory, dict(self.client_states)),
                                        scores, pending.train_losses, failed=pending.failed)
        report_round(result, pending.server_round, scores, record["metrics"])

    # --- the loop ----------------------------------------------------------------------------------
    def start(self, grid: Grid, initial_arrays: ArrayRecord | None = None, num_rounds: int | None = None,
              timeout: float | None = None, train_config: ConfigRecord | None = None,
              evaluate_config: ConfigRecord | None = None, evaluate_fn: Any = None) -> Result:
        """Run the rounds still to do up to `cfg.fed.rounds` (all stages, scoring, server-side evaluation).

        Round r's per-client scores ride on round r+1's first train message (the client scores the global
        model it receives, then trains from it): a round costs one round-trip per stage. The last round's
        scores take one closing evaluate round-trip, so the DRO weights after it are today's.
        """
        if evaluate_fn is not None:
            raise ValueError("AlgorithmStrategy evaluates through its `evaluate` argument, not evaluate_fn")
        if initial_arrays is not None:
            self.global_state = from_record(initial_arrays)
        self.round_timeout = self.round_timeout if timeout is None else timeout
        self.discover(grid)
        config = dict(train_config or {})
        result, pending = Result(), None
        for server_round in self.core.rounds(num_rounds):
            sampled = sample_clients(self.cfg, server_round, len(self.names))
            for stage in self.algo.stages(server_round):
                self.stage = stage
                first = stage.index == 0
                train = sampled if first else self.tally.active
                score = pending.active if (first and pending is not None) else []
                replies = list(grid.send_and_receive(self._messages(server_round, train, score, config),
                                                     timeout=self.round_timeout))
                if first:
                    if pending is not None:
                        self.close_round(pending, replies, result)
                    self.core.sample(server_round)          # this round's clock starts after the last one closed
                    self.tally = Tally(server_round, sampled, list(sampled))
                result.arrays, result.train_metrics_clientapp[server_round] = self.aggregate_train(server_round,
                                                                                                     replies)
            stop_if_diverged(self.core, server_round, self.global_state, {})  # NaN weights: stop now, not a round later
            pending = self.tally           # its stages are done; its scores come with the next message
        if pending is not None:     # the last round's scores: one evaluate round-trip
            self.stage = self.algo.stages(pending.server_round)[0]
            replies = grid.send_and_receive(self._messages(pending.server_round, [], pending.active,
                                                           dict(evaluate_config or {})), timeout=self.round_timeout)
            self.close_round(pending, replies, result)
        return result


@dataclass
class Tally:
    """One round's clients: those still in, those that dropped out and why, and the train losses.

    While its stages run, `active` shrinks to the clients that answered every stage; once they are done the
    round is pending: those are the clients to score, and their scores arrive with the next message.
    """

    server_round: int
    sampled: list[int]
    active: list[int]
    failed: dict[int, str] = field(default_factory=dict)          # client id -> why it dropped out
    train_losses: dict[str, float] = field(default_factory=dict)  # site -> its last stage's train loss

    def drop(self, failed: Mapping[int, str]) -> None:
        """Add clients that dropped out; one already listed keeps its first reason."""
        for k, why in failed.items():
            self.failed.setdefault(k, why)


def stop_if_diverged(core: RoundCore, server_round: int, global_state: StateDict,
                     scores: Mapping[int, float]) -> None:
    """`core.check`; on NaN weights or scores, raise the run's `TrainingDiverged` (with its History so far)."""
    try:
        core.check(server_round, global_state, scores)
    except NonFiniteLossError as err:
        raise core.diverged(server_round, err) from None


def report_round(result: Result, server_round: int, scores: Mapping[int, float],
                 metrics: Mapping[str, float | None]) -> None:
    """Put a closed round's mean client score and its finite server-side metrics into Flower's `Result`."""
    if scores:
        result.evaluate_metrics_clientapp[server_round] = MetricRecord({"loss": float(np.mean(list(scores.values())))})
    if metrics:
        result.evaluate_metrics_serverapp[server_round] = MetricRecord(
            {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})


def same_broadcast(algo: Algorithm, before: Mapping[str, StateDict], after: Mapping[str, StateDict]) -> None:
    """Refuse an algorithm whose `end_round` changes its broadcast: its scores cannot ride on the next message.

    The scores of round r come back with round r+1's first message, built before round r's `end_round`;
    that is exact only if `end_round` leaves what the clients receive unchanged (the very same tensors).
    """
    if before.keys() != after.keys() or any(before[k] is not after[k] for k in before):
        raise FlowerRunError(f"{algo.name}.end_round changes what the server broadcasts; "
                             "its scoring cannot share the next round's first message")
