"""Federated algorithms as a client objective plus a server aggregation, independent of the engine.

Everything that crosses the wire is a plain state dict (`dict[str, Tensor]`) or a scalar, and the
server's memory is passed in and returned explicitly, so the in-process engine (`federated.py`) and
a Flower Strategy/ClientApp (`flower/`) call exactly the same code. The protocol, per round r:

    memory = algo.init_memory(global_state, client_sizes)             # once, before round 1
    for stage in algo.stages(r):                                      # FedAID: "align", "adapt"
        payload = algo.broadcast(global_state, memory)                # {"global": sd, ["anchor": sd]}
        # on each sampled client k (seed = batch_seed(cfg.seed, r, k, stage.index)):
        update = algo.client_train(stage, runtime, payload, train_k, client_id=k, seed=seed,
                                   client_state=client_state_k)      # -> ClientUpdate
        client_state_k = update.client_state                          # MOON / LocalOnly keep a model
        global_state, memory = algo.aggregate(stage, global_state, updates, memory)
    payload = algo.broadcast(global_state, memory)
    scores = {k: algo.client_score(runtime, payload, holdout_k, client_state_k)}   # one scalar each
    memory = algo.end_round(r, global_state, scores, memory)         # FedAID: the DRO step on λ
    evaluate algo.eval_states(global_state, client_states)            # the model(s) to report

`train_k`/`holdout_k` come from `federated.client_tensors(cfg, data_k, tokenizer, k)` and
`client_sizes` are the `len(train_k)`. A `pooled` algorithm (Centralized) is trained as one client,
id 0, on all training pairs. A Flower app maps one stage to one train round-trip (payload arrays
down with `{"server-round": r, "stage": stage.index}`, the client rebuilding the stage as
`algo.stages(r)[index]`; `ClientUpdate.state`, `num_examples`, `loss` up) and the scoring to one
evaluate round-trip (payload down, the score up); `client_state` lives in the ClientApp's
`context.state`. `runtime` is a `protocol.ClientRuntime`: the model a client trains in place, reused across
calls, plus frozen eval-mode copies (anchor, MOON's models).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .config import Experiment
from .data.tensors import Batch, PairedTensors
from .losses import clip_loss, model_contrastive
from .model import DualEncoder
from .protocol import ClientRuntime, ClientUpdate, Memory, Stage, StateDict, clone_state, weighted_average
from .train import Objective, clip_objective, train_local

__all__ = ["Algorithm", "Centralized", "LocalOnly", "FedAvg", "FedProx", "MOON"]


class Algorithm:
    """FedAvg-shaped defaults; subclasses change only what their paper changes."""

    name = "algorithm"
    pooled = False                  # True: the engine trains one client holding all training data

    def __init__(self, cfg: Experiment, num_clients: int) -> None:
        self.cfg, self.num_clients = cfg, num_clients

    def stages(self, server_round: int) -> list[Stage]:
        """The stages of round `server_round` (one, of `train.local_steps` steps, by default)."""
        return [Stage("train", 0, self.cfg.train.local_steps)]

    def init_memory(self, global_state: StateDict, client_sizes: Sequence[int]) -> Memory:
        """Server memory before round 1 (p_k = n_k / Σ n is kept for the record)."""
        return {"p": _normalise(client_sizes)}

    def broadcast(self, global_state: StateDict, memory: Memory) -> dict[str, StateDict]:
        """What the server sends to every client: the global model (and FedAID's anchor)."""
        return {"global": global_state}

    def client_train(self, stage: Stage, runtime: ClientRuntime, payload: Mapping[str, StateDict],
                     data: PairedTensors, *, client_id: int, seed: int,
                     client_state: StateDict | None = None) -> ClientUpdate:
        """Load the start state, run `stage.steps` local steps on the objective, return the update."""
        runtime.model.load_state_dict(self.start_state(payload, client_state))
        objective = self.objective(stage, runtime, payload, client_state)
        result = train_local(runtime.model, data, stage.steps, runtime.cfg.train, runtime.device,
                             runtime.guard(objective), seed=seed, trainable=stage.trainable)
        state = clone_state(runtime.model)
        loss = float(np.mean(result.losses)) if result.losses else float("nan")
        return ClientUpdate(client_id, state, len(data), loss, result.logs,
                            self.next_client_state(stage, state, client_state))

    def start_state(self, payload: Mapping[str, StateDict], client_state: StateDict | None) -> StateDict:
        """The weights local training starts from: the global model."""
        return payload["global"]

    def next_client_state(self, stage: Stage, trained: StateDict, client_state: StateDict | None) -> StateDict | None:
        """What the client keeps for its next round (nothing by default)."""
        return client_state

    def objective(self, stage: Stage, runtime: ClientRuntime, payload: Mapping[str, StateDict],
                  client_state: StateDict | None) -> Objective:
        """The local loss: plain CLIP."""
        return clip_objective

    def aggregation_weights(self, updates: Sequence[ClientUpdate], memory: Memory) -> list[float]:
        """Weights of the participating clients: n_k / Σ n over those who answered."""
        return _normalise([u.num_examples for u in updates])

    def aggregate(self, stage: Stage, global_state: StateDict, updates: Sequence[ClientUpdate],
                  memory: Memory) -> tuple[StateDict, Memory]:
        """θ ← Σ_k w_k θ_k."""
        weights = self.aggregation_weights(updates, memory)
        return weighted_average([u.state for u in updates], weights), memory

    def score_objective(self, runtime: ClientRuntime, payload: Mapping[str, StateDict]) -> Objective:
        """The loss the server's per-client score uses (CLIP by default)."""
        return clip_objective

    @torch.no_grad()
    def client_score(self, runtime: ClientRuntime, payload: Mapping[str, StateDict], data: PairedTensors,
                     client_state: StateDict | None = None) -> float:
        """Loss of the global model on the client's held-out pairs (eval mode, fixed batches in order)."""
        model = runtime.frozen("score", self.score_state(payload, client_state))
        objective = self.score_objective(runtime, payload)
        # Near-equal batches (no 1-pair remainder, whose contrastive loss would be a trivial 0).
        chunks = np.array_split(np.arange(len(data)), max(1, -(-len(data) // runtime.cfg.train.batch_size)))
        total = 0.0
        for idx in chunks:
            loss, _ = objective(model, data.batch(idx, runtime.device))
            total += float(loss) * len(idx)
        return total / max(len(data), 1)

    def score_state(self, payload: Mapping[str, StateDict], client_state: StateDict | None) -> StateDict:
        """Which model a client scores: the new global one."""
        return payload["global"]

    def end_round(self, server_round: int, global_state: StateDict, client_scores: Mapping[int, float],
                  memory: Memory) -> Memory:
        """Server work after the round's stages (nothing by default)."""
        return memory

    def current_weights(self, memory: Memory) -> list[float]:
        """Per-client aggregation weights over all K clients, for the record (p by default)."""
        return list(memory["p"])

    def eval_states(self, global_state: StateDict, client_states: Mapping[int, StateDict]) -> list[StateDict]:
        """The model(s) whose metrics are reported; several are averaged metric by metric."""
        return [global_state]


class Centralized(Algorithm):
    """The ideal reference: one model on the pooled training data of all K clients.

    Per "round": K · local_steps steps of AdamW on ℓ_clip over the pooled data, i.e. the same number of
    optimizer steps the federation takes in total, evaluated each round so the curves line up.
    """

    name = "centralized"
    pooled = True

    def stages(self, server_round: int) -> list[Stage]:
        return [Stage("train", 0, self.num_clients * self.cfg.train.local_steps)]


class LocalOnly(Algorithm):
    """Each client trains alone from the shared initial model and never communicates: θ_k ← θ_k − η∇ℓ_clip.

    There is no global model. The reported metrics are the **mean over clients of each local model's
    metrics** on the same held-out data (what a typical hospital would get alone); the client score is
    each local model on its own held-out share.
    """

    name = "local"

    def start_state(self, payload: Mapping[str, StateDict], client_state: StateDict | None) -> StateDict:
        return payload["global"] if client_state is None else client_state

    def next_client_state(self, stage: Stage, trained: StateDict, client_state: StateDict | None) -> StateDict:
        return trained

    def aggregate(self, stage: Stage, global_state: StateDict, updates: Sequence[ClientUpdate],
                  memory: Memory) -> tuple[StateDict, Memory]:
        return global_state, memory                      # nothing is shared

    def score_state(self, payload: Mapping[str, StateDict], client_state: StateDict | None) -> StateDict:
        return payload["global"] if client_state is None else client_state

    def eval_states(self, global_state: StateDict, client_states: Mapping[int, StateDict]) -> list[StateDict]:
        return [client_states[k] for k in sorted(client_states)] or [global_state]


class FedAvg(Algorithm):
    """FedAvg (McMahan et al., AISTATS 2017): local steps on ℓ_clip, then θ ← Σ_k p_k θ_k, p_k = n_k / Σ n."""

    name = "fedavg"


class FedProx(Algorithm):
    """FedProx (Li et al., MLSys 2020): local loss ℓ_clip + (μ/2)·‖θ − θ_global‖², aggregate as FedAvg."""

    name = "fedprox"

    def objective(self, stage: Stage, runtime: ClientRuntime, payload: Mapping[str, StateDict],
                  client_state: StateDict | None) -> Objective:
        mu = self.cfg.fed.prox_mu
        if mu == 0:
            return clip_objective                        # exactly FedAvg
        anchor = {k: v.to(runtime.device) for k, v in payload["global"].items()}

        def objective(model: DualEncoder, batch: Batch) -> tuple[Tensor, dict[str, float]]:
            loss, logs = clip_objective(model, batch)
            prox = sum(((p - anchor[n]) ** 2).sum() for n, p in model.named_parameters() if p.requires_grad)
            logs["prox"] = float(prox.detach())
            return loss + 0.5 * mu * prox, logs
        return objective


class MOON(Algorithm):
    """MOON (Li, He, Song, CVPR 2021): local loss ℓ_clip + μ·ℓ_con, aggregate as FedAvg.

    ℓ_con = −log( e^{sim(z, z_glob)/τ} / (e^{sim(z, z_glob)/τ} + e^{sim(z, z_prev)/τ}) ), averaged over
    samples and over both modalities, where z is the local model's embedding, z_glob the round's global
    model's (positive) and z_prev the client's previous local model's (negative). In a client's first
    round there is no previous model and the term is skipped (with z_prev = z_glob its gradient is 0).
    """

    name = "moon"

    def next_client_state(self, stage: Stage, trained: StateDict, client_state: StateDict | None) -> StateDict:
        return trained

    def objective(self, stage: Stage, runtime: ClientRuntime, payload: Mapping[str, StateDict],
                  client_state: StateDict | None) -> Objective:
        mu, tau = self.cfg.fed.moon_mu, self.cfg.fed.moon_temperature
        if mu == 0 or client_state is None:
            return clip_objective
        global_model = runtime.frozen("global", payload["global"])
        previous = runtime.frozen("previous", client_state)

        def objective(model: DualEncoder, batch: Batch) -> tuple[Tensor, dict[str, float]]:
            image_emb, text_emb = model(batch.images, batch.input_ids, batch.attention_mask)
            loss = clip_loss(image_emb, text_emb, model.scale(), batch.text_ids)
            with torch.no_grad():
                g_img, g_txt = global_model(batch.images, batch.input_ids, batch.attention_mask)
                p_img, p_txt = previous(batch.images, batch.input_ids, batch.attention_mask)
            con = 0.5 * (model_contrastive(image_emb, g_img, p_img, tau) + model_contrastive(text_emb, g_txt, p_txt, tau))
            return loss + mu * con, {"clip": float(loss.detach()), "moon": float(con.detach())}
        return objective


def _normalise(values: Sequence[float]) -> list[float]:
    total = float(sum(values))
    if total <= 0:
        raise ValueError(f"client sizes must be positive, got {list(values)}")
    return [float(v) / total for v in values]

