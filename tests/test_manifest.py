"""Manifests on disk: write/load round trip, validation messages, any image format, write guard."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fedaid_lite.config import Experiment
from fedaid_lite.data import FINDINGS, ManifestError, load_manifest, make_hospitals, write_dataset
from fedaid_lite.data.manifest import verify_sums

TINY = dataclasses.replace(Experiment.tiny().data, n_per_site=16, global_test_size=12)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    return write_dataset(TINY, tmp_path_factory.mktemp("ds") / "out")


def _rows(manifest: Path) -> tuple[list[str], list[dict]]:
    with manifest.open(newline="") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames), list(r)


def _write(path: Path, header: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_round_trip_matches_in_memory_generation(written):
    """If this fails, data written to disk and data made in memory are not the same dataset."""
    mem = make_hospitals(TINY)
    disk = load_manifest(written, image_size=TINY.image_size)
    assert disk.site_names == mem.site_names
    for a, b in zip(disk.train + (disk.global_test,), mem.train + (mem.global_test,)):
        assert a.reports == b.reports and a.ids == b.ids
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.mentions, b.mentions)
        assert np.abs(a.images.astype(int) - b.images).max() <= 1


def test_sidecars_and_checksums(written):
    """If this fails, the dataset folder is incomplete or its SHA256SUMS does not match its files."""
    root = written.parent
    for name in ("tokenizer.json", "meta.json", "README.md", "LICENSE", "SHA256SUMS"):
        assert (root / name).is_file(), name
    assert verify_sums(root) == []
    (root / "LICENSE").write_text("tampered")
    assert verify_sums(root) == ["LICENSE"]


def test_same_config_writes_identical_manifest(written, tmp_path):
    """If this fails, `data make` does not reproduce a dataset byte for byte."""
    again = write_dataset(TINY, tmp_path / "again")
    assert again.read_bytes() == written.read_bytes()


def test_refuses_to_write_into_a_foreign_folder(tmp_path):
    """If this fails, write_dataset could clobber a user's real data root."""
    (tmp_path / "mine.txt").write_text("real data")
    with pytest.raises(ValueError, match="refusing to write"):
        write_dataset(TINY, tmp_path)


@pytest.mark.parametrize("case, column", [
    ("missing_column", "report"), ("missing_image", "image"), ("unreadable_image", "image"),
    ("empty_report", "report"), ("unknown_split", "split"), ("bad_label", "nodule")])
def test_bad_manifest_names_row_and_column(written, tmp_path, case, column):
    """If this fails, a user with a broken manifest gets no pointer to the offending cell."""
    header, rows = _rows(written)
    rows = rows[:4]
    for r in rows:
        r["image"] = str(written.parent / r["image"])
    row = 3
    bad = rows[row - 1]
    if case == "missing_column":
        header = [h for h in header if h != "report"]
    elif case == "missing_image":
        bad["image"] = str(tmp_path / "nope.png")
    elif case == "unreadable_image":
        (tmp_path / "broken.png").write_bytes(b"not a png")
        bad["image"] = str(tmp_path / "broken.png")
    elif case == "empty_report":
        bad["report"] = "  "
    elif case == "unknown_split":
        bad["split"] = "training"
    elif case == "bad_label":
        bad["nodule"] = "2"
    path = _write(tmp_path / "manifest.csv", header, rows)
    with pytest.raises(ManifestError) as err:
        load_manifest(path, allow_outside_paths=True)     # the images stay in the fixture's folder
    msg = str(err.value)
    assert "\n" not in msg and repr(column) in msg
    assert (f"row {row}," in msg) if case != "missing_column" else "header" in msg


def test_any_image_format_loads_the_same_way(tmp_path):
    """If this fails, real JPEG / RGB / 16-bit / non-square images would not load like our PNGs."""
    rng = np.random.default_rng(0)
    files = {"rgb.jpg": Image.fromarray(rng.integers(0, 255, (120, 90, 3), dtype=np.uint8), "RGB"),
             "gray16.png": Image.fromarray(rng.integers(0, 60000, (70, 100)).astype(np.uint16)),
             "gray.png": Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8))}
    rows = []
    for i, (name, im) in enumerate(files.items()):
        im.save(tmp_path / name)
        rows.append({"id": f"c{i}", "site": "A" if i < 2 else "B", "split": ["train", "test", "train"][i],
                     "patient_id": f"p{i}", "image": name, "report": "FINDINGS: No pleural effusion.",
                     **{k: 0 for k in FINDINGS[:-1]}})
    h = load_manifest(_write(tmp_path / "manifest.csv", list(rows[0]), rows), image_size=32, vocab_size=100)
    assert h.site_names == ("A", "B")
    assert h.train[0].images.shape == (1, 32, 32) and h.train[0].images.dtype == np.uint8
    assert len(h.global_test) == 1 and h.global_test.labels[0, -1] == 1   # derived no_finding
    assert h.train[0].mentions[0, 0] == -2


def test_load_hospitals_uses_the_manifest_when_configured(written):
    """If this fails, setting data.manifest is silently ignored (synthetic data would be used instead)."""
    from fedaid_lite.data import load_hospitals
    h = load_hospitals(dataclasses.replace(TINY, manifest=str(written)))
    assert h.info["source"] == "manifest" and h.site_names == make_hospitals(TINY).site_names
