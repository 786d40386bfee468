"""Shared test fixtures: fake hospitals (learnable but tiny, independent of the data generator) and prompts."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from fedaid_lite.config import Experiment
from fedaid_lite.data import write_dataset
from fedaid_lite.data.tokenizer import train_tokenizer
from fedaid_lite.data.types import FINDINGS, Hospitals, PairedData
from fedaid_lite.evaluate import prepare_eval

PHRASES = {
    "cardiomegaly": ("the heart is enlarged", "no cardiomegaly"),
    "pleural_effusion": ("there is a pleural effusion", "no pleural effusion"),
    "consolidation": ("focal consolidation is seen", "no focal consolidation"),
    "pneumothorax": ("a pneumothorax is present", "no pneumothorax"),
    "nodule": ("a nodule is noted", "no nodule"),
    "edema": ("pulmonary edema is present", "no edema"),
    "atelectasis": ("there is atelectasis", "no atelectasis"),
    "support_devices": ("a support device is seen", "no support device"),
}


def fake_paired(n: int, site: int, site_names: tuple[str, ...], seed: int, size: int = 32) -> PairedData:
    """`n` cases where each finding paints its own square and appears in a templated report."""
    rng = np.random.default_rng(seed)
    f = len(FINDINGS) - 1
    labels = (rng.random((n, f)) < 0.25).astype(np.int8)
    labels = np.concatenate([labels, (labels.sum(1, keepdims=True) == 0).astype(np.int8)], axis=1)
    images = rng.integers(0, 60, size=(n, size, size)).astype(np.int16) + 20 * site
    cell = size // 4
    for j in range(f):
        r, c = divmod(j, 4)
        images[labels[:, j] == 1, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] += 150
    reports = []
    for row in labels:
        parts = [PHRASES[FINDINGS[j]][0 if row[j] else 1] for j in range(f) if row[j] or rng.random() < 0.3]
        reports.append("findings: " + ". ".join(parts or ["lungs are clear"]) + ".")
    ids = tuple(f"s{site}-{seed}-{i}" for i in range(n))
    return PairedData(images=np.clip(images, 0, 255).astype(np.uint8), reports=tuple(reports), labels=labels,
                      sites=np.full(n, site, dtype=np.int64), site_names=site_names, ids=ids, patient_ids=ids)


def build_fake_hospitals(num_sites: int = 3, n_train: int = 48, n_test: int = 16, n_global: int = 24,
                   seed: int = 0, size: int = 32) -> Hospitals:
    """A `Hospitals` with `num_sites` fake sites, a tokenizer trained on the training reports."""
    names = tuple(f"site{k}" for k in range(num_sites))
    train = tuple(fake_paired(n_train, k, names, seed * 100 + 3 * k, size) for k in range(num_sites))
    val = tuple(fake_paired(4, k, names, seed * 100 + 3 * k + 1, size) for k in range(num_sites))
    test = tuple(fake_paired(n_test, k, names, seed * 100 + 3 * k + 2, size) for k in range(num_sites))
    parts = [fake_paired(n_global // num_sites, k, names, seed * 100 + 50 + k, size) for k in range(num_sites)]
    corpus = [r for p in train for r in p.reports] + [" ".join(v) for v in PHRASES.values()]
    tok = train_tokenizer(corpus, vocab_size=300, max_length=48)
    return Hospitals(site_names=names, train=train, val=val, test=test, global_test=PairedData.concat(parts),
                     tokenizer=tok)


def build_fake_prompts() -> dict[str, dict[str, list[str]]]:
    """Zero-shot prompts in the fake reports' phrasing (held-out = the same, for shape tests only)."""
    return {k: {"positive": [p], "negative": [n], "positive_heldout": [p], "negative_heldout": [n]}
            for k, (p, n) in PHRASES.items()}


@pytest.fixture(scope="session")
def fake_hospitals():
    """`fake_hospitals(num_sites=3, n_train=48, ...)`: a builder of fake hospitals."""
    return build_fake_hospitals


@pytest.fixture(scope="session")
def fake_prompts() -> dict[str, dict[str, list[str]]]:
    """Zero-shot prompts in the fake reports' phrasing."""
    return build_fake_prompts()


@pytest.fixture(scope="session")
def fake_hospitals_3x40() -> Hospitals:
    """Three fake sites of 40 training pairs: the engine tests' federation."""
    return build_fake_hospitals(num_sites=3, n_train=40)


@pytest.fixture(scope="session")
def fake_evalset(fake_hospitals_3x40: Hospitals):
    """`prepare_eval` of `fake_hospitals_3x40` with the fake prompts (tiny model config)."""
    return prepare_eval(fake_hospitals_3x40, Experiment.tiny().model, prompts=build_fake_prompts())


def _cut_manifest(root: Path, num_sites: int) -> tuple[Path, list[str]]:
    """The first `num_sites` sites of the tiny synthetic hospitals as a manifest (images shared, tokenizer beside it)."""
    full = write_dataset(Experiment.tiny().data, root / "all")
    rows = list(csv.DictReader(full.open(newline="", encoding="utf-8")))
    sites = list(dict.fromkeys(r["site"] for r in rows))[:num_sites]
    out = root / f"first{num_sites}"
    out.mkdir()
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["site"] in sites)
    (out / "images").symlink_to(full.parent / "images")
    shutil.copy(full.parent / "tokenizer.json", out / "tokenizer.json")
    return out / "manifest.csv", sites


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory):
    """A factory: `tiny_manifest(n)` -> (manifest path, site names) of the tiny hospitals' first n sites."""
    return lambda num_sites: _cut_manifest(tmp_path_factory.mktemp("manifest"), num_sites)
