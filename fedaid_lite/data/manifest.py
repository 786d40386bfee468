"""Datasets on disk: `write_dataset` (PNG + manifest.csv + sidecars) and `load_manifest` (validated).

The manifest is one CSV row per image–report pair. Required columns: id, site, split, patient_id, image
(path relative to the manifest), report, and one 0/1 column per finding (`no_finding` may be left out: it
is derived). Optional: mention_<finding> (1 / 0 / -1 / blank), view, seed, attrs and acq (JSON), study,
archetype. Splits: train, val, test and optionally global_test (without it the global test set is the
pooled per-site test rows). A real MIMIC-CXR / CheXpert Plus / IU X-ray manifest in this schema loads
unchanged; every image goes through the same `to_model_image` conversion as generated ones. Loading runs
every check of `check.py` first (leakage, duplicates, paths outside the folder, ...): errors refuse it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..config import DataConfig
from .acquisition import to_model_image
from .check import (LABELS, MENTION_COLUMNS, REQUIRED, CheckReport, ManifestError, check_rows, check_table,
                    manifest_file, open_image, read_table)
from .generate import Case, assemble, generate_cases, generator_info, make_hospitals
from .readme import LICENSE_TEXT, readme_text
from .tokenizer import load_tokenizer, save_tokenizer, train_tokenizer
from .types import FINDINGS, MENTION_CODES, Hospitals

COLUMNS = (REQUIRED[:5] + ("study", "view", "width", "height", "report") + FINDINGS + MENTION_COLUMNS
           + ("archetype", "attrs", "acq", "seed"))
MARKER = "fedaid_lite.data"   # meta.json "generator": only such folders may be overwritten


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _check_writable(out: Path) -> None:
    """Refuse to write into a folder holding anything but a dataset made by this generator."""
    if out.exists() and any(out.iterdir()):
        meta = out / "meta.json"
        try:
            ours = json.loads(meta.read_text()).get("generator") == MARKER
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise ValueError(f"refusing to write into {out}: it is not empty and not a fedaid-lite dataset "
                             "(no meta.json from this generator); choose an empty or new folder")
        shutil.rmtree(out / "images", ignore_errors=True)   # a smaller config must not leave stale images behind


def write_dataset(cfg: DataConfig, out_dir: str | Path) -> Path:
    """Generate the hospitals of `cfg` and write PNGs + manifest.csv + sidecars; return the manifest path."""
    out = Path(out_dir)
    _check_writable(out)
    plans, cases = generate_cases(cfg)
    names = [p.name for p in plans]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in cases:
        rel = f"images/{names[c.site]}/{c.id}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(c.image).save(out / rel, format="PNG", compress_level=9)
        m = c.meta
        rows.append({
            "id": c.id, "site": names[c.site], "split": c.split, "patient_id": c.patient_id, "image": rel,
            "study": m["study"], "view": m["view"], "width": c.image.shape[1], "height": c.image.shape[0],
            "report": c.report, **{k: int(v) for k, v in zip(FINDINGS, c.labels)},
            **{f"mention_{k}": ("" if v == MENTION_CODES["not_mentioned"] else int(v))
               for k, v in zip(FINDINGS, c.mentions)},
            "archetype": m["archetype"], "attrs": _json(m["attrs"]), "acq": _json(m["acq"]), "seed": m["seed"]})
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    save_tokenizer(train_tokenizer([c.report for c in cases if c.split == "train"], cfg.vocab_size),
                   out / "tokenizer.json")
    info = {**generator_info(cfg, plans), "generator": MARKER, "versions": _versions()}
    (out / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    (out / "README.md").write_text(readme_text(cfg, info, len(cases)))
    (out / "LICENSE").write_text(LICENSE_TEXT)
    write_sums(out)
    return manifest


def _versions() -> dict[str, str]:
    import PIL
    import tokenizers
    return {"python": platform.python_version(), "numpy": np.__version__, "Pillow": PIL.__version__,
            "tokenizers": tokenizers.__version__}


def write_sums(out: Path) -> None:
    """Write `out/SHA256SUMS` over every file below `out`."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}" for p in files]
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def verify_sums(root: str | Path) -> list[str]:
    """Files under `root` whose SHA256 differs from SHA256SUMS (empty list = all good)."""
    root = Path(root)
    bad = []
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, _, rel = line.partition("  ")
        p = root / rel
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            bad.append(rel)
    return bad


def load_manifest(path: str | Path, image_size: int = 64, vocab_size: int = 2000,
                  allow_outside_paths: bool = False) -> Hospitals:
    """Read, check (check.py) and decode a manifest.csv into Hospitals; never writes anything.

    Any integrity error refuses the manifest in one line; warnings land in `info["check_warnings"]`.
    """
    path = manifest_file(path)
    _, records = read_table(path)
    errors = check_rows(records, path.parent, allow_outside_paths)
    report = CheckReport(str(path), len(records), errors)
    if not errors:
        report.errors, report.warnings = check_table(records)
    report.raise_if_errors()
    sites: list[str] = []
    cases = []
    for r, rec in enumerate(records, start=1):
        labels = np.array([int(float(rec[k])) for k in LABELS] + [0], dtype=np.int8)
        derived = int(not labels[:-1].any())
        labels[-1] = int(float(rec["no_finding"])) if (rec.get("no_finding") or "").strip() else derived
        mentions = np.array([int(float(rec[c])) if (rec.get(c) or "").strip() else -2
                             for c in MENTION_COLUMNS], dtype=np.int8)
        with open_image(path.parent / rec["image"], r, rec["image"]) as im:
            try:
                image = to_model_image(im, image_size)
            except (OSError, ValueError) as err:     # a truncated file fails only when its pixels are decoded
                raise ManifestError(f"manifest row {r}, column 'image': {rec['image']} is unreadable "
                                    f"({type(err).__name__}); fix or replace the file") from None
        if rec["site"] not in sites:
            sites.append(rec["site"])
        cases.append(Case(rec["id"], sites.index(rec["site"]), rec["split"], rec["patient_id"], image,
                          rec["report"], labels, mentions, _row_meta(rec, r)))
    tok_path = path.parent / "tokenizer.json"
    tok = load_tokenizer(tok_path) if tok_path.is_file() else train_tokenizer(
        [c.report for c in cases if c.split == "train"], vocab_size)
    info: dict[str, Any] = {"source": "manifest", "path": str(path)}
    meta_path = path.parent / "meta.json"
    if meta_path.is_file():
        try:
            info.update(json.loads(meta_path.read_text()))
            info["source"] = "manifest"
        except ValueError:
            pass
    info["check_warnings"] = list(report.warnings)
    return assemble(cases, tuple(sites), image_size, tok, info)


def _row_meta(rec: dict[str, str], r: int) -> dict[str, Any]:
    """The optional columns of one row (view, attrs, acq, seed, study, archetype), checked."""
    meta: dict[str, Any] = {"view": rec.get("view") or ""}
    for col in ("attrs", "acq"):
        try:
            meta[col] = json.loads(rec[col]) if (rec.get(col) or "").strip() else {}
        except ValueError:
            raise ManifestError(f"manifest row {r}, column {col!r}: not valid JSON; fix or empty it") from None
    for col, cast in (("seed", int), ("study", int), ("archetype", str)):
        if (rec.get(col) or "").strip():
            try:
                meta[col] = cast(rec[col])
            except ValueError:
                raise ManifestError(f"manifest row {r}, column {col!r}: {rec[col]!r} is not "
                                    f"an {cast.__name__}") from None
    return meta


def load_hospitals(cfg: DataConfig, workers: int = 1) -> Hospitals:
    """`load_manifest(cfg.manifest)` (checked) when a manifest is configured, else `make_hospitals(cfg, workers)`."""
    if cfg.manifest:
        return load_manifest(cfg.manifest, cfg.image_size, cfg.vocab_size, cfg.allow_outside_paths)
    return make_hospitals(cfg, workers)
