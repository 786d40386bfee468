"""The two pretraining objectives for the towers (`pretrain.py` runs them on the public corpus).

- image tower: supervised multi-label on the findings, as ImageNet ViTs are pretrained on ImageNet classes
  (the default and what ships), or self-supervised (SimCLR: two augmented views of one image attract, the
  other images of the batch repel), which never sees a label;
- text tower: BERT's masked-LM (the default and what ships), a findings labeller (a report classifier, as
  CheXbert-style labellers are), or both with their losses summed. `research/README.md` (r10) has what the
  labeller did: zero-shot up inside the noise, FedAID below FedAvg, so masked-LM stays.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from transformers import BertForMaskedLM

from .model import DualEncoder
from .names import IMAGE_OBJECTIVES, TEXT_OBJECTIVES
from .train import batch_indices



@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """How the towers are pretrained (the numbers behind the shipped checkpoints)."""

    n_per_site: int = 500          # public cases per site (6 sites; ~70 % of them train)
    image_steps: int = 600
    text_steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    mask_prob: float = 0.15        # BERT's masking rate
    text_objective: str = "mlm"    # "mlm" (BERT's), "findings" (a report labeller, like CheXbert) or "mlm+findings"
    seed: int = 0
    image_objective: str = "findings"  # "findings" (supervised multi-label) or "simclr" (self-supervised)
    temperature: float = 0.2           # SimCLR's NT-Xent temperature

    def __post_init__(self) -> None:
        if self.image_objective not in IMAGE_OBJECTIVES:
            raise ValueError(f"image_objective={self.image_objective!r}: choose one of {', '.join(IMAGE_OBJECTIVES)}")
        if self.text_objective not in TEXT_OBJECTIVES:
            raise ValueError(f"text_objective={self.text_objective!r}: choose one of {', '.join(TEXT_OBJECTIVES)}")


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, params: list) -> None:
    """One optimizer step on `loss`, gradients clipped to norm 1."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def pretrain_image(model: DualEncoder, images: torch.Tensor, labels: torch.Tensor, p: PretrainConfig) -> float:
    """Supervised multi-label: mean-pooled image tokens -> linear -> one logit per finding, BCE."""
    if p.image_objective == "simclr":
        return pretrain_image_simclr(model, images, p)
    torch.manual_seed(p.seed)
    head = torch.nn.Linear(model.cfg.hidden_size, labels.shape[1])
    params = list(model.image_encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=0.01)
    model.train()
    loss = torch.tensor(0.0)
    for idx in batch_indices(len(images), p.batch_size, p.image_steps, p.seed):
        logits = head(model.image_encoder(images[idx]).mean(1))          # (B, F)
        loss = F.binary_cross_entropy_with_logits(logits, labels[idx])
        _step(opt, loss, params)
    model.eval()
    return float(loss.detach())


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random view of each image (B, 1, H, W): a crop of 70-100 % of the side resized back, a shift in
    brightness and contrast, and pixel noise. No flips: left and right mean different things on a chest film."""
    b, _, h, w = x.shape
    scale = 0.7 + 0.3 * torch.rand(b, generator=g)
    cx, cy = (torch.rand(b, generator=g) * 2 - 1) * (1 - scale), (torch.rand(b, generator=g) * 2 - 1) * (1 - scale)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = scale, scale, cx, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = 0.7 + 0.6 * torch.rand(b, 1, 1, 1, generator=g)
    bright = 0.2 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    mean = v.mean(dim=(2, 3), keepdim=True)
    return (v - mean) * contrast + mean + bright + 0.05 * torch.randn(v.shape, generator=g)


def pretrain_image_simclr(model: DualEncoder, images: torch.Tensor, p: PretrainConfig) -> float:
    """SimCLR: mean-pooled tokens -> 2-layer projector; NT-Xent between two augmented views of each image."""
    torch.manual_seed(p.seed)
    hid = model.cfg.hidden_size
    projector = torch.nn.Sequential(torch.nn.Linear(hid, hid), torch.nn.ReLU(), torch.nn.Linear(hid, hid))
    params = list(model.image_encoder.parameters()) + list(projector.parameters())
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(p.seed + 3)
    model.train()
    loss = torch.tensor(0.0)
    for idx in batch_indices(len(images), p.batch_size, p.image_steps, p.seed):
        x = images[idx]
        views = torch.cat([augment(x, g), augment(x, g)])                      # (2B, 1, H, W)
        z = F.normalize(projector(model.image_encoder(views).mean(1)), dim=-1)  # (2B, H)
        logits = z @ z.T / p.temperature
        logits.fill_diagonal_(float("-inf"))
        n = len(x)
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])          # each view's partner
        loss = F.cross_entropy(logits, target)
        _step(opt, loss, params)
    model.eval()
    return float(loss.detach())


def pretrain_text(model: DualEncoder, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                   tokenizer: Any, p: PretrainConfig) -> float:
    """The text tower on the reports: BERT's masked-LM, a findings labeller, or both (losses summed).

    The MLM model's `.bert` shares the text tower's weights; the labeller reads the mean of its token states.
    """
    mlm = BertForMaskedLM(model.text_encoder.config)
    mlm.bert = model.text_encoder                                          # train our tower in place
    mlm.tie_weights()
    use_mlm, use_labels = "mlm" in p.text_objective, "findings" in p.text_objective
    if use_labels:
        torch.manual_seed(p.seed + 2)
        head = torch.nn.Linear(model.cfg.hidden_size, labels.shape[1])
    special = torch.tensor(sorted({tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id}))
    g = torch.Generator().manual_seed(p.seed + 1)
    params = list(mlm.parameters()) + (list(head.parameters()) if use_labels else [])
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=0.01)
    mlm.train()
    loss = torch.tensor(0.0)
    vocab = len(tokenizer)
    for idx in batch_indices(len(ids), p.batch_size, p.text_steps, p.seed + 1):
        x, m = ids[idx].clone(), mask[idx]
        loss = torch.tensor(0.0)
        if use_labels:
            states = model.text_encoder(input_ids=x, attention_mask=m).last_hidden_state     # (B, L, H)
            pooled = (states * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)
            loss = loss + F.binary_cross_entropy_with_logits(head(pooled), labels[idx])
        if use_mlm:
            pick = (torch.rand(x.shape, generator=g) < p.mask_prob) & m.bool() & ~torch.isin(x, special)
            target = torch.where(pick, x, torch.full_like(x, -100))
            # BERT's 80/10/10: [MASK], a random token, or the token itself.
            r = torch.rand(x.shape, generator=g)
            x = torch.where(pick & (r < 0.8), torch.full_like(x, tokenizer.mask_token_id), x)
            x = torch.where(pick & (r >= 0.8) & (r < 0.9), torch.randint(5, vocab, x.shape, generator=g), x)
            loss = loss + mlm(input_ids=x, attention_mask=m, labels=target).loss
        _step(opt, loss, params)
    mlm.eval()
    model.eval()
    return float(loss.detach())


IMAGE_OBJECTIVE_NAMES = {"findings": "supervised multi-label BCE on findings",
                         "simclr": "self-supervised SimCLR (NT-Xent between two augmented views), no labels"}
TEXT_OBJECTIVE_NAMES = {"mlm": "masked-language modelling (BertForMaskedLM)",
                        "findings": "a findings labeller: mean-pooled tokens -> linear -> findings, BCE",
                        "mlm+findings": "masked-language modelling plus a findings labeller (losses summed)"}
