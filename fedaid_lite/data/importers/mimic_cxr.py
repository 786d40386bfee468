"""MIMIC-CXR-JPG (images, metadata, CheXpert labels, official split) + MIMIC-CXR free-text reports.

Published layout (PhysioNet, mimic-cxr-jpg 2.0.0/2.1.0 and mimic-cxr 2.0.0 reports unzipped into the same root):

    ROOT/mimic-cxr-2.0.0-metadata.csv.gz   dicom_id, subject_id, study_id, ..., ViewPosition, ...
    ROOT/mimic-cxr-2.0.0-chexpert.csv.gz   subject_id, study_id, Atelectasis, ..., Support Devices
    ROOT/mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split (train / validate / test)
    ROOT/files/p10/p10000032/s50414267/<dicom_id>.jpg
    ROOT/files/p10/p10000032/s50414267.txt  (the report of that study)

Unpacked `.csv` files are accepted too. One manifest row per kept image; the report is the study's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import LayoutError, Row, code, compose_report, first_existing, read_csv, report_sections, require

COLLECTION = "mimic_cxr"
METADATA = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv"
SPLIT = "mimic-cxr-2.0.0-split.csv"
CHEXPERT_LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
                   "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other",
                   "Pneumonia", "Pneumothorax", "Support Devices")
# Our finding <- the CheXpert label it is read from (docs/real_data.md#label-mapping).
MAPPING = {"cardiomegaly": "Cardiomegaly", "pleural_effusion": "Pleural Effusion",
           "consolidation": "Consolidation", "pneumothorax": "Pneumothorax", "nodule": "Lung Lesion",
           "edema": "Edema", "atelectasis": "Atelectasis", "support_devices": "Support Devices",
           "no_finding": "No Finding"}
SPLITS = {"train": "train", "validate": "val", "test": "test"}
FRONTAL = ("PA", "AP")
SOURCE = ("MIMIC-CXR-JPG 2.x (PhysioNet, credentialed access) with the MIMIC-CXR 2.0.0 reports; "
          "labels from mimic-cxr-2.0.0-chexpert.csv.gz, split from mimic-cxr-2.0.0-split.csv.gz")


def chexpert_codes(rec: dict[str, str], where: str) -> dict[str, int | None]:
    """Our findings' raw codes from one CheXpert-labeler row (1 / 0 / -1 / None)."""
    try:
        return {ours: code(rec.get(theirs)) for ours, theirs in MAPPING.items()}
    except ValueError as err:
        raise LayoutError(f"{where} is malformed: {err}") from None


def report_text(path: Path) -> str:
    """FINDINGS + IMPRESSION of a MIMIC-CXR report file ('' when it has neither)."""
    try:
        sections = report_sections(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        raise LayoutError(f"{path} is unreadable; re-extract mimic-cxr-reports.zip") from None
    # Headers vary (MIT-LCP's section_parser lists them): "CONCLUSION", "FINDINGS AND IMPRESSION",
    # "FINDINGS/IMPRESSION" are impressions; "FINDING" is findings. Repeated sections are joined.
    findings = " ".join(t for h, t in sections if "IMPRESSION" not in h and h != "CONCLUSION" and "FINDING" in h)
    impression = " ".join(t for h, t in sections if "IMPRESSION" in h or h == "CONCLUSION")
    return compose_report(findings, impression)


def read_rows(root: Path, all_views: bool = False) -> tuple[list[Row], dict[str, Any]]:
    """Every kept image of the collection as a Row (split = official), plus what was skipped."""
    require(root / "files", "the MIMIC-CXR-JPG image folder (ROOT/files/pXX/...) is missing; "
                            "point --root at the folder holding files/ and the mimic-cxr-2.0.0-*.csv.gz")
    meta_path = first_existing(root, (METADATA + ".gz", METADATA), "the MIMIC-CXR-JPG metadata file")
    label_path = first_existing(root, (CHEXPERT + ".gz", CHEXPERT), "the MIMIC-CXR-JPG CheXpert label file")
    split_path = first_existing(root, (SPLIT + ".gz", SPLIT), "the MIMIC-CXR-JPG official split file")
    meta = read_csv(meta_path, ("dicom_id", "subject_id", "study_id", "ViewPosition"))
    labels = {(r["subject_id"], r["study_id"]): chexpert_codes(r, f"{label_path} row {i}")
              for i, r in enumerate(read_csv(label_path, ("subject_id", "study_id", *CHEXPERT_LABELS)), 1)}
    split_of = {}
    for i, r in enumerate(read_csv(split_path, ("dicom_id", "study_id", "subject_id", "split")), 1):
        if r["split"] not in SPLITS:
            raise LayoutError(f"{split_path} row {i} is malformed: split {r['split']!r} is not one of "
                              f"{', '.join(SPLITS)}")
        split_of[r["dicom_id"]] = SPLITS[r["split"]]
    skipped = {"non_frontal": 0, "not_in_split_file": 0, "missing_image": 0, "missing_report": 0,
               "empty_report": 0}
    rows, reports = [], {}
    for r in meta:
        subject, study, dicom = r["subject_id"], r["study_id"], r["dicom_id"]
        if not all_views and r["ViewPosition"] not in FRONTAL:
            skipped["non_frontal"] += 1
            continue
        if dicom not in split_of:
            skipped["not_in_split_file"] += 1
            continue
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}"
        image = folder / f"s{study}" / f"{dicom}.jpg"
        if not image.is_file():
            skipped["missing_image"] += 1
            continue
        if study not in reports:
            txt = folder / f"s{study}.txt"
            reports[study] = report_text(txt) if txt.is_file() else None
        if reports[study] is None:
            skipped["missing_report"] += 1
            continue
        if not reports[study]:
            skipped["empty_report"] += 1
            continue
        codes = labels.get((subject, study), {k: None for k in MAPPING})
        rows.append(Row(id=dicom, patient_id=subject, split=split_of[dicom], image=image.resolve(),
                        report=reports[study], codes=codes, view=r["ViewPosition"], study=study))
    if meta and not rows and skipped["missing_image"]:
        first = meta[0]
        raise LayoutError(f"no image found (e.g. {root}/files/p{first['subject_id'][:2]}/p{first['subject_id']}/"
                          f"s{first['study_id']}/{first['dicom_id']}.jpg); is --root the MIMIC-CXR-JPG folder?")
    return rows, {"collection": COLLECTION, "source_description": SOURCE, "skipped": skipped,
                  "label_mapping": MAPPING, "views": "all" if all_views else "frontal (ViewPosition PA/AP)"}
