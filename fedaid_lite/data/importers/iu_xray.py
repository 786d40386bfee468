"""IU X-ray (Indiana University chest X-ray collection, Open-i / NLM): XML reports + PNG images.

Published layout (Open-i downloads NLMCXR_reports.tgz and NLMCXR_png.tgz, unpacked into ROOT):

    ROOT/ecgen-radiology/1.xml ...        <eCitation> with <uId id="CXR1"/>, MedlineCitation/Article/Abstract/
                                          AbstractText Label="FINDINGS" / "IMPRESSION", <MeSH><major>..</major>
                                          <minor>..</minor></MeSH>, and one <parentImage id="CXR1_1_IM-0001-3001">
                                          per image
    ROOT/NLMCXR_png/CXR1_1_IM-0001-3001.png

IU publishes no patient id (one report = one patient here), no per-image view and no split, so: every
image of a report is kept (view blank), splits are seeded patient-level splits, and labels come from the
MeSH tags (first term before '/'), mapped where a tag names one of our findings (MESH below). A finding no
tag names is 0 with a blank mention: the manifest's labels are 0/1, the blank mention keeps "not said".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .common import LABELS, LayoutError, Row, compose_report, require

COLLECTION = "iu_xray"
REPORTS = "ecgen-radiology"
IMAGES = "NLMCXR_png"
# Our finding <- MeSH major/minor terms (lower case, the part before the first '/').
MESH = {"cardiomegaly": ("cardiomegaly",), "pleural_effusion": ("pleural effusion",),
        "consolidation": ("consolidation",), "pneumothorax": ("pneumothorax",),
        "nodule": ("nodule", "mass", "lung neoplasms"), "edema": ("pulmonary edema", "edema"),
        "atelectasis": ("pulmonary atelectasis", "atelectasis"),
        "support_devices": ("medical device", "implanted medical device", "catheters, indwelling",
                            "tube, inserted", "pacemaker, artificial", "surgical instruments")}
SOURCE = ("IU X-ray / Indiana University chest X-ray collection (Open-i, National Library of Medicine; "
          "open access): ecgen-radiology/*.xml reports and NLMCXR_png images; labels from MeSH tags")


def mesh_codes(terms: list[str]) -> dict[str, int | None]:
    """Codes of our findings from a report's MeSH terms: 1 if a mapped term is present, else None."""
    heads = {t.split("/")[0].strip().lower() for t in terms if t}
    codes: dict[str, int | None] = {k: (1 if heads & set(MESH[k]) else None) for k in LABELS}
    codes["no_finding"] = 1 if heads == {"normal"} else None
    return codes


def parse_report(path: Path) -> tuple[str, str, list[str], list[str]]:
    """(patient id, findings + impression, parent image ids, MeSH terms) of one ecgen-radiology XML file."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise LayoutError(f"{path} is malformed XML ({err}); re-extract NLMCXR_reports.tgz") from None
    uid = root.find(".//uId")
    pid = uid.get("id") if uid is not None and uid.get("id") else f"CXR{path.stem}"
    text = {el.get("Label"): "".join(el.itertext()) for el in root.iter("AbstractText")}
    if "FINDINGS" not in text and "IMPRESSION" not in text:
        raise LayoutError(f"{path} is malformed: no AbstractText Label=\"FINDINGS\" or \"IMPRESSION\"")
    images = [el.get("id", "") for el in root.findall("parentImage") if el.get("id")]
    mesh = [el.text or "" for tag in ("major", "minor") for el in root.findall(f".//MeSH/{tag}")]
    return pid, compose_report(text.get("FINDINGS"), text.get("IMPRESSION")), images, mesh


def read_rows(root: Path, all_views: bool = True) -> tuple[list[Row], dict[str, Any]]:
    """Every image of every report as a Row (split set later, by patient); `all_views` is moot: IU has no view."""
    reports = require(root / REPORTS, "the IU X-ray reports (unpack NLMCXR_reports.tgz into --root)")
    images = require(root / IMAGES, "the IU X-ray PNG images (unpack NLMCXR_png.tgz into --root)")
    files = sorted(reports.glob("*.xml"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise LayoutError(f"{reports} holds no .xml report; unpack NLMCXR_reports.tgz into --root")
    skipped = {"missing_image": 0, "empty_report": 0, "report_without_image": 0}
    rows = []
    for path in files:
        pid, report, ids, mesh = parse_report(path)
        if not ids:
            skipped["report_without_image"] += 1
            continue
        if not report:
            skipped["empty_report"] += len(ids)
            continue
        codes = mesh_codes(mesh)
        for image_id in ids:
            image = images / f"{image_id}.png"
            if not image.is_file():
                skipped["missing_image"] += 1
                continue
            rows.append(Row(id=image_id, patient_id=pid, split="train", image=image.resolve(), report=report,
                            codes=codes, view="", study=path.stem))
    if not rows and skipped["missing_image"]:
        raise LayoutError(f"no image found under {images} for the reports in {reports}; "
                          "is NLMCXR_png.tgz unpacked there?")
    return rows, {"collection": COLLECTION, "source_description": SOURCE, "skipped": skipped,
                  "label_mapping": {k: list(v) for k, v in MESH.items()},
                  "views": "all (IU publishes no per-image view)"}
