"""Importers for published chest X-ray collections (MIMIC-CXR, CheXpert Plus, IU X-ray) into our manifest.

`import_collection` reads a collection in its published layout, maps its labels to our findings, splits by
patient, assigns sites and writes OUT (manifest.csv, tokenizer.json, meta.json, README.md, SHA256SUMS);
`merge_imports` joins several imported folders into one federation. The rules are in docs/real_data.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from . import chexpert_plus, iu_xray, mimic_cxr
from .common import UNCERTAIN, LayoutError, assign_sites, official_or_carved, parse_sites, patient_splits, \
    reconcile_splits, resolve
from .merge import merge_imports
from .write import check_out, write_import

COLLECTIONS = {"mimic-cxr": mimic_cxr, "chexpert-plus": chexpert_plus, "iu-xray": iu_xray}
TITLES = {"mimic-cxr": "MIMIC-CXR (imported)", "chexpert-plus": "CheXpert Plus (imported)",
          "iu-xray": "IU X-ray (imported)"}


def import_collection(name: str, root: str | Path, out: str | Path, *, uncertain: str = "zero",
                      sites: str = "natural", seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
                      all_views: bool = False, copy_size: int | None = None, vocab_size: int = 2000,
                      command: str = "") -> Path:
    """Import collection `name` from `root` into `out`; return the manifest path. Checks everything first."""
    if name not in COLLECTIONS:
        raise ValueError(f"unknown collection {name!r}; choose one of {', '.join(COLLECTIONS)}")
    if uncertain not in UNCERTAIN:
        raise ValueError(f"--uncertain {uncertain!r}: choose one of {', '.join(UNCERTAIN)}")
    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("--val-fraction and --test-fraction must be in [0, 1) with test > 0 and a sum below 1")
    if copy_size is not None and not 16 <= copy_size <= 4096:
        raise ValueError(f"--size {copy_size}: choose 16..4096 pixels")
    parse_sites(sites)
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"--root {root} is not a folder; point it at the unpacked collection")
    check_out(out, root)
    module = COLLECTIONS[name]
    rows, info = module.read_rows(root, all_views)
    kept = [r for r in rows if resolve(r.codes, uncertain) is not None]   # --uncertain drop acts before splitting
    info["skipped"]["uncertain_dropped"] = len(rows) - len(kept)
    rows = kept
    if name == "iu-xray":
        split = patient_splits([r.patient_id for r in rows], val_fraction, test_fraction, seed)
        rows = [replace(r, split=split[r.patient_id]) for r in rows]
        moved, split_rule = 0, (f"no official split: seeded patient-level split (seed {seed}, val {val_fraction}, "
                                f"test {test_fraction})")
    else:
        rows, moved = reconcile_splits(rows)
        rows, split_rule = official_or_carved(rows, val_fraction, seed)
        split_rule += ("; a patient found in two official splits is moved whole to the most held-out one "
                       f"(test > val > train): {moved} images moved")
    rows = assign_sites(rows, sites, module.COLLECTION, seed)
    site_rule = ("natural: the collection is one hospital (none of the three collections publishes a site "
                 "field); merge imports for a multi-hospital federation" if sites == "natural" else
                 f"{sites}: patients partitioned by label skew (per-class Dirichlet shares, seed {seed})")
    info: dict[str, Any] = {**info, "title": TITLES[name], "command": command, "root": str(root.resolve()),
                            "split_rule": split_rule, "moved_between_splits": moved, "site_rule": site_rule,
                            "uncertain": f"{uncertain} (raw labeler codes kept in mention_<finding>)",
                            "sites_spec": sites, "seed": seed}
    return write_import(rows, out, info, uncertain, vocab_size, copy_size, root)


__all__ = ["COLLECTIONS", "LayoutError", "import_collection", "merge_imports"]
