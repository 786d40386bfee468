"""`AlgorithmStrategy`: a Flower FedAvg whose train/evaluate steps are our algorithms' server side.

Per round r (the same protocol as `federated.run_federated`, one Flower round-trip per step):

    for stage in algo.stages(r):       configure_train -> ClientApp train -> aggregate_train (algo.aggregate)
    configure_evaluate -> ClientApp evaluate (algo.client_score) -> aggregate_evaluate (algo.end_round: DRO)
    rounds.RoundCore.finish_round: evaluate if due, append the History record, checkpoint, on_round

The strategy only moves messages; sampling, the divergence check, the eval cadence, the record and the
checkpoint are `rounds.RoundCore`'s, the same code the in-process engine runs. Before round 1 one
`query` round-trip maps Flower node ids to client ids (partition-id / site) and learns n_k. Clients are
sampled with `rounds.sample_clients` (seeded), not Flower's `random.sample`, so runs are reproducible. A client that fails or does not answer within `round-timeout` is left out of
the rest of the round and listed in the record's `failed_clients` (its DRO weight is kept, not stepped).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Result

from ..algorithms import Algorithm
from ..config import Experiment
from ..history import History
from ..protocol import ClientUpdate, StateDict
from ..rounds import Evaluate, OnRound, RoundCore, RoundState
from ..train import NonFiniteLossError
from .records import ARRAYS, CONFIG, METRICS, from_record, payload_content, to_record


class FlowerRunError(RuntimeError):
    """The federation could not run (no nodes, inconsistent node configs, or nobody answered)."""


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
        self.active: list[int] = []                # clients still in this round
        self.failed: dict[int, str] = {}           # client id -> why it dropped out this round
        self.train_losses: dict[str, float] = {}
        self.scores: dict[int, float] = {}

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
        self.core = RoundCore(self.cfg, self.algo, self.names, self.history, evaluate=self.evaluate,
                              checkpoint_dir=self.checkpoint_dir, on_round=self.on_round)

    # --- one stage: train --------------------------------------------------------------------------
    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        """One train message per active client: the broadcast payload and the stage to run."""
        conf = {**self.shared_config, **config, "server-round": server_round, "stage-index": self.stage.index,
                "num-clients": len(self.nodes)}
        content = payload_content(self.algo.broadcast(self.global_state, self.memory), conf)
        return [Message(content=content, message_type=MessageType.TRAIN, dst_node_id=self.nodes[k])
                for k in self.active]

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """`algo.aggregate` over the clients that answered (ordered by client id, as in-process)."""
        answered = self._answered(replies)
        updates = [ClientUpdate(k, from_record(m.content[ARRAYS]), int(m.content[METRICS]["num-examples"]),
                                float(m.content[METRICS]["loss"])) for k, m in sorted(answered.items())]
        if not updates:
            raise FlowerRunError(f"no client answered round {server_round} stage {self.stage.name!r}: "
                                 + "; ".join(f"{self.names[k]}: {why}" for k, why in self.failed.items()))
        for u in updates:
            self.train_losses[self.names[u.client_id]] = u.loss
            kept = self.algo.next_client_state(self.stage, u.state, self.client_states.get(u.client_id))
            if kept is not None:                  # the server's copy of what LocalOnly reports
                self.client_states[u.client_id] = kept
        self.global_state, self.memory = self.algo.aggregate(self.stage, self.global_state, updates, self.memory)
        loss = float(np.mean([u.loss for u in updates]))
        return to_record(self.global_state), MetricRecord({"loss": loss})

    # --- scoring: evaluate -------------------------------------------------------------------------
    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        """One evaluate message per active client: score the new global model on its held-out share."""
        conf = {**self.shared_config, **config, "server-round": server_round, "num-clients": len(self.nodes)}
        content = payload_content(self.algo.broadcast(self.global_state, self.memory), conf)
        return [Message(content=content, message_type=MessageType.EVALUATE, dst_node_id=self.nodes[k])
                for k in self.active]

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """`algo.end_round` (FedAID: the DRO step) on the scores of the clients that answered."""
        self.scores = {k: float(m.content[METRICS]["loss"]) for k, m in sorted(self._answered(replies).items())}
        try:
            self.core.check(server_round, self.global_state, self.scores)
        except NonFiniteLossError as err:
            raise self.core.diverged(server_round, err) from None
        self.memory = self.algo.end_round(server_round, self.global_state, self.scores, self.memory)
        return MetricRecord({"loss": float(np.mean(list(self.scores.values())))}) if self.scores else None

    def _answered(self, replies: Iterable[Message]) -> dict[int, Message]:
        """Valid replies by client id; everyone else active becomes a failure of this round."""
        by_node = {n: k for k, n in self.nodes.items()}
        answered: dict[int, Message] = {}
        for m in replies:
            k = by_node.get(m.metadata.src_node_id)
            if m.has_error():
                if k is not None:
                    self.failed[k] = m.error.reason
            elif k is not None and k in self.active:
                answered[k] = m
        for k in self.active:
            if k not in answered:
                self.failed.setdefault(k, f"no reply within {self.round_timeout:.0f} s (node down or too slow)")
        self.active = sorted(answered)
        return answered

    # --- the loop ----------------------------------------------------------------------------------
    def start(self, grid: Grid, initial_arrays: ArrayRecord | None = None, num_rounds: int | None = None,
              timeout: float | None = None, train_config: ConfigRecord | None = None,
              evaluate_config: ConfigRecord | None = None, evaluate_fn: Any = None) -> Result:
        """Run `cfg.fed.rounds` rounds (all stages, scoring, server-side evaluation); see `history`."""
        if evaluate_fn is not None:
            raise ValueError("AlgorithmStrategy evaluates through its `evaluate` argument, not evaluate_fn")
        if initial_arrays is not None:
            self.global_state = from_record(initial_arrays)
        self.round_timeout = self.round_timeout if timeout is None else timeout
        self.discover(grid)
        result = Result()
        for server_round in self.core.rounds(num_rounds):
            sampled = self.core.sample(server_round)
            self.active, self.failed, self.train_losses = list(sampled), {}, {}
            for stage in self.algo.stages(server_round):
                self.stage = stage
                replies = grid.send_and_receive(self.configure_train(server_round, ArrayRecord(),
                                                                     ConfigRecord(dict(train_config or {})), grid),
                                                timeout=self.round_timeout)
                result.arrays, result.train_metrics_clientapp[server_round] = self.aggregate_train(server_round,
                                                                                                     replies)
            replies = grid.send_and_receive(self.configure_evaluate(server_round, result.arrays,
                                                                    ConfigRecord(dict(evaluate_config or {})), grid),
                                            timeout=self.round_timeout)
            scored = self.aggregate_evaluate(server_round, replies)
            if scored is not None:
                result.evaluate_metrics_clientapp[server_round] = scored
            record = self.core.finish_round(server_round, sampled,
                                            RoundState(self.global_state, self.memory, dict(self.client_states)),
                                            self.scores, self.train_losses, failed=self.failed)
            if record["metrics"]:
                result.evaluate_metrics_serverapp[server_round] = MetricRecord(
                    {k: float(v) for k, v in record["metrics"].items() if v is not None and np.isfinite(v)})
        return result


def query_nodes(grid: Grid, min_nodes: int, timeout: float,
                shared_config: Mapping[str, Any]) -> dict[int, tuple[int, str, int]]:
    """client id -> (Flower node id, site, n_k), from one query round-trip once `min_nodes` nodes are connected."""
    deadline = time.monotonic() + timeout
    while len(node_ids := list(grid.get_node_ids())) < min_nodes:
        if time.monotonic() > deadline:
            raise FlowerRunError(f"only {len(node_ids)} of min-nodes={min_nodes} SuperNodes "
                                 f"connected within {timeout:.0f} s; start one per site")
        time.sleep(0.5)
    messages = [Message(content=RecordDict({CONFIG: ConfigRecord({**shared_config, "server-round": 0})}),
                        message_type=MessageType.QUERY, dst_node_id=n) for n in sorted(node_ids)]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    errors = [f"node {m.metadata.src_node_id}: {m.error.reason}" for m in replies if m.has_error()]
    if errors or len(replies) != len(node_ids):
        raise FlowerRunError("SuperNodes failed to load their data: " + ("; ".join(errors) or "no reply"))
    info = {}
    for m in replies:
        metrics = m.content[METRICS]
        info[int(metrics["client-id"])] = (m.metadata.src_node_id, str(m.content[CONFIG]["site"]),
                                           int(metrics["num-examples"]))
    if sorted(info) != list(range(len(node_ids))):
        raise FlowerRunError(f"client ids (partition-id) {sorted(info)} from {len(node_ids)} SuperNodes must be "
                             f"0..{len(node_ids) - 1}, one per node; fix their --node-config")
    return info
