"""Paired cases as torch tensors: what the model and the training loop consume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .types import PairedData

PIXEL_MEAN, PIXEL_STD = 0.5, 0.25
"""uint8 pixels are mapped to (x / 255 - 0.5) / 0.25, roughly zero-mean, unit-variance for radiographs."""


@dataclass(frozen=True)
class Batch:
    """One minibatch on the training device; `text_ids` are equal iff the report texts are identical."""

    images: torch.Tensor          # (B, 1, H, W) float32, normalised
    input_ids: torch.Tensor       # (B, L) long, right-padded with 0 ([PAD])
    attention_mask: torch.Tensor  # (B, L) long, 1 = real token
    text_ids: torch.Tensor        # (B,) long

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class PairedTensors:
    """N tokenised image–report pairs on the CPU (see `to_tensors`)."""

    images: torch.Tensor          # (N, 1, H, W) float32, normalised
    input_ids: torch.Tensor       # (N, L) long
    attention_mask: torch.Tensor  # (N, L) long
    text_ids: torch.Tensor        # (N,) long: equal iff report text identical
    labels: torch.Tensor          # (N, F) float32 ground-truth findings
    sites: torch.Tensor           # (N,) long

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> "PairedTensors":
        """The rows at `index`, in that order."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return PairedTensors(self.images[idx], self.input_ids[idx], self.attention_mask[idx],
                             self.text_ids[idx], self.labels[idx], self.sites[idx])

    def batch(self, index: Sequence[int] | np.ndarray | torch.Tensor,
              device: torch.device | str | None = None) -> Batch:
        """The rows at `index` as a `Batch` on `device`, padding trimmed to the longest report in it."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        mask = self.attention_mask[idx]
        # Trimming the shared right padding changes nothing (padding is masked) but saves compute.
        length = max(int(mask.sum(1).max()), 1) if len(idx) else 1
        dev = torch.device(device) if device is not None else torch.device("cpu")
        return Batch(images=self.images[idx].to(dev), input_ids=self.input_ids[idx, :length].to(dev),
                     attention_mask=mask[:, :length].to(dev), text_ids=self.text_ids[idx].to(dev))


def text_identity(reports: Sequence[str]) -> np.ndarray:
    """(N,) int64 ids, equal iff the report strings are identical (first occurrence order)."""
    seen: dict[str, int] = {}
    return np.array([seen.setdefault(r, len(seen)) for r in reports], dtype=np.int64)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float32, normalised as the model expects."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    return x.sub_(PIXEL_MEAN).div_(PIXEL_STD).unsqueeze(1)


def tokenize(tokenizer: Any, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> (input_ids, attention_mask), both (N, L) long, truncated to `max_len`, padded to the longest."""
    if not texts:
        return torch.zeros(0, 1, dtype=torch.long), torch.zeros(0, 1, dtype=torch.long)
    enc = tokenizer(list(texts), padding="longest", truncation=True, max_length=max_len,
                    return_tensors="pt", return_token_type_ids=False)
    return enc["input_ids"].long(), enc["attention_mask"].long()


def to_tensors(data: PairedData, tokenizer: Any, max_len: int) -> PairedTensors:
    """Tokenise the reports (≤ `max_len` tokens) and normalise the images of `data`."""
    input_ids, attention_mask = tokenize(tokenizer, data.reports, max_len)
    return PairedTensors(
        images=images_to_tensor(data.images),
        input_ids=input_ids,
        attention_mask=attention_mask,
        text_ids=torch.from_numpy(text_identity(data.reports)),
        labels=torch.from_numpy(np.asarray(data.labels, dtype=np.float32)),
        sites=torch.from_numpy(np.asarray(data.sites, dtype=np.int64)),
    )
