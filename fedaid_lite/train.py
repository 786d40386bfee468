"""Local training: a fixed number of AdamW steps on one dataset, and batched embedding.

Every algorithm (centralized, FedAvg, FedProx, MOON, FedAID) calls `train_local` with its own
`objective(model, batch) -> (loss, logs)`, so they differ only in the loss and all take the same
number of optimizer steps per round.

Threads: `TrainConfig.threads` defaults to 1. On an idle 2-vCPU machine two torch threads are about
1.7x faster than one, but when any other process holds a core (Binder always shares one with the
Jupyter server, CI runners and Colab have neighbours) two threads become 3-10x *slower* than one:
the OpenMP threads spin-wait on each other. One thread is never far from the best and never
catastrophic (measured; see docs/budgets.md, "Measured facts").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from .config import TrainConfig
from .data.tensors import Batch, PairedTensors
from .losses import clip_loss
from .model import DualEncoder

Objective = Callable[[DualEncoder, Batch], tuple[Tensor, dict[str, float]]]


class NonFiniteLossError(ValueError):
    """The loss or gradient became NaN/inf; the model still holds the weights from before that step."""

    def __init__(self, step: int, steps: int, value: float, what: str = "loss") -> None:
        super().__init__(f"{what} is {value} at local step {step} of {steps}; the model keeps its weights "
                         "from before this step. Lower train.lr or set train.grad_clip (e.g. 1.0)")
        self.step, self.value = step, value


@dataclass
class TrainResult:
    """What one `train_local` call did: the loss at each step and the mean of each logged value."""

    losses: list[float] = field(default_factory=list)
    logs: dict[str, float] = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" = CUDA, then MPS, then CPU; asking for an absent accelerator is an error."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device='cuda' but no CUDA GPU is visible; use 'auto' or 'cpu'")
    if name == "mps" and not has_mps:
        raise ValueError("train.device='mps' but Apple MPS is not available; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"train.device={name!r}: choose auto, cpu, cuda or mps")
    return torch.device(name)


def configure_threads(n: int) -> None:
    """Use `n` CPU threads in torch and numpy's BLAS (0 = leave the defaults); see the module docstring for why 1."""
    if n <= 0:
        return
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    # numpy's OpenBLAS keeps its own spinning pool; next to torch's it fights for the same cores.
    threadpool_limits(limits=n, user_api="blas")


def clip_objective(model: DualEncoder, batch: Batch) -> tuple[Tensor, dict[str, float]]:
    """The plain CLIP loss (in-batch duplicate reports masked); logs the loss and the logit scale."""
    image_emb, text_emb = model(batch.images, batch.input_ids, batch.attention_mask)
    scale = model.scale()
    loss = clip_loss(image_emb, text_emb, scale, batch.text_ids)
    return loss, {"clip": float(loss.detach()), "scale": float(scale.detach())}


def batch_indices(n: int, batch_size: int, steps: int, seed: int) -> list[Tensor]:
    """`steps` index batches: without replacement within a pass, reshuffled each pass, seeded."""
    if n <= 0:
        raise ValueError("train_local got an empty dataset; every client needs at least one training pair")
    g = torch.Generator().manual_seed(seed)
    size = min(batch_size, n)
    out: list[Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=g)
        # A remainder shorter than a batch is dropped: every step sees exactly `size` pairs.
        out += [perm[i:i + size] for i in range(0, n - size + 1, size)]
    return out[:steps]


def _optimizer(model: DualEncoder, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices only (nanoGPT/open_clip): biases, norms and logit_scale are not shrunk to 0.
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    towers = set(model.parameter_groups()["encoders"]) if cfg.tower_lr_scale != 1.0 else set()
    groups = []
    for scale, members in ((1.0, [p for n, p in named if n not in towers]),
                           (cfg.tower_lr_scale, [p for n, p in named if n in towers])):
        for decay in (True, False):
            params = [p for p in members if (p.ndim >= 2) == decay]
            if params and scale > 0:
                groups.append({"params": params, "weight_decay": cfg.weight_decay if decay else 0.0,
                               "lr": cfg.lr * scale})
    return torch.optim.AdamW(groups, lr=cfg.lr)


def train_local(model: DualEncoder, data: PairedTensors, steps: int, cfg: TrainConfig, device: torch.device,
                objective: Objective = clip_objective, *, seed: int, trainable: str = "all") -> TrainResult:
    """Run exactly `steps` AdamW steps (fresh optimizer) on `data`; the model is left in eval mode."""
    model.to(device)
    result = TrainResult()
    if steps <= 0:
        return result
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    was_trainable = model.trainable
    model.set_trainable(trainable)
    sums: dict[str, float] = {}
    try:
        optimizer = _optimizer(model, cfg)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        model.train()
        for step, idx in enumerate(batch_indices(len(data), cfg.batch_size, steps, seed), start=1):
            batch = data.batch(idx, device)
            loss, logs = objective(model, batch)
            value = float(loss.detach())
            if not np.isfinite(value):
                raise NonFiniteLossError(step, steps, value)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
                if not np.isfinite(norm):
                    raise NonFiniteLossError(step, steps, norm, what="gradient norm")
            optimizer.step()
            model.clamp_logit_scale_()
            result.losses.append(value)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
    finally:
        model.set_trainable(was_trainable)
        for n, p in model.named_parameters():
            p.requires_grad_(before[n])
        model.eval()
    result.logs = {k: v / steps for k, v in sums.items()}
    return result


@torch.no_grad()
def embed(model: DualEncoder, data: PairedTensors, device: torch.device,
          batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(image_emb, text_emb), each (N, D) float32 numpy, computed in eval mode without gradients."""
    model.eval().to(device)
    image_parts, text_parts = [], []
    for start in range(0, len(data), batch_size):
        b = data.batch(range(start, min(start + batch_size, len(data))), device)
        image_emb, text_emb = model(b.images, b.input_ids, b.attention_mask)
        image_parts.append(image_emb.float().cpu())
        text_parts.append(text_emb.float().cpu())
    d = model.cfg.embed_dim
    if not image_parts:
        return np.zeros((0, d), np.float32), np.zeros((0, d), np.float32)
    return torch.cat(image_parts).numpy(), torch.cat(text_parts).numpy()


@torch.no_grad()
def embed_images(model: DualEncoder, images: Tensor, device: torch.device, batch_size: int = 256) -> np.ndarray:
    """(N,1,H,W) normalised images -> (N, D) float32 numpy image embeddings (eval mode, no gradients)."""
    model.eval().to(device)
    parts = [model.encode_image(images[s:s + batch_size].to(device)).float().cpu()
             for s in range(0, len(images), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, model.cfg.embed_dim), np.float32)


@torch.no_grad()
def embed_texts(model: DualEncoder, input_ids: Tensor, attention_mask: Tensor, device: torch.device,
                batch_size: int = 256) -> np.ndarray:
    """(N,L) ids and mask -> (N, D) float32 numpy text embeddings (eval mode, no gradients)."""
    model.eval().to(device)
    parts = [model.encode_text(input_ids[s:s + batch_size].to(device),
                               attention_mask[s:s + batch_size].to(device)).float().cpu()
             for s in range(0, len(input_ids), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, model.cfg.embed_dim), np.float32)
