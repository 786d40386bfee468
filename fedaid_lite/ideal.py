"""The ideal (centralized) reference: train it once, keep its held-out embeddings, cache them on disk.

"Distance to ideal" compares a federated model's embeddings of the held-out sets with those of a
model trained centrally on the pooled data with the same config. Training that model is the slow
part of showing the metric (the class config: seconds per round), and its result depends only on
the config, the code and the library versions, so `ReferenceCache` keeps the embeddings (not the
model; ~0.3 MB for the class config) under a key hashing exactly those. Same key → same numbers (the
run is seeded); anything else → another key, so a cached reference is never used for a different
config. The cache lives in the user's cache folder (`$FEDAID_LITE_CACHE`, else
`~/.cache/fedaid-lite/ideal`), so it works when the package is installed read-only; a folder that
cannot be written just means no caching.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .config import Experiment, ModelConfig
from .data.types import Hospitals
from .evaluate import EvalEmbeddings, EvalSet, PairEmbeddings, reference_distances, reference_embeddings, worst_site
from .federated import run_federated
from .history import atomic_write_bytes
from .pretrain import META_FILE, checkpoint_path

CACHE_FORMAT = 1
CACHE_ENV = "FEDAID_LITE_CACHE"
MAX_ENTRIES = 64                 # ~0.3 MB each for the class config; the oldest go first
PKG = Path(__file__).resolve().parent


def ideal_config(cfg: Experiment) -> Experiment:
    """`cfg` as the ideal run: the centralized algorithm, evaluated only at its last round (no curves needed)."""
    return cfg.override({"fed.algorithm": "centralized", "fed.eval_every": cfg.fed.rounds})


def reference_key(cfg: Experiment) -> str:
    """Hex digest of what determines the ideal's embeddings: config, this package's code, torch, numpy, towers."""
    code = hashlib.sha256()
    for path in sorted(PKG.rglob("*.py")):       # any code change may change the numbers: a new key
        code.update(path.relative_to(PKG).as_posix().encode() + b"\0" + path.read_bytes())
    parts = {"format": CACHE_FORMAT, "config": ideal_config(cfg).to_dict(), "code": code.hexdigest(),
             "torch": torch.__version__, "numpy": np.__version__, "towers": towers_digest(cfg.model)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def towers_digest(model: ModelConfig) -> str | None:
    """The sha256 of the pretrained towers the run starts from (None for scratch or a missing checkpoint)."""
    if model.init != "pretrained":
        return None
    try:
        return json.loads((checkpoint_path(model) / META_FILE).read_text()).get("weights_sha256")
    except (OSError, ValueError, AttributeError):
        return None


def default_cache_dir() -> Path:
    """`$FEDAID_LITE_CACHE/ideal` when the variable is set, else `~/.cache/fedaid-lite/ideal`."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "fedaid-lite") / "ideal"


class ReferenceCache:
    """Reference embeddings on disk, one `.npz` per key; `root=None` caches nothing. Never raises on I/O."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else Path(root)

    def load(self, key: str, evalset: EvalSet) -> EvalEmbeddings | None:
        """The cached reference for `key`, or None (absent, unreadable, or not shaped like `evalset`)."""
        if self.root is None:
            return None
        try:
            with np.load(self.root / f"{key}.npz", allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
        except (OSError, ValueError, KeyError):
            return None
        sets = (evalset.global_test, *evalset.site_tests)
        names = ["global", *[f"site{k}" for k in range(len(evalset.site_tests))]]
        if any(f"{n}_{m}" not in arrays or len(arrays[f"{n}_{m}"]) != len(s)
               for n, s in zip(names, sets) for m in ("image", "text")):
            return None
        pair = {n: PairEmbeddings(arrays[f"{n}_image"], arrays[f"{n}_text"]) for n in names}
        return EvalEmbeddings(pair["global"], tuple(pair[n] for n in names[1:]))

    def save(self, key: str, reference: EvalEmbeddings) -> bool:
        """Write `reference` under `key` (atomically); False if the folder cannot be written."""
        if self.root is None:
            return False
        sets = {"global": reference.global_test, **{f"site{k}": e for k, e in enumerate(reference.site_tests)}}
        arrays = {f"{n}_{m}": getattr(e, m) for n, e in sets.items() for m in ("image", "text")}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        try:
            atomic_write_bytes(self.root / f"{key}.npz", buffer.getvalue())
            old = sorted(self.root.glob("*.npz"), key=lambda p: p.stat().st_mtime)[:-MAX_ENTRIES]
            for path in old:
                path.unlink(missing_ok=True)
        except OSError:
            return False
        return True


def train_reference(cfg: Experiment, hospitals: Hospitals, evalset: EvalSet, device: torch.device,
                    workdir: str | Path, *, stop: threading.Event | None = None,
                    on_round: Callable[[dict[str, Any]], None] | None = None) -> EvalEmbeddings | None:
    """Train the ideal for `cfg` (see `ideal_config`) and embed `evalset` with it; None if `stop` ended it early.

    `on_round(record)` is a progress callback (the ideal's weights are not shown while it trains).
    """
    ideal_cfg = ideal_config(cfg)
    run = run_federated(ideal_cfg, on_round=None if on_round is None else lambda record, _trained: on_round(record),
                        stop=stop, checkpoint_dir=workdir, hospitals=hospitals, evalset=evalset, device=device)
    if run.last_round < ideal_cfg.fed.rounds:
        return None
    return reference_embeddings(run.model, evalset, device)     # the model just trained, not reloaded


def reference_metrics(emb: EvalEmbeddings, evalset: EvalSet, reference: EvalEmbeddings) -> dict[str, float]:
    """The `*_to_ref` keys `evaluate(reference=...)` adds, from embeddings already made (`reference_embeddings`)."""
    out = reference_distances(emb.global_test, reference.global_test)
    per_site = [reference_distances(e, reference.site_tests[k])
                for k, (e, data) in enumerate(zip(emb.site_tests, evalset.site_tests)) if len(data) > 0]
    for key in ("dist_to_ref", "cka_to_ref"):
        out[f"worst_site_{key}"] = worst_site(key, [s[key] for s in per_site])
    return {k: float(v) for k, v in out.items()}
