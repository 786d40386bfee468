"""Numbers for the picture: what the eye should see in a map, measured in the frame's 2-D coordinates.

`finding_purity`, `pair_distance_ratio` and `layout_scores` are pure numpy on 2-D coordinates placed by an
`AlignmentFrame` (`frame`): they put a figure on what a reader of the map should see (same-finding points
together, each image near its report), so the eye has something to check itself against.
"""

from __future__ import annotations

import numpy as np

PURITY_K = 10
"""Neighbours per point for `finding_purity`: about what the eye takes in around one marker."""


def _finding_sets(labels: np.ndarray) -> np.ndarray:
    """(N,) integer code per case: equal codes mean exactly the same ground-truth finding set."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (N, findings) multi-hot, got shape {labels.shape}")
    return np.unique(labels != 0, axis=0, return_inverse=True)[1].reshape(-1)


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Na, Nb) Euclidean distances between the rows of two (N, 2) coordinate arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def finding_purity(image_xy: np.ndarray, text_xy: np.ndarray, labels: np.ndarray, k: int = PURITY_K,
                   modality: str = "both") -> float:
    """Mean share of each point's k nearest 2-D neighbours whose case has exactly its finding set.

    `modality="both"` pools images and reports (2N points) and skips each point's own partner
    (its case's other modality): that partner always shares the finding set, so counting it would
    reward pair alignment, which `pair_distance_ratio` measures, instead of finding structure.
    "image" or "report" uses that modality's N points only. Compare with `finding_purity_chance`.
    """
    codes = _finding_sets(labels)
    n = len(codes)
    if np.shape(image_xy) != (n, 2) or np.shape(text_xy) != (n, 2):
        raise ValueError(f"image_xy {np.shape(image_xy)} and text_xy {np.shape(text_xy)} must be ({n}, 2)")
    if modality == "both":
        xy, case = np.concatenate([image_xy, text_xy]), np.concatenate([np.arange(n), np.arange(n)])
    elif modality in ("image", "report"):
        xy, case = (image_xy if modality == "image" else text_xy), np.arange(n)
    else:
        raise ValueError(f"modality={modality!r}: choose 'both', 'image' or 'report'")
    if n < 2:
        return float("nan")
    dist = _pairwise(xy, xy)
    dist[case[:, None] == case[None, :]] = np.inf       # never the point itself nor its own partner
    k = min(k, len(xy) - (2 if modality == "both" else 1))
    # stable sort: coinciding points (distance ties) are taken in a fixed order, so results repeat
    near = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return float((codes[case][near] == codes[case][:, None]).mean())


def finding_purity_chance(labels: np.ndarray) -> float:
    """The expected `finding_purity` of a random layout: mean share of the other cases with a case's finding set.

    The same for every `modality`: a random neighbour of a point is a uniform draw from the other
    cases (images and reports alike), so it shares the finding set with probability (n_set - 1)/(N - 1).
    """
    codes = _finding_sets(labels)
    n = len(codes)
    if n < 2:
        return float("nan")
    counts = np.bincount(codes)
    return float(np.mean((counts[codes] - 1) / (n - 1)))


def pair_distance(image_xy: np.ndarray, text_xy: np.ndarray) -> float:
    """Mean 2-D distance between each image and its own report (the length of the map's pair lines)."""
    image_xy, text_xy = np.asarray(image_xy, np.float64), np.asarray(text_xy, np.float64)
    if image_xy.shape != text_xy.shape or image_xy.ndim != 2:
        raise ValueError(f"image_xy {image_xy.shape} and text_xy {text_xy.shape} must both be (N, 2)")
    return float(np.linalg.norm(image_xy - text_xy, axis=1).mean()) if len(image_xy) else float("nan")


def random_pair_distance(image_xy: np.ndarray, text_xy: np.ndarray) -> float:
    """Mean 2-D distance between an image and a report of another case (all N(N-1) mismatched pairs)."""
    n = len(image_xy)
    if n < 2:
        return float("nan")
    dist = _pairwise(image_xy, text_xy)
    return float((dist.sum() - np.trace(dist)) / (n * (n - 1)))


def pair_distance_ratio(image_xy: np.ndarray, text_xy: np.ndarray) -> float:
    """`pair_distance` / `random_pair_distance`: 0 = every image on its report, about 1 = no closer than chance.

    Scale-free, so panels and frames with different spreads compare; a model whose points all
    collapse onto one spot gets nan, not a perfect 0.
    """
    rand = random_pair_distance(image_xy, text_xy)
    return pair_distance(image_xy, text_xy) / rand if rand > 1e-12 else float("nan")


def layout_scores(image_xy: np.ndarray, text_xy: np.ndarray, labels: np.ndarray,
                  k: int = PURITY_K) -> dict[str, float]:
    """Finding purity (pooled, per modality, chance) and pair distance (raw, ratio to random) of one 2-D layout."""
    return {"purity": finding_purity(image_xy, text_xy, labels, k),
            "purity_image": finding_purity(image_xy, text_xy, labels, k, modality="image"),
            "purity_report": finding_purity(image_xy, text_xy, labels, k, modality="report"),
            "purity_chance": finding_purity_chance(labels),
            "pair_dist": pair_distance(image_xy, text_xy),
            "pair_ratio": pair_distance_ratio(image_xy, text_xy)}
