"""What every importer shares: layout errors, CSV reading, report cleaning, label policy, splits and sites.

Label policy (docs/real_data.md): a collection's labeler gives each finding 1 (positive), 0 (negative),
-1 (uncertain) or nothing (not mentioned). The raw code goes to the manifest's `mention_<finding>` column
unchanged (1 / 0 / -1 / blank); the 0/1 label column is resolved from it: positive -> 1, negative and not
mentioned -> 0, uncertain -> `--uncertain` (zero -> 0, one -> 1, drop -> the image is left out).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..types import FINDINGS

LABELS = FINDINGS[:-1]        # the 0/1 columns; no_finding is derived by the loader
UNCERTAIN = ("zero", "one", "drop")
SPLIT_RANK = {"train": 0, "val": 1, "test": 2}   # a patient in two official splits goes to the highest


class LayoutError(ValueError):
    """A collection folder that does not match its published layout; the message names the file."""


@dataclass(frozen=True)
class Row:
    """One image-report pair read from a collection, before sites are assigned."""

    id: str
    patient_id: str
    split: str                       # train / val / test
    image: Path                      # absolute path into the user's collection
    report: str                      # "FINDINGS: ...\nIMPRESSION: ..."
    codes: dict[str, int | None]     # per finding in LABELS (+ no_finding): 1 / 0 / -1 / None
    view: str = ""
    study: str = ""
    site: str = ""


def require(path: Path, what: str) -> Path:
    """`path` if it exists, else a LayoutError naming it."""
    if not path.exists():
        raise LayoutError(f"{path} not found: {what}")
    return path


def first_existing(root: Path, names: Sequence[str], what: str) -> Path:
    """The first of `root/name` that exists (e.g. the .csv.gz as distributed, or an unpacked .csv)."""
    for name in names:
        if (root / name).is_file():
            return root / name
    raise LayoutError(f"{root / names[0]} not found: {what}")


def read_csv(path: Path, columns: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a .csv or .csv.gz file, after checking that the header has `columns`."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as err:
        raise LayoutError(f"{path} is unreadable ({type(err).__name__}); download it again") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise LayoutError(f"{path} is malformed: header lacks column {missing[0]!r}; is this the published file?")
        return list(reader)
    except csv.Error as err:
        raise LayoutError(f"{path} is malformed CSV ({err})") from None


def clean_text(text: str | None) -> str:
    """Whitespace collapsed; None, NaN-like and empty cells become ''."""
    t = " ".join(str(text or "").split())
    return "" if t.lower() in ("nan", "none") else t


def compose_report(findings: str | None, impression: str | None) -> str:
    """The report we train on: FINDINGS then IMPRESSION, either section left out when empty."""
    parts = [f"{name}: {clean_text(t)}" for name, t in (("FINDINGS", findings), ("IMPRESSION", impression))
             if clean_text(t)]
    return "\n".join(parts)


_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z /&,()-]*[A-Z)]):", re.MULTILINE)


def report_sections(text: str) -> list[tuple[str, str]]:
    """Free-text report -> [(HEADER, body)] for every `HEADER:` at a line start (MIMIC-CXR style), in order."""
    marks = list(_HEADER.finditer(text))
    return [(m.group(1).strip(), text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip())
            for i, m in enumerate(marks)]


def code(raw: str | float | None) -> int | None:
    """A CheXpert-style label cell (1.0 / 0.0 / -1.0 / blank) as 1 / 0 / -1 / None; anything else raises."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or str(raw).strip() in ("", "nan", "None"):
        return None
    v = float(raw)
    if v not in (1.0, 0.0, -1.0):
        raise ValueError(f"label value {raw!r} is not 1, 0, -1 or blank")
    return int(v)


def resolve(codes: dict[str, int | None], uncertain: str) -> list[int] | None:
    """0/1 labels in LABELS order under the uncertain policy; None = drop this image."""
    out = []
    for k in LABELS:
        c = codes.get(k)
        if c == -1:
            if uncertain == "drop":
                return None
            out.append(1 if uncertain == "one" else 0)
        else:
            out.append(1 if c == 1 else 0)
    return out


def reconcile_splits(rows: list[Row]) -> tuple[list[Row], int]:
    """No patient in two splits: a patient's rows all move to the most held-out split they appear in.

    (test > val > train): the official test set never shrinks and never shares a patient with training.
    Returns the rows and how many moved.
    """
    top: dict[str, str] = {}
    for r in rows:
        if SPLIT_RANK[r.split] > SPLIT_RANK[top.get(r.patient_id, "train")]:
            top[r.patient_id] = r.split
    out = [r if r.split == top.get(r.patient_id, "train") else replace(r, split=top[r.patient_id]) for r in rows]
    return out, sum(a.split != b.split for a, b in zip(rows, out))


def patient_splits(patients: Sequence[str], val_fraction: float, test_fraction: float, seed: int,
                   only: Sequence[str] = ("train", "val", "test")) -> dict[str, str]:
    """A seeded patient-level split: patient -> train / val / test (only the splits named in `only`)."""
    unique = sorted(set(patients))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = round(test_fraction * len(unique)) if "test" in only else 0
    n_val = round(val_fraction * len(unique)) if "val" in only else 0
    if "test" in only and test_fraction > 0:
        n_test = max(1, n_test)
    if "val" in only and val_fraction > 0 and len(unique) >= 3:
        n_val = max(1, n_val)
    split = {}
    for rank, i in enumerate(order):
        split[unique[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return split


def official_or_carved(rows: list[Row], val_fraction: float, seed: int) -> tuple[list[Row], str]:
    """Keep the official split; if it has no test rows, its val becomes test and val is carved from train."""
    if any(r.split == "test" for r in rows):
        return rows, "official"
    rows = [replace(r, split="test") if r.split == "val" else r for r in rows]
    carve = patient_splits([r.patient_id for r in rows if r.split == "train"], val_fraction, 0.0, seed,
                           only=("train", "val"))
    rows = [replace(r, split=carve[r.patient_id]) if r.split == "train" else r for r in rows]
    return rows, "official (no test split published: official validation -> test, val carved from train patients)"


def primary_class(codes: dict[str, int | None]) -> str:
    """The label-skew class of a row: its first positive finding, else no_finding."""
    return next((k for k in LABELS if codes.get(k) == 1), "no_finding")


def parse_sites(spec: str) -> tuple[str, float, int]:
    """`natural` or `dirichlet:ALPHA:K` (ALPHA > 0 or inf, K >= 2) -> (kind, alpha, k)."""
    if spec == "natural":
        return "natural", math.inf, 1
    parts = spec.split(":")
    try:
        if parts[0] != "dirichlet" or len(parts) != 3:
            raise ValueError
        alpha, k = float(parts[1]), int(parts[2])
        if not alpha > 0 or k < 2:
            raise ValueError
    except ValueError:
        raise ValueError(f"--sites {spec!r}: use 'natural' or 'dirichlet:ALPHA:K' with ALPHA > 0 (or inf) "
                         "and K >= 2, e.g. dirichlet:0.5:3") from None
    return "dirichlet", alpha, k


def dirichlet_sites(rows: list[Row], collection: str, alpha: float, k: int, seed: int) -> list[Row]:
    """Partition patients over k sites with label skew: per class, site shares ~ Dirichlet(alpha).

    Patients (not images) are assigned, within each split separately, so a site's val/test mirror its
    train mix and no patient spans two sites. alpha = inf gives equal shares. A site left without any
    patient of a split gets one from the largest site, so every site can train and be evaluated.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    names = [f"{collection}_{i}" for i in range(k)]
    classes = [*LABELS, "no_finding"]
    shares = {c: (np.full(k, 1.0 / k) if math.isinf(alpha) else np.maximum(rng.dirichlet(np.full(k, alpha)), 1e-12))
              for c in classes}
    first: dict[str, Row] = {}
    for r in rows:
        first.setdefault(r.patient_id, r)
    site_of: dict[str, int] = {}
    for split in ("train", "val", "test"):
        by_site: list[list[str]] = [[] for _ in range(k)]
        for c in classes:
            pats = sorted(p for p, r in first.items() if r.split == split and primary_class(r.codes) == c)
            pats = [pats[i] for i in rng.permutation(len(pats))]
            cuts = np.round(np.cumsum(shares[c] / shares[c].sum()) * len(pats)).astype(int)
            for s, chunk in enumerate(np.split(np.array(pats, dtype=object), cuts[:-1])):
                by_site[s] += [str(p) for p in chunk]
        total = sum(len(b) for b in by_site)
        for s in range(k):
            if not by_site[s] and total >= k:
                donor = max(range(k), key=lambda j: len(by_site[j]))
                by_site[s].append(by_site[donor].pop())
        for s, pats in enumerate(by_site):
            site_of.update({p: s for p in pats})
    return [replace(r, site=names[site_of[r.patient_id]]) for r in rows]


def assign_sites(rows: list[Row], spec: str, collection: str, seed: int) -> list[Row]:
    """Sites by `--sites`: natural (the collection is one hospital) or dirichlet:ALPHA:K."""
    kind, alpha, k = parse_sites(spec)
    if kind == "natural":
        return [replace(r, site=collection) for r in rows]
    return dirichlet_sites(rows, collection, alpha, k, seed)
