"""The evaluation suite: held-out data prepared once, then one flat metrics dict per model.

Global metrics use the global balanced test set; per-site metrics use each site's own test split and
are summarised as `worst_site_<key>`: the minimum over sites for higher-is-better metrics, the
maximum for the lower-is-better ones in `LOWER_IS_BETTER` (align, uniformity, modality gap, distance
to the reference). The site probe is global only (it needs several sites at once).

Retrieval depends on the gallery's size (R@5 among 10 candidates is 50 % by chance, among 300 it is
1.7 %), so a site's retrieval keys are measured in a gallery as large as the global one: its own test
pairs are the queries, and pairs drawn from the global test set (seeded; never the site's own cases) fill
the gallery up to the global set's size. Then `worst_site_i2t_r5` has the chance of `i2t_r5`, and
`worst_site_sem_p5_chance` / `worst_site_i2t_r5_chance` give the chance of the site that is worst.

With a `reference` (the ideal, centralized model's embeddings of the same samples):
dist_to_ref = mean_i ||z_v,i - z̄_v,i||² + mean_i ||z_t,i - z̄_t,i||² (FedAID's binding term, on held-out
data), and cka_to_ref = linear CKA per modality, averaged over image and text.
Zero-shot prompts (`data.prompts`): ensembles of one-finding reports in the report writer's phrasings by default
(on validation they lift the ideal's zero-shot from 0.74 with two bare phrases per side to 0.85; r16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .config import ModelConfig
from .data import zero_shot_prompts
from .data.tensors import PairedTensors, images_to_tensor, to_tensors, tokenize
from .data.types import FINDINGS, Hospitals
from .metrics import (alignment, diag_cos, instance_retrieval, linear_cka, mean_sq_distance, modality_gap,
                      same_site_chance, same_site_share, semantic_chance, semantic_retrieval, uniformity,
                      within_site_recall, zero_shot_auroc)
from .model import DualEncoder
from .probes import chance_accuracy, fit_linear_probes, probe_auroc, site_probe_accuracy
from .train import embed, embed_images, embed_texts

LOWER_IS_BETTER = frozenset({"align", "uniform_img", "uniform_txt", "modality_gap", "dist_to_ref"})
PROBE_FRACTIONS = {"linprobe_auroc_1": 0.01, "linprobe_auroc_10": 0.1, "linprobe_auroc_100": 1.0}
PROMPT_KINDS = ("positive", "negative", "positive_heldout", "negative_heldout")


@dataclass(frozen=True)
class EvalSet:
    """Everything `evaluate` needs, tokenised once: test sets, linear-probe training rows, prompts."""

    global_test: PairedTensors
    site_tests: tuple[PairedTensors, ...]
    site_names: tuple[str, ...]
    probe_images: torch.Tensor            # (M, 1, H, W) pooled training images (subsampled)
    probe_labels: np.ndarray              # (M, F) their ground-truth findings
    prompt_ids: torch.Tensor              # (P, L) every zero-shot prompt, tokenised
    prompt_mask: torch.Tensor             # (P, L)
    prompt_index: dict[str, dict[str, np.ndarray]]  # finding -> kind -> rows of prompt_ids
    findings: tuple[str, ...] = FINDINGS  # label columns
    seed: int = 0


@dataclass(frozen=True)
class PairEmbeddings:
    """One test set embedded by one model: (N, D) image and text rows, row i of each a true pair."""

    image: np.ndarray
    text: np.ndarray


@dataclass(frozen=True)
class EvalEmbeddings:
    """An `EvalSet` embedded by one model (the ideal's is what `evaluate(reference=)` compares against)."""

    global_test: PairEmbeddings
    site_tests: tuple[PairEmbeddings, ...]


def prepare_eval(hospitals: Hospitals, model_cfg: ModelConfig, *, split: str = "test", seed: int = 0,
                 probe_rows: int = 1500, prompts: Mapping[str, Mapping[str, list[str]]] | None = None) -> EvalSet:
    """Tokenise the held-out sets and prompts and draw ≤ `probe_rows` pooled training rows (seeded) for the probe.

    split="test": per-site test sets + the global balanced test set (what results report).
    split="val": per-site validation sets, and their union stands in for the global set (for tuning, so
    hyper-parameters never see the test split). The fields keep their test names either way.
    """
    if split not in ("test", "val"):
        raise ValueError(f"evaluation split must be 'test' or 'val', got {split!r}")
    prompts = zero_shot_prompts() if prompts is None else prompts
    tok, max_len = hospitals.tokenizer, model_cfg.max_text_len
    pooled = hospitals.pooled("train")
    rows = np.arange(len(pooled))
    if len(rows) > probe_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, probe_rows, replace=False))
    texts: list[str] = []
    index: dict[str, dict[str, np.ndarray]] = {}
    for finding, kinds in prompts.items():
        index[finding] = {}
        for kind in PROMPT_KINDS:
            phrases = list(kinds.get(kind, []))
            index[finding][kind] = np.arange(len(texts), len(texts) + len(phrases))
            texts += phrases
    prompt_ids, prompt_mask = tokenize(tok, texts, max_len)
    if split == "val":
        global_set, site_sets = hospitals.pooled("val"), hospitals.val
        if len(global_set) == 0:
            raise ValueError("evaluation on the validation split needs validation cases, but every site's val "
                             "split is empty: set data.val_fraction > 0 (e.g. 0.1)")
    else:
        global_set, site_sets = hospitals.global_test, hospitals.test
    return EvalSet(
        global_test=to_tensors(global_set, tok, max_len),
        site_tests=tuple(to_tensors(t, tok, max_len) for t in site_sets),
        site_names=tuple(hospitals.site_names),
        probe_images=images_to_tensor(pooled.images[rows]),
        probe_labels=np.asarray(pooled.labels[rows]),
        prompt_ids=prompt_ids, prompt_mask=prompt_mask, prompt_index=index, seed=seed)


def reference_embeddings(model: DualEncoder, evalset: EvalSet, device: torch.device) -> EvalEmbeddings:
    """`evalset`'s global and per-site test sets embedded by `model` (what `evaluate(reference=)` takes)."""
    def pair(data: PairedTensors) -> PairEmbeddings:
        return PairEmbeddings(*embed(model, data, device))
    return EvalEmbeddings(pair(evalset.global_test), tuple(pair(t) for t in evalset.site_tests))


def _retrieval(image_emb: np.ndarray, text_emb: np.ndarray, text_ids: np.ndarray, labels: np.ndarray,
               n_queries: int | None = None) -> dict[str, float]:
    """Instance and semantic retrieval keys (the first `n_queries` rows query; every row is in the gallery)."""
    out = instance_retrieval(image_emb, text_emb, text_ids, n_queries=n_queries)
    sem = semantic_retrieval(image_emb, text_emb, labels, ks=(5,), n_queries=n_queries)
    out.update({k: sem[k] for k in ("sem_i2t_p5", "sem_t2i_p5", "sem_i2t_r5", "sem_t2i_r5")})
    out["sem_p5"] = (sem["sem_i2t_p5"] + sem["sem_t2i_p5"]) / 2     # the headline's primary metric (README)
    return out


def _site_retrieval(emb: PairEmbeddings, data: PairedTensors, g_emb: PairEmbeddings, g_data: PairedTensors,
                    g_keys: list[bytes], rng: np.random.Generator) -> dict[str, float]:
    """A site's retrieval keys and their chance, its pairs searched in a gallery padded to the global set's size.

    `g_keys`: the global set's images as bytes (computed once per evaluation, shared by every site).
    """
    own = {bytes(x.numpy()) for x in data.images}
    # In the validation split (and data without global_test rows) the global set holds the site's own cases.
    others = np.array([i for i, key in enumerate(g_keys) if key not in own], dtype=np.int64)
    fill = np.sort(rng.choice(others, min(len(others), max(len(g_data) - len(data), 0)), replace=False))
    image_emb = np.concatenate([emb.image, g_emb.image[fill]])               # (P, D): the site's rows first
    text_emb = np.concatenate([emb.text, g_emb.text[fill]])
    labels = np.concatenate([data.labels.numpy(), g_data.labels.numpy()[fill]])   # (P, F)
    # text ids are numbered per set: renumber both sets' reports together, equal iff the tokens are equal
    seen: dict[tuple[int, ...], int] = {}
    text_ids = np.array([seen.setdefault(tuple(ids[m.bool()].tolist()), len(seen))
                         for d, rows in ((data, np.arange(len(data))), (g_data, fill))
                         for ids, m in zip(d.input_ids[rows], d.attention_mask[rows])], dtype=np.int64)
    # the site's own retrieval keys (in its own small gallery) are replaced by these
    out = _retrieval(image_emb, text_emb, text_ids, labels, n_queries=len(data))
    out["sem_p5_chance"] = semantic_chance(labels, n_queries=len(data))
    out["i2t_r5_chance"] = min(5, len(labels)) / len(labels)
    return out


def reference_distances(emb: PairEmbeddings, ref: PairEmbeddings) -> dict[str, float]:
    """`dist_to_ref` and `cka_to_ref` of one test set's embeddings against the reference's."""
    # FedAID's binding term on held-out data: squared distance to the ideal, image plus text.
    # CKA per modality, averaged. One CKA over image and text rows stacked together is dominated by
    # the direction separating the two modalities (the modality gap) and reads ~1.0 for any model.
    return {"dist_to_ref": mean_sq_distance(emb.image, ref.image) + mean_sq_distance(emb.text, ref.text),
            "cka_to_ref": 0.5 * (linear_cka(emb.image, ref.image) + linear_cka(emb.text, ref.text))}


def worst_site(key: str, values: Sequence[float]) -> float:
    """The worst finite per-site value of metric `key` (max if lower is better, else min); NaN if none."""
    arr = np.array(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if not len(finite):
        return float("nan")
    return float(finite.max() if key in LOWER_IS_BETTER else finite.min())


def _set_metrics(emb: PairEmbeddings, data: PairedTensors, prompt_emb: np.ndarray, evalset: EvalSet,
                 probes: Mapping[str, list], ref: PairEmbeddings | None) -> dict[str, float]:
    """Every per-set metric for one test set (global or one site)."""
    image_emb, text_emb = emb.image, emb.text
    labels = data.labels.numpy()
    out = _retrieval(image_emb, text_emb, data.text_ids.numpy(), labels)
    for key, (pos, neg) in {"zeroshot_auroc": ("positive", "negative"),
                            "zeroshot_auroc_heldout": ("positive_heldout", "negative_heldout")}.items():
        ens = {f: (prompt_emb[ix[pos]], prompt_emb[ix[neg]]) for f, ix in evalset.prompt_index.items()
               if len(ix[pos]) and len(ix[neg])}
        out[key] = zero_shot_auroc(image_emb, ens, labels, evalset.findings)[0] if ens else float("nan")
    for key, fitted in probes.items():
        out[key] = probe_auroc(fitted, image_emb, labels)
    out.update(diag_cos=diag_cos(image_emb, text_emb), align=alignment(image_emb, text_emb),
               uniform_img=uniformity(image_emb), uniform_txt=uniformity(text_emb),
               modality_gap=modality_gap(image_emb, text_emb))
    if ref is not None:
        out.update(reference_distances(emb, ref))
    return out


def evaluate(model: DualEncoder, evalset: EvalSet, device: torch.device,
             reference: EvalEmbeddings | None = None) -> dict[str, float]:
    """The flat metrics dict: global keys, `worst_site_<key>`, site probe; `*_to_ref` when `reference` is given."""
    emb = reference_embeddings(model, evalset, device)
    prompt_emb = embed_texts(model, evalset.prompt_ids, evalset.prompt_mask, device)
    probe_x = embed_images(model, evalset.probe_images, device)
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices; see probes.py on thread contention
        probes = {key: fit_linear_probes(probe_x, evalset.probe_labels, frac, evalset.seed)
                  for key, frac in PROBE_FRACTIONS.items()}
        return _summarise(emb, evalset, prompt_emb, probes, reference)


def _summarise(emb: EvalEmbeddings, evalset: EvalSet, prompt_emb: np.ndarray, probes: Mapping[str, Any],
               reference: EvalEmbeddings | None) -> dict[str, float]:
    out = _set_metrics(emb.global_test, evalset.global_test, prompt_emb, evalset, probes,
                       None if reference is None else reference.global_test)
    rng = np.random.default_rng(evalset.seed)
    g_keys = [bytes(x.numpy()) for x in evalset.global_test.images]
    per_site = [{**_set_metrics(e, data, prompt_emb, evalset, probes,
                                None if reference is None else reference.site_tests[k]),
                 **_site_retrieval(e, data, emb.global_test, evalset.global_test, g_keys, rng)}
                for k, (e, data) in enumerate(zip(emb.site_tests, evalset.site_tests)) if len(data) > 0]
    for key in list(out):
        out[f"worst_site_{key}"] = worst_site(key, [s[key] for s in per_site])
    for key in ("sem_p5", "i2t_r5"):   # the chance of the site that is worst on the key (first one if tied)
        values = [s[key] if np.isfinite(s[key]) else np.inf for s in per_site]
        out[f"worst_site_{key}_chance"] = per_site[int(np.argmin(values))][f"{key}_chance"] if per_site else np.nan
    # Shortcut vs alignment, on the global set (every site in one gallery): how many of an image's top-5
    # reports come from its own hospital, and R@5 when the gallery is only its own hospital's reports.
    g, gdata = emb.global_test, evalset.global_test
    g_sites = gdata.sites.numpy()
    out["sem_p5_chance"] = semantic_chance(gdata.labels.numpy())
    out["i2t_r5_chance"] = min(5, len(gdata)) / max(len(gdata), 1)
    out["same_site_top5"] = same_site_share(g.image, g.text, g_sites)
    out["same_site_top5_chance"] = same_site_chance(g_sites)
    out["within_site_i2t_r5"] = within_site_recall(g.image, g.text, gdata.text_ids.numpy(), g_sites)
    site_img = np.concatenate([e.image for e in emb.site_tests])
    sites = torch.cat([t.sites for t in evalset.site_tests]).numpy()
    out["site_probe_acc"] = site_probe_accuracy(site_img, sites, seed=evalset.seed)
    out["site_probe_chance"] = chance_accuracy(sites)
    return {k: float(v) for k, v in out.items()}
