"""Contrastive losses: pure functions of embeddings and a scale (nothing from this package is imported)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float,
              text_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE: mean of the image→text and text→image cross-entropies over in-batch pairs.

    `image_emb`, `text_emb`: (B, D), L2-normalised, row i of each is a true pair; `scale` = exp(logit_scale).
    We average the two directions as CLIP and open_clip do; FedAID's authors sum them (a factor of 2,
    which under Adam mostly rescales nothing but the loss curve).

    Templated reports repeat, so two rows of a batch can carry the *same* report text. Treating the
    other copy as a negative would push an image away from a text that describes it exactly. When
    `text_ids` (B,) is given (equal ids = identical text), those off-diagonal logits are set to -inf:
    they drop out of both softmaxes, neither attracted nor repelled, and each row keeps its own
    diagonal as the one target.
    """
    logits_per_image = scale * image_emb @ text_emb.T          # (B, B): the diagonal holds the true pairs
    if text_ids is not None:
        same = text_ids[:, None] == text_ids[None, :]          # (B, B), symmetric, True on the diagonal
        same.fill_diagonal_(False)
        logits_per_image = logits_per_image.masked_fill(same, float("-inf"))
    labels = torch.arange(len(image_emb), device=image_emb.device)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)) / 2


def bind_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, anchor_image: torch.Tensor,
              anchor_text: torch.Tensor) -> torch.Tensor:
    """FedAID's ℓ_bind = mean_i (‖z_v,i − z̄_v,i‖² + ‖z_t,i − z̄_t,i‖²) for (B, D) embeddings; 0 when they match."""
    return ((image_emb - anchor_image) ** 2).sum(-1).mean() + ((text_emb - anchor_text) ** 2).sum(-1).mean()


def model_contrastive(z: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """MOON's term for (B, D) unit embeddings: cross-entropy picking `positive` over `negative`."""
    logits = torch.stack([(z * positive).sum(-1), (z * negative).sum(-1)], dim=1) / temperature  # (B, 2)
    return F.cross_entropy(logits, torch.zeros(len(z), dtype=torch.long, device=z.device))
