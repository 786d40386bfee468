"""The shipped data_samples/: checksums, size, and rows regenerated from their seeds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fedaid_lite.config import DataConfig
from fedaid_lite.data import FINDINGS, MENTION_CODES
from fedaid_lite.data.generate import config_dict, generate_case, plan_sites
from fedaid_lite.data.manifest import COLUMNS, verify_sums
from fedaid_lite.data.presets import CONSPICUITY, with_conspicuity

ROOT = Path(__file__).resolve().parents[1] / "data_samples"
pytestmark = pytest.mark.skipif(not (ROOT / "manifest.csv").is_file(), reason="data_samples/ not generated")


def _rows() -> list[dict]:
    with (ROOT / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_checksums_and_size():
    """If this fails, a shipped file was edited without regenerating, or the sample outgrew 20 MB."""
    assert verify_sums(ROOT) == []
    assert sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file()) <= 20e6


def test_meta_records_the_default_config():
    """If this fails, data_samples/ was made with settings other than the defaults `data make` uses."""
    meta = json.loads((ROOT / "meta.json").read_text())
    assert meta["config"] == config_dict(DataConfig())
    assert {"numpy", "Pillow", "python"} <= set(meta["versions"])
    with (ROOT / "manifest.csv").open(newline="") as f:
        assert next(csv.reader(f)) == list(COLUMNS)


def test_rows_regenerate_from_their_seeds():
    """If this fails, a row can no longer be reproduced from its stored seed (generator drifted)."""
    cfg = DataConfig()
    plans = {p.name: p for p in plan_sites(cfg)}
    consp = with_conspicuity(CONSPICUITY, cfg.difficulty)
    rows = _rows()
    picked = [r for site in plans for r in [x for x in rows if x["site"] == site][:3]]
    picked += [r for r in rows if r["split"] == "global_test"][:4]
    for r in picked:
        plan = plans[r["site"]]
        img, rep, lab, men, meta = generate_case(int(r["seed"]), r["archetype"], int(r["study"]),
                                                 plan.scanner, plan.style, consp)
        assert rep == r["report"], r["id"]
        assert [int(r[k]) for k in FINDINGS] == lab.tolist(), r["id"]
        assert [int(r[f"mention_{k}"] or MENTION_CODES["not_mentioned"]) for k in FINDINGS] == men.tolist()
        stored = np.asarray(Image.open(ROOT / r["image"]))
        assert stored.shape == img.shape and np.abs(stored.astype(int) - img).max() <= 1, r["id"]
