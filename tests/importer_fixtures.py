"""Tiny generated trees in the published layouts of MIMIC-CXR-JPG (+ reports), CheXpert Plus and IU X-ray.

Headers, file names and XML structure are those of the releases (docs/real_data.md lists the sources);
images are small random grayscale pictures and reports are a few template sentences, so no real data is
involved. Each tree also holds the awkward cases a real download has: gzipped CSVs, images listed but
missing, reports without an impression, lateral views, and a patient found in two official splits.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

CHEXPERT_14 = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
               "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
               "Pneumothorax", "Support Devices"]
PHRASES = {"Cardiomegaly": "The heart is enlarged.", "Pleural Effusion": "Small left pleural effusion.",
           "Consolidation": "Right lower lobe consolidation.", "Pneumothorax": "Small right apical pneumothorax.",
           "Edema": "Mild pulmonary edema.", "Atelectasis": "Bibasilar atelectasis.",
           "Lung Lesion": "A nodule in the left upper lobe.", "Support Devices": "Endotracheal tube in place."}
MIMIC_META = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
              "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
              "PatientOrientationCodeSequence_CodeMeaning"]
PLUS_COLUMNS = ["path_to_image", "path_to_dcm", "frontal_lateral", "ap_pa", "deid_patient_id",
                "patient_report_date_order", "report", "section_narrative", "section_clinical_history",
                "section_history", "section_comparison", "section_technique", "section_procedure_comments",
                "section_findings", "section_impression", "section_end_of_impression", "section_summary",
                "section_accession_number", "age", "sex", "race", "ethnicity", "interpreter_needed",
                "insurance_type", "recent_bmi", "deceased", "split"]


def _image(path: Path, rng: np.random.Generator, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (40, 36), dtype=np.uint8)).save(path, format=fmt)


def _csv_text(header: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _case(rng: np.random.Generator) -> tuple[dict[str, str], str, str]:
    """(CheXpert label cells, findings text, impression text) of one made-up study."""
    positives = [k for k in PHRASES if rng.random() < 0.25]
    uncertain = "Edema" if rng.random() < 0.2 and "Edema" not in positives else None
    cells = {k: "" for k in CHEXPERT_14}
    for k in positives:
        cells[k] = "1.0"
    if uncertain:
        cells[uncertain] = "-1.0"
    if not positives and not uncertain:
        cells["No Finding"] = "1.0"
        cells["Pneumothorax"] = "0.0"
    findings = " ".join(PHRASES[k] for k in positives) + (" Possible mild edema." if uncertain else "")
    findings = findings.strip() or "The lungs are clear. No pneumothorax."
    impression = "; ".join(k.lower() for k in positives) or "No acute cardiopulmonary process."
    return cells, findings, impression


def build_mimic(root: Path, n_patients: int = 14, seed: int = 0) -> dict:
    """A MIMIC-CXR-JPG tree; returns facts the tests check (frontal count, missing image, moved patient)."""
    rng = np.random.default_rng(seed)
    meta, labels, split = [], [], []
    facts = {"frontal": 0, "lateral": 0, "missing": None, "no_impression_study": None, "two_split_patient": None}
    for p in range(n_patients):
        subject = str(10000032 + p * 1117)
        official = "test" if p % 5 == 0 else "validate" if p % 7 == 3 else "train"
        for s in range(2):
            study = str(50000000 + p * 10 + s)
            cells, findings, impression = _case(rng)
            labels.append({"subject_id": subject, "study_id": study, **cells})
            folder = root / "files" / f"p{subject[:2]}" / f"p{subject}"
            text = (f"                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n"
                    f" INDICATION:  ___ with cough\n \n FINDINGS: \n \n {findings}\n")
            if not (p == 1 and s == 0):
                text += f" \n IMPRESSION: \n \n {impression}\n"
            else:
                facts["no_impression_study"] = study
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"s{study}.txt").write_text(text)
            study_split = official
            if p == 2:   # one patient split across the official train and test sets
                study_split = "train" if s == 0 else "test"
                facts["two_split_patient"] = subject
            for view in ("PA" if p % 2 else "AP", "LATERAL"):
                dicom = "-".join(f"{int(x):08x}" for x in rng.integers(0, 2**31, 5))
                meta.append({"dicom_id": dicom, "subject_id": subject, "study_id": study,
                             "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": view,
                             "Rows": 3056, "Columns": 2544, "StudyDate": 21800506, "StudyTime": 213014.531,
                             "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
                             "ViewCodeSequence_CodeMeaning": "postero-anterior" if view == "PA" else
                             "antero-posterior" if view == "AP" else "lateral",
                             "PatientOrientationCodeSequence_CodeMeaning": "Erect"})
                split.append({"dicom_id": dicom, "study_id": study, "subject_id": subject, "split": study_split})
                if p == 3 and s == 1 and view != "LATERAL":
                    facts["missing"] = dicom     # listed everywhere, but the JPG is not there
                    continue
                _image(folder / f"s{study}" / f"{dicom}.jpg", rng, "JPEG")
                facts["frontal" if view != "LATERAL" else "lateral"] += 1
    header = ["subject_id", "study_id", *CHEXPERT_14]
    for name, head, rows in (("metadata", MIMIC_META, meta), ("chexpert", header, labels),
                             ("split", ["dicom_id", "study_id", "subject_id", "split"], split)):
        (root / f"mimic-cxr-2.0.0-{name}.csv.gz").write_bytes(gzip.compress(_csv_text(head, rows).encode()))
    return facts


def build_chexpert_plus(root: Path, n_patients: int = 14, seed: int = 1) -> dict:
    """A CheXpert Plus tree (report CSV, JPG images, chexbert_labels/report_fixed.json)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    facts = {"frontal": 0, "missing": None, "two_split_patient": None, "no_impression": 0}
    for p in range(n_patients):
        pid = f"patient{p + 1:05d}"
        for s in range(2):
            split = "valid" if p % 4 == 0 else "train"
            if p == 5:
                split, facts["two_split_patient"] = ("train" if s == 0 else "valid"), pid
            cells, findings, impression = _case(rng)
            if p == 6 and s == 1:
                impression, facts["no_impression"] = "", 1
            for v, (fl, appa) in enumerate((("Frontal", "AP" if p % 3 else "PA"), ("Lateral", "LL")), 1):
                rel = f"{'train' if split == 'train' else 'valid'}/{pid}/study{s + 1}/view{v}_{fl.lower()}.jpg"
                rows.append({**{c: "" for c in PLUS_COLUMNS}, "path_to_image": rel,
                             "path_to_dcm": rel.replace(".jpg", ".dcm"), "frontal_lateral": fl, "ap_pa": appa,
                             "deid_patient_id": pid, "patient_report_date_order": s + 1,
                             "report": f"NARRATIVE: CHEST 1 VIEW\n\nFINDINGS: {findings}\n\nIMPRESSION: {impression}",
                             "section_narrative": "CHEST 1 VIEW", "section_findings": findings,
                             "section_impression": impression, "age": 60 + p, "sex": "Female", "split": split})
                labels.append({"path_to_image": rel, **{k: (None if c == "" else float(c)) for k, c in cells.items()}})
                if p == 4 and s == 0 and fl == "Frontal":
                    facts["missing"] = rel
                    continue
                _image(root / rel, rng, "JPEG")
                facts["frontal"] += fl == "Frontal"
    (root / "df_chexpert_plus_240401.csv").write_text(_csv_text(PLUS_COLUMNS, rows))
    (root / "chexbert_labels").mkdir(parents=True, exist_ok=True)
    (root / "chexbert_labels" / "report_fixed.json").write_text("".join(json.dumps(r) + "\n" for r in labels))
    return facts


IU_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{n}"/>
  <pmcId id="{n}"/>
  <docSource>CXR</docSource>
  <IUXRId id="{n}"/>
  <licenseType>open-access</licenseType>
  <licenseURL>http://creativecommons.org/licenses/by-nc-nd/4.0/</licenseURL>
  <ccLicense>byncnd</ccLicense>
  <articleURL/>
  <articleDate>2013-08-01</articleDate>
  <articleType>XR</articleType>
  <publisher>Indiana University</publisher>
  <title>Indiana University Chest X-ray Collection</title>
  <note>The data are drawn from multiple hospital systems.</note>
  <specialty>pulmonary diseases</specialty>
  <subset>CXR</subset>
  <MedlineCitation Owner="Indiana University" Status="supplied">
    <Article PubModel="Electronic">
      <Journal><JournalIssue><PubDate><Year>2013</Year><Month>08</Month><Day>01</Day></PubDate></JournalIssue></Journal>
      <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">XXXX-year-old with chest pain.</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
      <Affiliation>Indiana University</Affiliation>
      <AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Kohli</LastName><ForeName>Marc</ForeName></Author></AuthorList>
      <Language>eng</Language>
      <PublicationTypeList><PublicationType>Radiology Report</PublicationType></PublicationTypeList>
      <ArticleDate><Year>2013</Year><Month>08</Month><Day>01</Day></ArticleDate>
    </Article>
    <EIDs><EID>{n}</EID></EIDs>
  </MedlineCitation>
  <MeSH>
{mesh}
  </MeSH>
{images}
</eCitation>
"""
IU_MESH = {"Cardiomegaly": "Cardiomegaly/mild", "Pleural Effusion": "Pleural Effusion/left/small",
           "Consolidation": "Consolidation/lung/base/right", "Pneumothorax": "Pneumothorax/apex/right/small",
           "Edema": "Pulmonary Edema/mild", "Atelectasis": "Pulmonary Atelectasis/base/bilateral",
           "Lung Lesion": "Nodule/lung/upper lobe/left", "Support Devices": "Tube, Inserted"}


def build_iu(root: Path, n_reports: int = 20, seed: int = 2) -> dict:
    """An IU X-ray tree (ecgen-radiology/*.xml + NLMCXR_png/*.png); two images per report."""
    rng = np.random.default_rng(seed)
    facts = {"images": 0, "missing": None, "no_impression": None, "mesh_positive": {}}
    (root / "ecgen-radiology").mkdir(parents=True, exist_ok=True)
    for n in range(1, n_reports + 1):
        cells, findings, impression = _case(rng)
        positives = [k for k, c in cells.items() if c == "1.0" and k in IU_MESH]
        tags = [f"    <major>{IU_MESH[k]}</major>" for k in positives] or ["    <major>normal</major>"]
        if positives and n % 3 == 0:
            tags.append("    <minor>Calcified Granuloma/lung/upper lobe/right</minor>")
        if n == 4:
            impression, facts["no_impression"] = "", f"CXR{n}"
        ids = [f"CXR{n}_1_IM-{n:04d}-1001", f"CXR{n}_1_IM-{n:04d}-2001"]
        images = "\n".join(f'  <parentImage id="{i}">\n    <figureId>F{k + 1}</figureId>\n    <caption>Xray Chest PA and '
                           f'Lateral</caption>\n    <panel type="single">\n      <url>/hadoop/storage/radiology/extract/'
                           f'{i}.jpg</url>\n    </panel>\n  </parentImage>' for k, i in enumerate(ids))
        xml = IU_XML.format(n=n, findings=findings, impression=impression, mesh="\n".join(tags), images=images)
        if not impression:
            xml = xml.replace('<AbstractText Label="IMPRESSION"></AbstractText>', '<AbstractText Label="IMPRESSION"/>')
        (root / "ecgen-radiology" / f"{n}.xml").write_text(xml)
        facts["mesh_positive"][f"CXR{n}"] = positives
        for i in ids:
            if n == 7 and i.endswith("2001"):
                facts["missing"] = i
                continue
            _image(root / "NLMCXR_png" / f"{i}.png", rng, "PNG")
            facts["images"] += 1
    return facts
