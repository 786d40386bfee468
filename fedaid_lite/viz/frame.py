"""A fixed 2-D frame for embeddings: UMAP fit once on the ideal model, every other model transformed into it.

Refitting UMAP per model (or per round) moves every point, so "FedAvg drifted" could not be told
apart from "UMAP drew it differently". `AlignmentFrame` fits once on a reference model's image and
text embeddings of a fixed evaluation subset and places any other embeddings of *the same cases*
with `.transform`, so the axes mean the same thing in every panel and every round.

Numba's compile cost: umap-learn marks only one of its ~120 jitted functions `cache=True`, so each
new kernel pays ~10 s of JIT on its first fit even with `NUMBA_CACHE_DIR` set. `_patch_numba` makes
`cache=True` the default while umap is imported (docs/budgets.md, "Measured facts"), and `warm_numba_cache` fills
the cache once (Binder's postBuild runs it) so the first map in a class does not stall. Notebook 00 warms it
in a background thread (`warm_numba_cache_in_background`) while the student reads; every UMAP fit and
transform takes `_UMAP_LOCK`, so a map drawn before the warm-up ends waits for it instead of running umap's
numba code from two threads at once.

The numbers measured on a layout in the frame (finding purity, pair distance) are in `layout`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_NUMBA_CACHE = Path.home() / ".cache" / "fedaid-lite" / "numba"
_UMAP_LOCK = threading.RLock()   # one UMAP fit/transform at a time per process (the warm-up thread included)


def numba_cache_dir() -> Path:
    """Where numba writes compiled functions: `$NUMBA_CACHE_DIR`, set to a project default when unset."""
    path = Path(os.environ.setdefault("NUMBA_CACHE_DIR", str(DEFAULT_NUMBA_CACHE)))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _patch_numba() -> bool:
    """Default numba's `cache=True` (njit and jit) so umap's functions are cached; False if umap is already in.

    Must run before the first `import umap`: its decorators run at import time. The cache directory
    is also pushed into numba's config in case numba was imported before the variable was set.
    """
    if "umap" in sys.modules:
        return False
    cache_dir = numba_cache_dir()
    import numba  # here, not at the top: numba is heavy, and only a map needs it
    from numba.core import config

    if not config.CACHE_DIR:
        config.CACHE_DIR = str(cache_dir)
    if getattr(numba.njit, "_fedaid_lite_cache", False):
        return True
    njit, jit = numba.njit, numba.jit

    def cached_njit(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cache", True)
        return njit(*args, **kwargs)

    def cached_jit(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cache", True)
        return jit(*args, **kwargs)

    cached_njit._fedaid_lite_cache = cached_jit._fedaid_lite_cache = True  # type: ignore[attr-defined]
    numba.njit, numba.jit = cached_njit, cached_jit
    return True


def _umap() -> Any:
    """The `umap` module, imported after `_patch_numba` so its jitted functions land in the cache."""
    _patch_numba()
    import umap  # here, not at the top: after the patch above, and only when a map is drawn

    return umap


def warm_numba_cache(n: int = 120, dim: int = 16, seed: int = 0) -> float:
    """Fit and transform a tiny random frame so numba's cache holds umap's code; returns seconds taken."""

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    image_emb = rng.normal(size=(n, dim)).astype(np.float32)
    text_emb = image_emb + 0.3 * rng.normal(size=(n, dim)).astype(np.float32)
    with _UMAP_LOCK:   # a map drawn meanwhile waits for the compiled code instead of compiling it alongside
        frame = AlignmentFrame.fit(image_emb, text_emb, seed=seed)
        frame.transform(text_emb, image_emb)
    return time.perf_counter() - started


def warm_numba_cache_in_background() -> threading.Thread:
    """Start `warm_numba_cache` in a daemon thread and return it (notebook 00 does, while the student reads).

    A map drawn before it ends waits for it (`_UMAP_LOCK`). If the warm-up fails, one line on stderr says
    so and the first map compiles umap's code itself: nothing the notebook computed is lost.
    """
    def warm() -> None:
        try:
            warm_numba_cache()
        except Exception as err:   # a warm-up only saves time: say what happened, never raise in a thread
            print(f"fedaid-lite: warming the map's compiled code failed ({type(err).__name__}: {err}); "
                  "the first map will compile it instead (slower, same picture)", file=sys.stderr)

    thread = threading.Thread(target=warm, name="fedaid-lite-numba-warm-up", daemon=True)
    thread.start()
    return thread


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class AlignmentFrame:
    """A 2-D layout fit once on reference embeddings; `.transform` places other models' embeddings in it."""

    def __init__(self, image_xy: np.ndarray, text_xy: np.ndarray, reference: tuple[np.ndarray, np.ndarray],
                 mapper: Any, method: str, seed: int) -> None:
        self.image_xy, self.text_xy = image_xy, text_xy   # (N, 2) each: the reference's own layout
        self.reference = reference                        # (image_emb, text_emb), (N, D) each, normalised
        self.method, self.seed = method, seed
        self._mapper = mapper                             # fitted umap.UMAP, or (mean, components) for PCA

    @classmethod
    def fit(cls, image_emb: np.ndarray, text_emb: np.ndarray, *, seed: int = 0, method: str = "umap",
            n_neighbors: int = 15, min_dist: float = 0.25, n_epochs: int = 200) -> "AlignmentFrame":
        """Fit the frame on one model's (N, D) image and text embeddings of the same N cases."""
        image_emb, text_emb = _normalise(image_emb), _normalise(text_emb)
        if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
            raise ValueError(f"image_emb {image_emb.shape} and text_emb {text_emb.shape} must both be (N, D)")
        n = len(image_emb)
        if n < 4:
            raise ValueError(f"an alignment frame needs at least 4 cases, got {n}")
        both = np.concatenate([image_emb, text_emb])      # (2N, D): images first, then their reports
        if method == "pca":
            mean = both.mean(axis=0)
            # SVD sign is arbitrary; fix it so the same data always gives the same picture
            _, _, vt = np.linalg.svd(both - mean, full_matrices=False)
            components = vt[:2] * np.sign(vt[:2, :1] + 1e-12)
            xy = (both - mean) @ components.T
            mapper: Any = (mean, components)
        elif method == "umap":
            with _UMAP_LOCK:
                umap = _umap()
                mapper = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, 2 * n - 1), min_dist=min_dist,
                                   n_epochs=n_epochs, metric="cosine", random_state=seed, transform_seed=seed,
                                   init="spectral", low_memory=True, n_jobs=1)
                xy = mapper.fit_transform(both)
        else:
            raise ValueError(f"unknown frame method {method!r}; choose 'umap' or 'pca'")
        xy = np.asarray(xy, dtype=np.float64)
        return cls(xy[:n], xy[n:], (image_emb, text_emb), mapper, method, seed)

    def __len__(self) -> int:
        return len(self.image_xy)

    def transform(self, image_emb: np.ndarray, text_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(image_xy, text_xy), (N, 2) each, for another model's embeddings of the frame's N cases."""
        image_emb, text_emb = _normalise(image_emb), _normalise(text_emb)
        if image_emb.shape != self.reference[0].shape or text_emb.shape != self.reference[1].shape:
            raise ValueError(f"embeddings {image_emb.shape}/{text_emb.shape} do not match the frame's "
                             f"{self.reference[0].shape}: embed the same cases with the same embed_dim")
        if np.array_equal(image_emb, self.reference[0]) and np.array_equal(text_emb, self.reference[1]):
            return self.image_xy.copy(), self.text_xy.copy()   # the reference itself: its exact layout
        n = len(image_emb)
        both = np.concatenate([image_emb, text_emb])
        if self.method == "pca":
            mean, components = self._mapper
            xy = (both - mean) @ components.T
        else:
            with _UMAP_LOCK:
                xy = self._mapper.transform(both)         # seeded by transform_seed: repeatable
        xy = np.asarray(xy, dtype=np.float64)
        return xy[:n], xy[n:]

    def bounds(self, pad: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
        """((xmin, xmax), (ymin, ymax)) of the reference layout with a margin: fixed axes for every panel."""
        xy = np.concatenate([self.image_xy, self.text_xy])
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.maximum(hi - lo, 1e-6)
        lo, hi = lo - pad * span, hi + pad * span
        return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def frame_subset(sites: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of at most `n` cases drawn evenly across sites (sorted, seeded): the frame's fixed subset."""
    sites = np.asarray(sites)
    rng = np.random.default_rng(seed)
    if len(sites) <= n:
        return np.arange(len(sites))
    groups = [np.flatnonzero(sites == s) for s in np.unique(sites)]
    per = max(1, n // len(groups))
    chosen = [rng.permutation(g)[:per] for g in groups]
    picked = np.concatenate(chosen)
    if len(picked) < n:   # top up from whatever is left, still seeded
        rest = np.setdiff1d(np.arange(len(sites)), picked)
        picked = np.concatenate([picked, rng.permutation(rest)[: n - len(picked)]])
    return np.sort(picked[:n])
