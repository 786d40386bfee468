"""What every alignment map starts from: a few test cases, and their embeddings under one or more models.

    test = viz.map_cases(hospitals, 150, seed=0)                      # a site-stratified test subset
    emb = viz.embed_subset({"ideal": run / "model", "FedAvg": model}, test, hospitals.tokenizer)
    frame = viz.AlignmentFrame.fit(*emb["ideal"], seed=0)
    viz.alignment_map(frame, emb, test)
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
import torch

from ..data.tensors import to_tensors
from ..data.types import Hospitals, PairedData
from ..metrics import mean_sq_distance
from ..model import DualEncoder, load_model
from ..train import embed
from .frame import frame_subset

Embeddings = tuple[np.ndarray, np.ndarray]
"""(image_emb, text_emb), (N, D) each, for a map's N cases in the frame's order."""
PanelInput = Union[Embeddings, Sequence[Embeddings]]
"""One model's embeddings, or one per round (a map with a round slider)."""
ModelLike = Union[DualEncoder, str, Path]
"""A model, or the folder a saved one is in (`model.load_model`)."""


def map_cases(hospitals: Hospitals, n: int, seed: int = 0) -> PairedData:
    """`n` cases of the global test set, stratified by site (`frame_subset`): the points of a map."""
    test = hospitals.global_test
    return test.subset(frame_subset(test.sites, n, seed=seed))


def embed_subset(models: ModelLike | Mapping[str, ModelLike], subset: PairedData, tokenizer: object,
                 device: str | torch.device = "cpu") -> Embeddings | dict[str, Embeddings]:
    """(image_emb, text_emb) of `subset` under a model (or a saved model's folder); {name: ...} for a mapping.

    Reports are tokenised with `tokenizer` (the hospitals') to each model's own `max_text_len`.
    """
    if not isinstance(models, Mapping):
        return embed_subset({"model": models}, subset, tokenizer, device)["model"]
    device = torch.device(device)
    out: dict[str, Embeddings] = {}
    tensors = {}   # models of one config share the tokenised subset
    for name, model in models.items():
        model = model if isinstance(model, DualEncoder) else load_model(model)
        max_len = model.cfg.max_text_len
        if max_len not in tensors:
            tensors[max_len] = to_tensors(subset, tokenizer, max_len)
        out[name] = embed(model, tensors[max_len], device)
    return out


def panels(emb: Mapping[str, Embeddings], *names: str) -> dict[str, Embeddings]:
    """The named models' embeddings, in that order: the panels of a map that shows only some of them."""
    missing = [n for n in names if n not in emb]
    if missing:
        raise KeyError(f"no embeddings for {', '.join(missing)}; have: {', '.join(emb)}")
    return {name: emb[name] for name in names}


def is_single(value: PanelInput) -> bool:
    """True for one (image_emb, text_emb) pair, False for a sequence of them (one per round)."""
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(a, np.ndarray) and a.ndim == 2 for a in value))


def last_rounds(panels: Mapping[str, PanelInput]) -> dict[str, Embeddings]:
    """{name: (image_emb, text_emb)}, the last round of a panel given per-round embeddings."""
    return {name: value if is_single(value) else list(value)[-1] for name, value in panels.items()}  # type: ignore


def drift_from(emb: Mapping[str, Embeddings], reference: str) -> dict[str, float]:
    """{model: mean squared distance of its image plus report embeddings from `reference`'s, case by case}."""
    ref_image, ref_text = emb[reference]
    return {name: mean_sq_distance(image, ref_image) + mean_sq_distance(text, ref_text)
            for name, (image, text) in emb.items() if name != reference}


def format_drift(drift: Mapping[str, float]) -> str:
    """One line per model: its distance to the reference (`drift_from`), three decimals."""
    return "\n".join(f"{name:>30}: {d:.3f}" for name, d in drift.items())
