"""FedAID: cross-modal alignment binding with a DRO-weighted anchor (Shuai & Shen, arXiv 2404.03854).

Our teaching version; docs/fedaid.md describes the method as implemented here and where it departs from the paper.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .algorithms import Algorithm
from .data.tensors import Batch
from .dro import exponentiated_gradient_step, project_chi2_ball
from .losses import bind_loss, clip_loss
from .model import DualEncoder, is_alignment_key
from .protocol import ClientRuntime, ClientUpdate, Memory, Stage, StateDict, weighted_average
from .train import Objective


class FedAID(Algorithm):
    """FedAID, "Align as Ideal" (Shuai & Shen, arXiv 2404.03854, 2024), as we implement it.

    Anchor θ̄ (θ̄ := θ at round 0): a frozen copy of aggregated weights, run in eval mode under no_grad.
    Client loss: ℓ_clip(θ) + λ_bind · mean_i (‖z_v,i − z̄_v,i‖² + ‖z_t,i − z̄_t,i‖²), z̄ from θ̄ on the same pair.
    Each round, with server weights λ (λ = p = n_k/Σn at the start):
      stage 1 ("align", fed.stage1_steps steps): train only g, h (encoders f frozen) → θ ← Σ_k λ_k θ_k;
              θ̄.{g,h} ← θ.{g,h}   (the round's DRO-weighted "ideal" alignment)
      stage 2 ("adapt", local_steps − stage1_steps steps): train all of θ from the new θ, bound to θ̄
              → θ ← Σ_k λ_k θ_k;  θ̄.f ← θ.f
      DRO:    L_k = loss of the new θ on a held-out share of client k's data (one scalar per client);
              λ_k ← λ_k e^{η L_k} / Σ_j λ_j e^{η L_j};  λ ← Π onto {λ ∈ Δ : ½ Σ_k (λ_k − p_k)²/p_k ≤ ρ}.
    λ enters the *aggregation* (ours: scaling the loss by λ_k, as the authors' code does, barely
    matters under Adam) and persists across rounds and resume. Ablations: fed.dro=False (λ = p),
    fed.bind_lambda=0, fed.two_stage=False (one stage of local_steps; θ̄ ← θ after it). With all three
    it is exactly FedAvg.
    """

    name = "fedaid"

    def stages(self, server_round: int) -> list[Stage]:
        local, first = self.cfg.train.local_steps, self.cfg.fed.stage1_steps
        if not self.cfg.fed.two_stage or first == 0:
            return [Stage("train", 0, local)]
        return [Stage("align", 0, first, "alignment"), Stage("adapt", 1, local - first)]

    def init_memory(self, global_state: StateDict, client_sizes: Sequence[int]) -> Memory:
        memory = super().init_memory(global_state, client_sizes)
        memory["anchor"] = dict(global_state)            # θ̄ := θ_0 (tensors are never changed in place)
        memory["dro_weights"] = list(memory["p"])
        return memory

    def broadcast(self, global_state: StateDict, memory: Memory) -> dict[str, StateDict]:
        if self.cfg.fed.bind_lambda == 0:
            return {"global": global_state}              # nothing binds: the anchor need not travel
        return {"global": global_state, "anchor": memory["anchor"]}

    def objective(self, stage: Stage, runtime: ClientRuntime, payload: Mapping[str, StateDict],
                  client_state: StateDict | None) -> Objective:
        return self._objective(runtime, payload)

    def score_objective(self, runtime: ClientRuntime, payload: Mapping[str, StateDict]) -> Objective:
        return self._objective(runtime, payload)

    def _objective(self, runtime: ClientRuntime, payload: Mapping[str, StateDict]) -> Objective:
        lam = self.cfg.fed.bind_lambda
        anchor = runtime.frozen("anchor", payload["anchor"]) if lam > 0 else None

        def objective(model: DualEncoder, batch: Batch) -> tuple[Tensor, dict[str, float]]:
            image_emb, text_emb = model(batch.images, batch.input_ids, batch.attention_mask)
            loss = clip_loss(image_emb, text_emb, model.scale(), batch.text_ids)
            logs = {"clip": float(loss.detach())}
            if anchor is None:
                return loss, logs                        # exactly the FedAvg objective
            with torch.no_grad():                        # stop-gradient: nothing flows into the anchor
                a_img, a_txt = anchor(batch.images, batch.input_ids, batch.attention_mask)
            bind = bind_loss(image_emb, text_emb, a_img, a_txt)
            logs["bind"] = float(bind.detach())
            return loss + lam * bind, logs
        return objective

    def aggregation_weights(self, updates: Sequence[ClientUpdate], memory: Memory) -> list[float]:
        if not self.cfg.fed.dro:
            return super().aggregation_weights(updates, memory)
        lam = memory["dro_weights"]
        chosen = [lam[u.client_id] for u in updates]     # the clients that answered, renormalised
        total = sum(chosen)
        return [w / total for w in chosen]

    def aggregate(self, stage: Stage, global_state: StateDict, updates: Sequence[ClientUpdate],
                  memory: Memory) -> tuple[StateDict, Memory]:
        new = weighted_average([u.state for u in updates], self.aggregation_weights(updates, memory))
        anchor = memory["anchor"]
        if stage.name == "align":
            anchor = {k: new[k] if is_alignment_key(k) else v for k, v in anchor.items()}
        elif stage.name == "adapt":
            anchor = {k: v if is_alignment_key(k) else new[k] for k, v in anchor.items()}
        else:
            anchor = dict(new)
        return new, {**memory, "anchor": anchor}

    def end_round(self, server_round: int, global_state: StateDict, client_scores: Mapping[int, float],
                  memory: Memory) -> Memory:
        """The max player: EG step on the scored clients' losses (their mass kept), then χ² projection."""
        if not self.cfg.fed.dro or not client_scores:
            return memory
        lam = np.asarray(memory["dro_weights"], dtype=np.float64)
        ids = sorted(client_scores)
        mass = lam[ids].sum()
        stepped = lam.copy()
        # Clients that did not answer keep their weight; the ones that did share theirs by loss.
        stepped[ids] = exponentiated_gradient_step(lam[ids] / mass, [client_scores[k] for k in ids],
                                                   self.cfg.fed.dro_eta) * mass
        new = project_chi2_ball(stepped, memory["p"], self.cfg.fed.dro_rho)
        return {**memory, "dro_weights": [float(x) for x in new]}

    def current_weights(self, memory: Memory) -> list[float]:
        return list(memory["dro_weights"]) if self.cfg.fed.dro else list(memory["p"])
