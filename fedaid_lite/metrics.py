"""Closed-form metrics of embeddings (pure numpy/scipy): retrieval, zero-shot AUROC, alignment geometry.

Embeddings are (N, D) arrays, L2-normalised, row i of `image_emb` paired with row i of `text_emb`.
Classifiers fitted on embeddings (linear probe, site probe) live in `probes.py`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Na, D), (Nb, D) unit rows -> (Na, Nb) cosine similarities (float64)."""
    return np.asarray(a, np.float64) @ np.asarray(b, np.float64).T


def first_hit_ranks(sim: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """(Nq,) 0-based rank of each query's best-scoring relevant item among the gallery.

    rank = number of *non-relevant* items scoring at least as high as the best relevant one: ties count
    against the model (pessimistic), so a collapsed model that scores everything equally ranks every
    relevant item behind all non-relevant ones and gets recall 0, never a flattering 100 %
    (docs/metrics.md, "Ties"). A query with no relevant item gets rank Ng (never a hit).
    """
    sim = np.asarray(sim, np.float64)
    relevant = np.asarray(relevant, bool)
    best = np.where(relevant, sim, -np.inf).max(axis=1, initial=-np.inf)     # (Nq,)
    ranks = ((sim >= best[:, None]) & ~relevant).sum(axis=1)
    return np.where(np.isfinite(best), ranks, sim.shape[1])


def recall_at_k(sim: np.ndarray, relevant: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """{k: share of queries with a relevant item in the top k}; `relevant` (Nq, Ng) bool."""
    ranks = first_hit_ranks(sim, relevant)
    return {k: float(np.mean(ranks < k)) if len(ranks) else float("nan") for k in ks}


def precision_at_k(sim: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Mean over queries of the share of the top-k items that are relevant (ties: lower index first)."""
    sim = np.asarray(sim, np.float64)
    if sim.shape[0] == 0:
        return float("nan")
    k = min(k, sim.shape[1])
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]                     # (Nq, k)
    return float(np.take_along_axis(np.asarray(relevant, bool), top, axis=1).mean())


def same_text(text_ids: np.ndarray) -> np.ndarray:
    """(N, N) bool: reports i and j have identical text (the diagonal is True)."""
    t = np.asarray(text_ids)
    return t[:, None] == t[None, :]


def same_findings(labels_q: np.ndarray, labels_g: np.ndarray) -> np.ndarray:
    """(Nq, Ng) bool: the two cases have exactly the same ground-truth finding set."""
    return (np.asarray(labels_q)[:, None, :] == np.asarray(labels_g)[None, :, :]).all(axis=2)


def instance_retrieval(image_emb: np.ndarray, text_emb: np.ndarray, text_ids: np.ndarray,
                       ks: Sequence[int] = (1, 5, 10), n_queries: int | None = None) -> dict[str, float]:
    """i2t_r{k}, t2i_r{k}: a hit is the paired item or any item whose report text is identical.

    `n_queries`: only the first n pairs are queries; all N rows stay in the gallery (the rest are
    distractors, so a small set can be scored in a gallery as large as another's).
    """
    q = len(image_emb) if n_queries is None else n_queries
    rel = same_text(text_ids)[:q]                                             # (q, N); same_text is symmetric
    out = {f"i2t_r{k}": v for k, v in recall_at_k(similarity(image_emb[:q], text_emb), rel, ks).items()}
    out.update({f"t2i_r{k}": v for k, v in recall_at_k(similarity(text_emb[:q], image_emb), rel, ks).items()})
    return out


def semantic_retrieval(image_emb: np.ndarray, text_emb: np.ndarray, labels: np.ndarray,
                       ks: Sequence[int] = (5,), n_queries: int | None = None) -> dict[str, float]:
    """sem_{i2t,t2i}_{r,p}{k}: a hit is any item with the query's exact ground-truth finding set.

    `n_queries` as in `instance_retrieval`: the first n rows query, all N rows form the gallery.
    """
    q = len(image_emb) if n_queries is None else n_queries
    rel = same_findings(labels[:q], labels)                                   # (q, N)
    out: dict[str, float] = {}
    for name, s in (("i2t", similarity(image_emb[:q], text_emb)), ("t2i", similarity(text_emb[:q], image_emb))):
        recalls = recall_at_k(s, rel, ks)
        for k in ks:
            out[f"sem_{name}_r{k}"] = recalls[k]
            out[f"sem_{name}_p{k}"] = precision_at_k(s, rel, k)
    return out


def semantic_chance(labels: np.ndarray, n_queries: int | None = None) -> float:
    """Semantic P@k of a model that ranks at random: the mean share of the gallery with the query's finding set.

    `n_queries` as in `semantic_retrieval`: the first n rows query, all N rows form the gallery.
    """
    q = len(labels) if n_queries is None else n_queries
    rel = same_findings(labels[:q], labels)
    return float(rel.mean()) if len(rel) else float("nan")


def zero_shot_scores(image_emb: np.ndarray, positive_emb: np.ndarray, negative_emb: np.ndarray) -> np.ndarray:
    """(N,) cos(image, mean positive prompt) - cos(image, mean negative prompt)."""
    def cos_to_mean(prompts: np.ndarray) -> np.ndarray:
        centre = np.asarray(prompts, np.float64).mean(axis=0)                  # (D,) the prompt ensemble
        return np.asarray(image_emb, np.float64) @ centre / max(np.linalg.norm(centre), 1e-12)
    return cos_to_mean(positive_emb) - cos_to_mean(negative_emb)


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (ties count half), or nan when `y_true` lacks a positive or a negative.

    Computed as the Mann-Whitney statistic, P(score of a random positive > a random negative): the
    same number as `sklearn.metrics.roc_auc_score`, without its per-call overhead (evaluate calls it
    hundreds of times per round).
    """
    y = np.asarray(y_true) > 0
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, np.float64))                          # 1-based, ties averaged
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def macro(values: Mapping[str, float]) -> float:
    """Mean of the non-nan values (nan if none)."""
    v = np.array([x for x in values.values() if np.isfinite(x)])
    return float(v.mean()) if len(v) else float("nan")


def zero_shot_auroc(image_emb: np.ndarray, prompt_emb: Mapping[str, tuple[np.ndarray, np.ndarray]],
                    labels: np.ndarray, findings: Sequence[str]) -> tuple[float, dict[str, float]]:
    """(macro AUROC, per finding) of zero-shot scores; `prompt_emb[f]` = (positive (P,D), negative (Q,D)).

    `labels` (N, F) columns follow `findings`; findings with no positive or no negative case are skipped.
    """
    per = {f: auroc(labels[:, list(findings).index(f)], zero_shot_scores(image_emb, pos, neg))
           for f, (pos, neg) in prompt_emb.items()}
    return macro(per), per


def diag_cos(image_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Mean cosine of matched pairs (FedDRA's `diag_cos_mean`)."""
    return float(np.mean(np.sum(np.asarray(image_emb, np.float64) * text_emb, axis=1)))


def alignment(image_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Wang & Isola (2020) L_align, alpha = 2: mean ||x_i - y_i||^2 over pairs (= 2 - 2 diag_cos); lower is better."""
    d = np.asarray(image_emb, np.float64) - text_emb
    return float(np.mean(np.sum(d * d, axis=1)))


def uniformity(emb: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola (2020) L_uniform: log mean over pairs i<j of exp(-t ||x_i - x_j||^2); lower is better."""
    x = np.asarray(emb, np.float64)
    if len(x) < 2:
        return float("nan")
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)           # (N, N) squared distances
    iu = np.triu_indices(len(x), k=1)
    v = -t * d2[iu]
    return float(np.log(np.mean(np.exp(v - v.max()))) + v.max())            # stable log-mean-exp


def modality_gap(image_emb: np.ndarray, text_emb: np.ndarray, atol: float = 1e-3) -> float:
    """Liang et al. (2022): ||mean image embedding - mean text embedding|| of (N, D) unit-norm rows."""
    image_emb, text_emb = np.asarray(image_emb, np.float64), np.asarray(text_emb, np.float64)
    if not (np.all(np.isfinite(image_emb)) and np.all(np.isfinite(text_emb))):
        return float("nan")                  # a diverged model: NaN like every other metric, not an error
    for name, emb in (("image_emb", image_emb), ("text_emb", text_emb)):
        # The gap is defined on the unit sphere; on raw features it would measure scale, not separation.
        norms = np.linalg.norm(emb, axis=1)
        if emb.ndim != 2 or not np.all(np.abs(norms - 1.0) <= atol):
            raise ValueError(f"modality_gap: {name} rows must be L2-normalised (norms {norms.min():.3g} to "
                             f"{norms.max():.3g}); pass the model's normalised embeddings")
    return float(np.linalg.norm(image_emb.mean(0) - text_emb.mean(0)))


def mean_sq_distance(emb: np.ndarray, reference: np.ndarray) -> float:
    """Mean over rows of ||emb_i - reference_i||^2 (same samples, two models)."""
    d = np.asarray(emb, np.float64) - reference
    return float(np.mean(np.sum(d * d, axis=1)))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) between (N, D1) and (N, D2): 1 = same geometry up to rotation/scale."""
    x = np.asarray(x, np.float64) - np.mean(x, axis=0)
    y = np.asarray(y, np.float64) - np.mean(y, axis=0)
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denom) if denom > 0 else float("nan")


def same_site_share(image_emb: np.ndarray, text_emb: np.ndarray, sites: np.ndarray, k: int = 5) -> float:
    """Share of each image's top-k retrieved reports that come from the image's own site (mean over queries).

    Compare with `same_site_chance`: far above it, the model matches images to reports by hospital
    (scanner look, report template) rather than by content, a shortcut that instance R@k rewards.
    """
    sim, sites = similarity(image_emb, text_emb), np.asarray(sites)
    if sim.shape[0] == 0:
        return float("nan")
    top = np.argsort(-sim, axis=1, kind="stable")[:, :min(k, sim.shape[1])]      # (N, k)
    return float((sites[top] == sites[:, None]).mean())


def same_site_chance(sites: np.ndarray) -> float:
    """The `same_site_share` of a model that ignores the site: the mean share of a query's site in the gallery."""
    _, codes, counts = np.unique(np.asarray(sites), return_inverse=True, return_counts=True)
    return float(np.mean(counts[codes] / len(codes))) if len(codes) else float("nan")


def within_site_recall(image_emb: np.ndarray, text_emb: np.ndarray, text_ids: np.ndarray, sites: np.ndarray,
                       k: int = 5) -> float:
    """Image->text R@k with each query's gallery restricted to its own site's reports (mean over queries).

    The site cue cannot help here: every candidate comes from the same hospital, so only content matches.
    """
    sim, rel, sites = similarity(image_emb, text_emb), same_text(text_ids), np.asarray(sites)
    hits = []
    for s in np.unique(sites):
        ix = np.flatnonzero(sites == s)
        hits.append(first_hit_ranks(sim[np.ix_(ix, ix)], rel[np.ix_(ix, ix)]) < k)
    return float(np.concatenate(hits).mean()) if hits else float("nan")
