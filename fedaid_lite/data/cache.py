"""Built hospitals kept on disk, by data config: a second visit loads them instead of generating them again.

`load_hospitals` is deterministic in its config (the generator is seeded), so a pickle of its result
is found again under a key made of that config, the data package's code and the library versions
(any change gives a new key: a cached result is never used for other hospitals). A manifest config
is not cached (its files may change under the same config). The pickle lives in the user's own
cache folder (what the dashboard already uses for the ideal), written atomically; an entry that
cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

from .manifest import load_hospitals
from ..config import DataConfig
from .types import Hospitals

PKG = Path(__file__).resolve().parent
FORMAT = 1
MAX_ENTRIES = 8                  # ~7 MB each for the class config; the oldest go first


def hospitals_key(cfg: DataConfig) -> str:
    """Hex digest of what determines `load_hospitals(cfg)`: the config, this package's code, the libraries."""
    code = hashlib.sha256()
    for path in [*sorted(PKG.rglob("*.py")), PKG.parent / "config.py"]:   # the generator and its config's rules
        code.update(path.name.encode() + b"\0" + path.read_bytes())
    versions = {name: _version(name) for name in ("tokenizers", "transformers")}
    parts = {"format": FORMAT, "config": dataclasses.asdict(cfg), "code": code.hexdigest(),
             "numpy": np.__version__, **versions}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load_hospitals_cached(cfg: DataConfig, root: str | Path | None, workers: int = 1) -> Hospitals:
    """`load_hospitals(cfg)`, from `root/<key>.pkl` when it is there, else built and saved there (root None: built).

    `workers`: processes generating synthetic cases when they are built (`generate_cases`).
    """
    if root is None or cfg.manifest:
        return load_hospitals(cfg, workers)
    path = Path(root) / f"{hospitals_key(cfg)}.pkl"
    try:
        with open(path, "rb") as f:
            hospitals = pickle.load(f)
        if isinstance(hospitals, Hospitals):
            return hospitals
    except Exception:  # noqa: BLE001 - absent, truncated or from another version: build it again
        pass
    hospitals = load_hospitals(cfg, workers)
    _save(path, hospitals)
    return hospitals


def _save(path: Path, hospitals: Hospitals) -> None:
    """Write atomically; a folder that cannot be written only means no cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(hospitals, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        for old in sorted(path.parent.glob("*.pkl"), key=lambda p: p.stat().st_mtime)[:-MAX_ENTRIES]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        if "tmp" in locals():
            Path(tmp).unlink(missing_ok=True)


def _version(name: str) -> str | None:
    try:
        return __import__(name).__version__
    except ImportError:
        return None
