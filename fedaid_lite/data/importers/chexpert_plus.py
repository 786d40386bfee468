"""CheXpert Plus (Stanford AIMI): the report CSV, its images and, if present, the CheXbert label files.

Published layout (CheXpert Plus release, report table df_chexpert_plus_240401.csv):

    ROOT/df_chexpert_plus_240401.csv      path_to_image, path_to_dcm, frontal_lateral, ap_pa, deid_patient_id,
                                          patient_report_date_order, report, section_*, ..., split
    ROOT/<path_to_image>                  e.g. train/patient00001/study1/view1_frontal.jpg; the PNG release
                                          is found too: ROOT/[PNG/]train/patient00001/study1/view1_frontal.png
    ROOT/chexbert_labels/report_fixed.json   JSON lines: path_to_image + the 14 CheXpert labels (1/0/-1/null)

Labels: report_fixed.json (whole report) if present, else impression_fixed.json, else findings_fixed.json;
without any of them every label is 0 and every mention blank (meta.json says so).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .common import LayoutError, Row, compose_report, first_existing, read_csv
from .mimic_cxr import MAPPING, chexpert_codes

COLLECTION = "chexpert_plus"
REPORT_CSV = "df_chexpert_plus_240401.csv"
COLUMNS = ("path_to_image", "frontal_lateral", "ap_pa", "deid_patient_id", "section_findings",
           "section_impression", "split")
LABEL_FILES = ("report_fixed.json", "impression_fixed.json", "findings_fixed.json")
SPLITS = {"train": "train", "valid": "val", "validate": "val", "val": "val", "test": "test"}
SOURCE = ("CheXpert Plus (Stanford AIMI, registration and data use agreement): df_chexpert_plus_240401.csv "
          "and its images; labels from the CheXbert label file named in label_file")


def _label_file(root: Path) -> Path | None:
    for folder in (root / "chexbert_labels", root):
        for name in LABEL_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def read_labels(path: Path) -> dict[str, dict[str, int | None]]:
    """path_to_image -> our findings' codes, from a CheXbert JSON-lines (or JSON list) file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LayoutError(f"{path} is unreadable ({type(err).__name__})") from None
    try:
        records = json.loads(text) if text.lstrip().startswith("[") else None
    except ValueError:
        raise LayoutError(f"{path} is malformed JSON; download it again") from None
    if records is None:
        records = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise LayoutError(f"{path} line {i} is malformed JSON; download it again") from None
    out = {}
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, dict) or "path_to_image" not in rec:
            raise LayoutError(f"{path} record {i} is malformed: no 'path_to_image'")
        out[rec["path_to_image"]] = chexpert_codes({k: (None if v is None else str(v)) for k, v in rec.items()},
                                                   f"{path} record {i}")
    return out


def _image(root: Path, rel: str) -> Path | None:
    """ROOT/<path_to_image>, else the PNG release's ROOT/PNG/<path_to_image with .png> (or .jpg)."""
    for base in (root, root / "PNG"):
        p = base / rel
        for cand in (p, p.with_suffix(".png"), p.with_suffix(".jpg")):
            if cand.is_file():
                return cand
    return None


def read_rows(root: Path, all_views: bool = False) -> tuple[list[Row], dict[str, Any]]:
    """Every kept image of the collection as a Row (split = official), plus what was skipped."""
    csv_path = first_existing(root, (REPORT_CSV, REPORT_CSV + ".gz"), "the CheXpert Plus report table")
    table = read_csv(csv_path, COLUMNS)
    label_path = _label_file(root)
    labels = read_labels(label_path) if label_path else {}
    skipped = {"non_frontal": 0, "missing_image": 0, "empty_report": 0, "no_label_row": 0}
    rows, seen = [], set()
    for i, r in enumerate(table, 1):
        if r["split"] not in SPLITS:
            raise LayoutError(f"{csv_path} row {i} is malformed: split {r['split']!r} is not one of "
                              f"{', '.join(SPLITS)}")
        if not r["path_to_image"] or not r["deid_patient_id"]:
            raise LayoutError(f"{csv_path} row {i} is malformed: empty path_to_image or deid_patient_id")
        if not all_views and r["frontal_lateral"].strip().lower() != "frontal":
            skipped["non_frontal"] += 1
            continue
        image = _image(root, r["path_to_image"])
        if image is None:
            skipped["missing_image"] += 1
            continue
        report = compose_report(r["section_findings"], r["section_impression"])
        if not report:
            skipped["empty_report"] += 1
            continue
        codes = labels.get(r["path_to_image"])
        if codes is None:
            skipped["no_label_row"] += int(bool(labels))
            codes = {k: None for k in MAPPING}
        rid = re.sub(r"[^A-Za-z0-9]+", "_", str(Path(r["path_to_image"]).with_suffix(""))).strip("_")
        if rid in seen:
            raise LayoutError(f"{csv_path} row {i} is malformed: path_to_image {r['path_to_image']!r} appears twice")
        seen.add(rid)
        study = re.search(r"study(\d+)", r["path_to_image"])
        rows.append(Row(id=rid, patient_id=r["deid_patient_id"], split=SPLITS[r["split"]], image=image.resolve(),
                        report=report, codes=codes, view=r["ap_pa"].strip() or r["frontal_lateral"].strip(),
                        study=study.group(1) if study else ""))
    if table and not rows and skipped["missing_image"]:
        raise LayoutError(f"no image found (e.g. {root / table[0]['path_to_image']}); is --root the folder "
                          "holding the CheXpert Plus images and df_chexpert_plus_240401.csv?")
    return rows, {"collection": COLLECTION, "source_description": SOURCE, "skipped": skipped,
                  "label_file": label_path.name if label_path else "none (all labels 0, mentions blank)",
                  "label_mapping": MAPPING, "views": "all" if all_views else "frontal (frontal_lateral = Frontal)"}
