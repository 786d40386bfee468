"""The in-memory containers every layer above `data/` speaks: paired cases and hospitals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

FINDINGS = ("cardiomegaly", "pleural_effusion", "consolidation", "pneumothorax", "nodule",
            "edema", "atelectasis", "support_devices", "no_finding")
"""Ground-truth label columns, in order. `no_finding` is derived: 1 iff no other finding is present."""

MENTION_CODES = {"positive": 1, "negated": 0, "uncertain": -1, "not_mentioned": -2}
"""How `PairedData.mentions` encodes what a report says about each finding (apart from the truth)."""


@dataclass(frozen=True)
class PairedData:
    """N image–report pairs from one split of one or more sites (numpy, CPU, no torch).

    `images` are at the model input size; `labels` and `mentions` follow `FINDINGS`; `sites`
    indexes `site_names`. `meta` rows hold per-case extras (view, attributes, acquisition, seed).
    """

    images: np.ndarray            # (N, H, W) uint8, grayscale, already resized to the model input
    reports: tuple[str, ...]      # (N,) report text, FINDINGS/IMPRESSION sections
    labels: np.ndarray            # (N, F) int8 in {0, 1}, ground truth
    sites: np.ndarray             # (N,) int64 index into site_names
    site_names: tuple[str, ...]
    ids: tuple[str, ...]
    patient_ids: tuple[str, ...]
    mentions: np.ndarray | None = None   # (N, F) int8, MENTION_CODES; None when unknown (real data)
    meta: tuple[dict[str, Any], ...] = field(default=())  # per-case extras; () when absent

    def __post_init__(self) -> None:
        n = len(self.images)
        for name in ("reports", "labels", "sites", "ids", "patient_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"PairedData.{name} has {len(getattr(self, name))} rows, images has {n}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Sequence[int] | np.ndarray) -> "PairedData":
        """The rows at `index`, in that order."""
        idx = np.asarray(index, dtype=np.int64)
        return PairedData(
            images=self.images[idx], reports=tuple(self.reports[i] for i in idx),
            labels=self.labels[idx], sites=self.sites[idx], site_names=self.site_names,
            ids=tuple(self.ids[i] for i in idx), patient_ids=tuple(self.patient_ids[i] for i in idx),
            mentions=None if self.mentions is None else self.mentions[idx],
            meta=tuple(self.meta[i] for i in idx) if self.meta else (),
        )

    @classmethod
    def concat(cls, parts: Sequence["PairedData"]) -> "PairedData":
        """Rows of all `parts` in order; they must share `site_names`."""
        if not parts:
            raise ValueError("PairedData.concat needs at least one part")
        names = parts[0].site_names
        if any(p.site_names != names for p in parts):
            raise ValueError("PairedData.concat: parts come from different site lists")
        has_mentions = all(p.mentions is not None for p in parts)
        has_meta = all(p.meta for p in parts)
        return cls(
            images=np.concatenate([p.images for p in parts]),
            reports=tuple(r for p in parts for r in p.reports),
            labels=np.concatenate([p.labels for p in parts]),
            sites=np.concatenate([p.sites for p in parts]),
            site_names=names,
            ids=tuple(i for p in parts for i in p.ids),
            patient_ids=tuple(i for p in parts for i in p.patient_ids),
            mentions=np.concatenate([p.mentions for p in parts]) if has_mentions else None,
            meta=tuple(m for p in parts for m in p.meta) if has_meta else (),
        )


@dataclass(frozen=True)
class Hospitals:
    """Per-site train/val/test splits (split by patient) plus one global balanced test set."""

    site_names: tuple[str, ...]
    train: tuple[PairedData, ...]   # one per site, in site_names order
    val: tuple[PairedData, ...]
    test: tuple[PairedData, ...]
    global_test: PairedData
    tokenizer: Any                  # transformers.PreTrainedTokenizerFast trained on the training reports
    info: dict[str, Any] = field(default_factory=dict)  # resolved generator config, site profiles, source

    @property
    def num_sites(self) -> int:
        return len(self.site_names)

    def pooled(self, split: str = "train") -> PairedData:
        """All sites' rows of one split ('train', 'val' or 'test') in one PairedData."""
        return PairedData.concat(getattr(self, split))
