"""`fedaid-lite data import` / `data merge` on generated trees in each collection's published layout."""

import csv
import gzip
import json
from pathlib import Path

import pytest
from PIL import Image

from fedaid_lite.cli import main
from fedaid_lite.data import load_manifest
from fedaid_lite.data.importers import import_collection
from fedaid_lite.data.importers.common import Row, reconcile_splits
from fedaid_lite.data.importers.mimic_cxr import report_text

from importer_fixtures import build_chexpert_plus, build_iu, build_mimic

BUILDERS = {"mimic-cxr": build_mimic, "chexpert-plus": build_chexpert_plus, "iu-xray": build_iu}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("collections")
    return {name: (base / name, build(base / name)) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def imported(trees, tmp_path_factory):
    base = tmp_path_factory.mktemp("imported")
    return {name: import_collection(name, root, base / name, command=f"test {name}").parent
            for name, (root, _) in trees.items()}


def _rows(folder: Path) -> list[dict]:
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())


def _one_split_per_patient(rows: list[dict]) -> bool:
    seen: dict[str, str] = {}
    return all(seen.setdefault(r["patient_id"], r["split"]) == r["split"] for r in rows)


def test_mimic_frontal_only_missing_images_skipped_and_split_conflict_resolved(trees, imported):
    # If this fails, lateral views, missing JPGs or a patient in two official splits leak into the manifest.
    root, facts = trees["mimic-cxr"]
    rows, meta = _rows(imported["mimic-cxr"]), _meta(imported["mimic-cxr"])
    assert len(rows) == facts["frontal"] and {r["view"] for r in rows} <= {"PA", "AP"}
    assert facts["missing"] not in {r["id"] for r in rows}
    assert meta["skipped"]["missing_image"] == 1 and meta["skipped"]["non_frontal"] == facts["lateral"]
    # Paths stay inside the imported folder as written and reach --root through its `collection` symlink.
    folder = imported["mimic-cxr"]
    assert (folder / "collection").resolve() == root.resolve()
    assert all(r["image"].startswith("collection/") and (folder / r["image"]).is_file() for r in rows), \
        "paths must point into --root through OUT/collection"
    assert _one_split_per_patient(rows)
    moved = {r["split"] for r in rows if r["patient_id"] == facts["two_split_patient"]}
    assert moved == {"test"} and meta["moved_between_splits"] >= 1
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    no_imp = [r for r in rows if r["study"] == facts["no_impression_study"]]
    assert no_imp and all(r["report"].startswith("FINDINGS: ") and "IMPRESSION" not in r["report"] for r in no_imp)
    assert not list(imported["mimic-cxr"].glob("images")), "images must not be copied unless asked"


@pytest.mark.parametrize("policy,expected", [("zero", "0"), ("one", "1"), ("drop", None)])
def test_uncertain_policy(trees, tmp_path, policy, expected):
    # If this fails, `--uncertain` does not do what it says for CheXpert's -1 labels (the raw -1 must survive).
    root, _ = trees["mimic-cxr"]
    out = import_collection("mimic-cxr", root, tmp_path / "o", uncertain=policy).parent
    rows = _rows(out)
    uncertain = [r for r in rows if r["mention_edema"] == "-1"]
    baseline = [r for r in _rows(import_collection("mimic-cxr", root, tmp_path / "z").parent)
                if r["mention_edema"] == "-1"]
    assert baseline, "the fixture must hold uncertain edema labels"
    if expected is None:
        assert not uncertain and len(rows) > 0
        assert _meta(out)["skipped"]["uncertain_dropped"] == len(baseline)   # the fixture's only -1s are edema
    else:
        assert uncertain and {r["edema"] for r in uncertain} == {expected}


def test_all_views_keeps_laterals(trees, tmp_path):
    root, facts = trees["mimic-cxr"]
    rows = _rows(import_collection("mimic-cxr", root, tmp_path / "o", all_views=True).parent)
    assert len(rows) == facts["frontal"] + facts["lateral"] and "LATERAL" in {r["view"] for r in rows}


def test_chexpert_plus_valid_becomes_test_and_labels_map(trees, imported):
    # If this fails, CheXpert Plus (train/valid only) has no test set, or Lung Lesion is not read as nodule.
    root, facts = trees["chexpert-plus"]
    rows, meta = _rows(imported["chexpert-plus"]), _meta(imported["chexpert-plus"])
    assert len(rows) == facts["frontal"] and {r["view"] for r in rows} <= {"AP", "PA"}
    assert {r["split"] for r in rows} == {"train", "val", "test"} and _one_split_per_patient(rows)
    assert {r["split"] for r in rows if r["patient_id"] == facts["two_split_patient"]} == {"test"}
    assert meta["label_file"] == "report_fixed.json" and meta["skipped"]["missing_image"] == 1
    labels = {}
    for line in (root / "chexbert_labels" / "report_fixed.json").read_text().splitlines():
        rec = json.loads(line)
        labels[rec["path_to_image"]] = rec
    for r in rows:
        rel = Path(r["image"]).relative_to("collection").as_posix()
        assert r["nodule"] == ("1" if labels[rel]["Lung Lesion"] == 1.0 else "0")
        assert r["cardiomegaly"] == ("1" if labels[rel]["Cardiomegaly"] == 1.0 else "0")
    assert sum("IMPRESSION" not in r["report"] for r in rows) >= 1


def test_iu_mesh_labels_patient_splits_and_blank_mentions(trees, imported):
    # If this fails, IU labels are guessed instead of read from MeSH, or a patient (report) spans two splits.
    _, facts = trees["iu-xray"]
    rows = _rows(imported["iu-xray"])
    assert len(rows) == facts["images"] and facts["missing"] not in {r["id"] for r in rows}
    assert _one_split_per_patient(rows) and {r["split"] for r in rows} == {"train", "val", "test"}
    names = {"Cardiomegaly": "cardiomegaly", "Pleural Effusion": "pleural_effusion", "Edema": "edema",
             "Consolidation": "consolidation", "Pneumothorax": "pneumothorax", "Atelectasis": "atelectasis",
             "Lung Lesion": "nodule", "Support Devices": "support_devices"}
    for r in rows:
        positives = {names[k] for k in facts["mesh_positive"][r["patient_id"]]}
        assert {k for k in names.values() if r[k] == "1"} == positives
        assert all(r[f"mention_{k}"] == ("1" if k in positives else "") for k in names.values())
        assert r["mention_no_finding"] == ("" if positives else "1")
    no_imp = [r for r in rows if r["patient_id"] == facts["no_impression"]]
    assert no_imp and all("IMPRESSION" not in r["report"] for r in no_imp)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_each_import_is_shown_and_trained_on(imported, tmp_path, capsys, name):
    # The point of the importers: `data check` and `data show` accept the folder (no leakage, no duplicates,
    # no paths outside it) and `compare --data` trains on it (tiny).
    folder = imported[name]
    assert main(["data", "check", str(folder)]) == 0
    assert main(["data", "show", str(folder)]) == 0
    assert name.replace("-", "_") in capsys.readouterr().out
    assert main(["compare", "--preset", "tiny", "--data", str(folder), "--algorithms", "fedavg",
                 "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    results = list(csv.DictReader((tmp_path / "cmp" / "results.csv").open()))
    assert results and results[0]["algorithm"] == "fedavg"


def test_dirichlet_sites_partition_patients(trees, tmp_path):
    # If this fails, `--sites dirichlet:ALPHA:K` splits a patient across hospitals or leaves a hospital empty.
    root, _ = trees["iu-xray"]
    a = _rows(import_collection("iu-xray", root, tmp_path / "a", sites="dirichlet:0.5:3", seed=4).parent)
    b = _rows(import_collection("iu-xray", root, tmp_path / "b", sites="dirichlet:0.5:3", seed=4).parent)
    assert a == b, "same seed, same sites"
    site_of: dict[str, str] = {}
    assert all(site_of.setdefault(r["patient_id"], r["site"]) == r["site"] for r in a)
    assert {r["site"] for r in a if r["split"] == "train"} == {"iu_xray_0", "iu_xray_1", "iu_xray_2"}
    hospitals = load_manifest(tmp_path / "a")
    assert hospitals.num_sites == 3
    even = _rows(import_collection("iu-xray", root, tmp_path / "c", sites="dirichlet:inf:2").parent)
    per_site = [len({r["patient_id"] for r in even if r["site"] == s}) for s in ("iu_xray_0", "iu_xray_1")]
    assert abs(per_site[0] - per_site[1]) <= 3, "alpha = inf must give (near) equal hospitals"


def test_chexpert_plus_png_release_layout(tmp_path):
    # If this fails, the PNG release (ROOT/PNG/<path_to_image as .png>) is not found and every image is skipped.
    root = tmp_path / "root"
    facts = build_chexpert_plus(root)
    for jpg in sorted(root.glob("*/patient*/study*/*.jpg")):
        png = root / "PNG" / jpg.relative_to(root).with_suffix(".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.open(jpg).save(png)
        jpg.unlink()
    rows = _rows(import_collection("chexpert-plus", root, tmp_path / "o").parent)
    assert len(rows) == facts["frontal"] and all(r["image"].endswith(".png") for r in rows)


def test_copy_writes_compact_pngs(trees, tmp_path):
    root, _ = trees["chexpert-plus"]
    out = import_collection("chexpert-plus", root, tmp_path / "o", copy_size=24).parent
    rows = _rows(out)
    for r in rows:
        assert not Path(r["image"]).is_absolute()
        with Image.open(out / r["image"]) as im:
            assert max(im.size) <= 24 and im.mode == "L" and (int(r["width"]), int(r["height"])) == im.size
    assert len(load_manifest(out).pooled("train")) > 0


def test_merge_makes_a_multi_hospital_federation(imported, tmp_path, capsys):
    # If this fails, merged ids collide, a collection loses its site, or the tokenizer is not retrained.
    out = tmp_path / "merged"
    assert main(["data", "merge", *map(str, imported.values()), "--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == sum(len(_rows(f)) for f in imported.values())
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["site"] for r in rows} == {"mimic_cxr", "chexpert_plus", "iu_xray"}
    assert (out / "tokenizer.json").is_file() and _meta(out)["command"].startswith("fedaid-lite data merge")
    assert load_manifest(out).num_sites == 3
    assert main(["data", "check", str(out)]) == 0


def _corrupt(root: Path, what: str) -> Path:
    """Break one file of a fresh tree; return the path the error must name."""
    if what == "missing_split":
        (root / "mimic-cxr-2.0.0-split.csv.gz").unlink()
        return root / "mimic-cxr-2.0.0-split.csv.gz"
    if what == "bad_gzip":
        (root / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(b"not gzip at all")
        return root / "mimic-cxr-2.0.0-metadata.csv.gz"
    if what == "bad_header":
        p = root / "mimic-cxr-2.0.0-chexpert.csv.gz"
        p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes()).replace(b"Cardiomegaly", b"Cardio", 1)))
        return p
    if what == "bad_xml":
        (root / "ecgen-radiology" / "3.xml").write_text("<eCitation><MedlineCitation>")
        return root / "ecgen-radiology" / "3.xml"
    if what == "no_reports_dir":
        for p in (root / "ecgen-radiology").iterdir():
            p.unlink()
        (root / "ecgen-radiology").rmdir()
        return root / "ecgen-radiology"
    (root / "df_chexpert_plus_240401.csv").unlink()
    return root / "df_chexpert_plus_240401.csv"


@pytest.mark.parametrize("name,what", [("mimic-cxr", "missing_split"), ("mimic-cxr", "bad_gzip"),
                                       ("mimic-cxr", "bad_header"), ("iu-xray", "bad_xml"),
                                       ("iu-xray", "no_reports_dir"), ("chexpert-plus", "missing_csv")])
def test_bad_layout_is_one_line_naming_the_file(tmp_path, capsys, name, what):
    # A broken download must stop with exit 2 and one line naming the file, and write nothing.
    root = tmp_path / "root"
    BUILDERS[name](root)
    bad = _corrupt(root, what)
    out = tmp_path / "out"
    assert main(["data", "import", name, "--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in err[0]
    assert not out.exists() and not list(tmp_path.glob(".out-*")), "nothing may be half-written"


def test_refuses_foreign_out_and_out_inside_root(trees, tmp_path, capsys):
    root, _ = trees["iu-xray"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["data", "import", "iu-xray", "--root", str(root), "--out", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    assert main(["data", "import", "iu-xray", "--root", str(root), "--out", str(root / "out")]) == 2
    assert main(["data", "import", "iu-xray", "--root", str(root), "--out", str(tmp_path / "o"),
                 "--sites", "dirichlet:0:3"]) == 2
    assert "dirichlet:ALPHA:K" in capsys.readouterr().err


def test_reconcile_moves_a_patient_to_the_most_held_out_split():
    # The documented rule: a patient in train and test ends up wholly in test (the test set never shrinks).
    rows = [Row(id=str(i), patient_id=p, split=s, image=Path("/x"), report="r", codes={})
            for i, (p, s) in enumerate([("a", "train"), ("a", "test"), ("b", "train"), ("c", "val"), ("c", "train")])]
    out, moved = reconcile_splits(rows)
    assert [r.split for r in out] == ["test", "test", "train", "val", "val"] and moved == 2


@pytest.mark.parametrize("args", [["data", "import"], ["data", "merge"]])
def test_help(args, capsys):
    # A crash here means a broken parser for the new commands.
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("text,expected", [
    (" FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n INDICATION:  cough\n \n FINDINGS: \n \n Clear lungs.\n"
     " \n IMPRESSION: \n \n No acute process.\n", "FINDINGS: Clear lungs.\nIMPRESSION: No acute process."),
    (" INDICATION: fever\n FINDINGS AND IMPRESSION:  Small left effusion.\n", "IMPRESSION: Small left effusion."),
    (" COMPARISON: none\n CONCLUSION: Stable cardiomegaly.\n", "IMPRESSION: Stable cardiomegaly."),
    (" INDICATION: fever\n COMPARISON: none\n", ""),
])
def test_mimic_report_sections(tmp_path, text, expected):
    # If this fails, MIMIC reports keep indication/comparison text or lose impressions under a variant header.
    path = tmp_path / "s1.txt"
    path.write_text(text)
    assert report_text(path) == expected
