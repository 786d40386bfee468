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
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .config import Experiment, ModelConfig
from .evaluate import EvalSet, reference_embeddings
from .metrics import linear_cka, mean_sq_distance
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

    def load(self, key: str, evalset: EvalSet) -> dict[str, Any] | None:
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
        pair = {n: {"image": arrays[f"{n}_image"], "text": arrays[f"{n}_text"]} for n in names}
        return {"global": pair["global"], "sites": [pair[n] for n in names[1:]]}

    def save(self, key: str, reference: Mapping[str, Any]) -> bool:
        """Write `reference` under `key` (atomically); False if the folder cannot be written."""
        if self.root is None:
            return False
        arrays = {f"global_{m}": reference["global"][m] for m in ("image", "text")}
        for k, site in enumerate(reference["sites"]):
            arrays.update({f"site{k}_{m}": site[m] for m in ("image", "text")})
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, self.root / f"{key}.npz")
            old = sorted(self.root.glob("*.npz"), key=lambda p: p.stat().st_mtime)[:-MAX_ENTRIES]
            for path in old:
                path.unlink(missing_ok=True)
        except OSError:
            return False
        return True


def train_reference(cfg: Experiment, hospitals: Any, evalset: EvalSet, device: torch.device, workdir: str | Path, *,
                    stop: threading.Event | None = None,
                    on_round: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """Train the ideal for `cfg` (see `ideal_config`) and embed `evalset` with it; None if `stop` ended it early."""
    from .federated import run_federated
    from .model import load_model

    ideal_cfg = ideal_config(cfg)
    history = run_federated(ideal_cfg, on_round=on_round, stop=stop, checkpoint_dir=workdir, hospitals=hospitals,
                            evalset=evalset, device=device)
    if history.last_round < ideal_cfg.fed.rounds:
        return None
    return reference_embeddings(load_model(Path(workdir) / "model"), evalset, device)


def reference_metrics(emb: Mapping[str, Any], evalset: EvalSet, reference: Mapping[str, Any]) -> dict[str, float]:
    """The `*_to_ref` keys `evaluate(reference=...)` adds, from embeddings already made (`reference_embeddings`)."""
    def pair(e: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]) -> dict[str, float]:
        # the same formulas as evaluate.py: squared distance image + text, CKA averaged over the modalities
        return {"dist_to_ref": mean_sq_distance(e["image"], ref["image"]) + mean_sq_distance(e["text"], ref["text"]),
                "cka_to_ref": 0.5 * (linear_cka(e["image"], ref["image"]) + linear_cka(e["text"], ref["text"]))}

    out = pair(emb["global"], reference["global"])
    per_site = [pair(e, reference["sites"][k]) for k, (e, data) in enumerate(zip(emb["sites"], evalset.site_tests))
                if len(data) > 0]
    for key, worst in (("dist_to_ref", np.max), ("cka_to_ref", np.min)):   # distance: lower is better
        values = np.array([s[key] for s in per_site], dtype=np.float64)
        finite = values[np.isfinite(values)]
        out[f"worst_site_{key}"] = float(worst(finite)) if len(finite) else float("nan")
    return {k: float(v) for k, v in out.items()}
