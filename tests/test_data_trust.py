"""Issue 15's numbered cases: each hostile file or setting gets one clear line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fedaid_lite.checkpoint import Checkpoint, save_checkpoint
from fedaid_lite.cli import main
from fedaid_lite.config import Experiment
from fedaid_lite.data import ManifestError, check_manifest, load_manifest
from fedaid_lite.dro import project_chi2_ball
from fedaid_lite.history import History
from fedaid_lite.metrics import first_hit_ranks, modality_gap, recall_at_k
from tests.fixtures_manifest import bomb_png, manifest_rows, snapshot, write_manifest

EXE = Path(sys.executable).parent / "fedaid-lite"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fedaid-lite: error:"), err
    return err[0]


def _refused(tmp_path: Path, rows: list[dict], capsys, *fragments: str) -> str:
    """Write `rows`, show them with the CLI: exit 2, one line holding every fragment, folder unchanged."""
    root = tmp_path / "ds"
    write_manifest(root, rows)
    before = snapshot(root)
    assert main(["data", "show", str(root)]) == 2
    line = _one_error_line(capsys)
    for fragment in fragments:
        assert fragment in line, line
    assert snapshot(root) == before, "a refused manifest must leave its folder untouched"
    return line


def test_clean_manifest_loads(tmp_path):
    """If this fails, the fixture itself is broken and every refusal below proves nothing."""
    h = load_manifest(write_manifest(tmp_path), image_size=16, vocab_size=100)
    assert h.site_names == ("A", "B") and sum(len(t) for t in h.train) == 6
    assert check_manifest(tmp_path).ok


def test_1_patient_in_train_and_test_is_leakage(tmp_path, capsys):
    """If this fails, a patient seen in training can also be tested on: inflated, invalid results."""
    rows = manifest_rows()
    rows[3]["patient_id"] = rows[0]["patient_id"]               # row 1 train, row 4 test, same patient
    _refused(tmp_path, rows, capsys, "'p0'", "train (row 1)", "test (row 4)", "leakage")


@pytest.mark.parametrize("kind", ["id", "row"])
def test_2_duplicate_ids_and_rows_are_refused(tmp_path, capsys, kind):
    """If this fails, one case can be counted twice (or two cases share a name) without anyone noticing."""
    rows = manifest_rows()
    if kind == "id":
        rows[5]["id"] = rows[4]["id"]
        _refused(tmp_path, rows, capsys, "row 6", "'id'", "row 5", "unique")
    else:
        rows[6] = dict(rows[5])
        _refused(tmp_path, rows, capsys, "row 7", "duplicate of row 6")


def test_3_decompression_bomb_png_is_one_line(tmp_path, capsys):
    """If this fails, a 30000x30000 PNG header ends in a PIL traceback (or tries to allocate gigabytes)."""
    root = tmp_path / "ds"
    write_manifest(root)
    bomb_png(root / "images" / "case2.png")
    assert main(["data", "show", str(root)]) == 2
    line = _one_error_line(capsys)
    assert "row 3" in line and "'image'" in line and "images/case2.png" in line
    bomb_png(root / "images" / "case2.png", 9000, 9000)          # under PIL's own limit, over ours
    with pytest.raises(ManifestError, match="9000x9000 pixels"):
        load_manifest(root)


def test_4_long_report_loads_and_stray_quote_is_one_line(tmp_path, capsys):
    """If this fails, a real long report hits csv's 131,072-character limit, or bad quoting gives a traceback."""
    rows = manifest_rows()
    rows[0]["report"] = "FINDINGS: " + "no acute disease. " * 10_000          # ~180,000 characters
    h = load_manifest(write_manifest(tmp_path / "long", rows), vocab_size=100)
    assert max(len(r) for r in h.train[0].reports) > 131_072
    path = write_manifest(tmp_path / "quote")
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("FINDINGS:", '"FINDINGS:', 1)               # a quote that never closes
    path.write_text("\n".join(lines) + "\n")
    assert main(["data", "show", str(path)]) == 2
    line = _one_error_line(capsys)
    assert "row 3" in line and "quote" in line


def test_5_utf8_bom_header_is_accepted(tmp_path):
    """If this fails, Excel's 'CSV UTF-8' files are refused with 'column id: missing' although it is there."""
    path = write_manifest(tmp_path, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_manifest(path, vocab_size=100).site_names == ("A", "B")


def test_6_non_utf8_byte_names_file_and_line(tmp_path, capsys):
    """If this fails, a Latin-1 file gives a codec error naming neither the file nor the line."""
    rows = manifest_rows()
    rows[4]["report"] = "FINDINGS: épanchement pleural."
    path = write_manifest(tmp_path, rows, encoding="latin-1")
    assert main(["data", "show", str(tmp_path)]) == 2
    line = _one_error_line(capsys)
    assert str(path) in line and "line 6" in line and "0xe9" in line and "UTF-8" in line


@pytest.mark.parametrize("image", ["../outside.png", "ABSOLUTE"])
def test_7_paths_outside_the_folder_need_an_opt_in(tmp_path, capsys, image):
    """If this fails, a manifest from someone else can make us read any file on the machine."""
    write_manifest(tmp_path / "ds")
    outside = tmp_path / "outside.png"
    (tmp_path / "ds" / "images" / "case1.png").rename(outside)
    rows = manifest_rows()
    rows[1]["image"] = str(outside) if image == "ABSOLUTE" else image
    root = tmp_path / "ds"
    write_manifest(root, rows, images=False)
    assert main(["data", "show", str(root)]) == 2
    line = _one_error_line(capsys)
    assert "row 2" in line and "outside the manifest's folder" in line and "--allow-outside-paths" in line
    assert main(["data", "show", "--allow-outside-paths", str(root)]) == 0
    h = load_manifest(root, vocab_size=100, allow_outside_paths=True)
    assert len(h.train[0]) == 3


def test_8_heads_must_divide_hidden_size_before_any_work(tmp_path, capsys):
    """If this fails, a bad head count fails ~10 s later inside the model, without naming model.heads."""
    with pytest.raises(ValueError, match=r"model\.heads=3 must divide model\.hidden_size=32"):
        Experiment.tiny().override({"model.heads": 3})
    out = tmp_path / "run"
    assert main(["run", "--algorithm", "fedavg", "--preset", "tiny", "--set", "model.heads=3", "--out", str(out)]) == 2
    assert "model.heads" in _one_error_line(capsys) and not out.exists()


def test_9_split_fractions_must_leave_a_train_split(tmp_path, capsys):
    """If this fails, fractions summing to 1 fail later, advising the wrong key (data.n_per_site)."""
    out = tmp_path / "run"
    assert main(["run", "--algorithm", "fedavg", "--preset", "tiny", "--set", "data.val_fraction=0.5",
                 "--set", "data.test_fraction=0.5", "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "data.val_fraction" in line and "data.test_fraction" in line and not out.exists()
    with pytest.raises(ValueError, match="data.n_per_site=8"):   # small sites: the size is named too
        Experiment.tiny().override({"data.n_per_site": 8, "data.val_fraction": 0.3, "data.test_fraction": 0.3})


def test_10_closed_pipe_is_not_a_traceback(tmp_path):
    """If this fails, `fedaid-lite data show DIR | head` ends in a BrokenPipeError traceback."""
    write_manifest(tmp_path)
    cmd = f"{EXE if EXE.exists() else sys.executable + ' -m fedaid_lite.cli'} data show {tmp_path} | true"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


def test_11_refused_rerun_leaves_config_json_alone(tmp_path, capsys):
    """If this fails, a refused rerun rewrites config.json: the folder then lies about how its model was made."""
    cfg = Experiment.tiny().override({"fed.algorithm": "fedaid", "fed.bind_lambda": 0.03})
    out = tmp_path / "A"
    save_checkpoint(out, Checkpoint(1, {"w": torch.zeros(2)}, {}, {}, History(config=cfg.to_dict())))
    (out / "config.json").write_text(cfg.to_json())
    before = snapshot(out)
    assert main(["run", "--algorithm", "fedaid", "--preset", "tiny", "--set", "fed.bind_lambda=0.5",
                 "--out", str(out)]) == 2
    assert "changed: fed.bind_lambda" in _one_error_line(capsys)
    assert snapshot(out) == before
    assert json.loads((out / "config.json").read_text())["fed"]["bind_lambda"] == 0.03


def test_12_dro_projection_refuses_nan():
    """If this fails, a NaN weight flows into FedAID's aggregation as NaN weights instead of an error."""
    with pytest.raises(ValueError, match="finite"):
        project_chi2_ball([float("nan"), 0.5], [0.5, 0.5], 0.1)
    with pytest.raises(ValueError, match="finite"):
        project_chi2_ball([0.5, 0.5], [0.5, 0.5], float("nan"))


def test_12_ties_count_against_the_model_as_documented():
    """If this fails, the docstring and docs/metrics.md promise a tie convention the code does not keep."""
    sim = np.ones((4, 4))                                       # a collapsed model: every score equal
    relevant = np.eye(4, dtype=bool)
    assert first_hit_ranks(sim, relevant).tolist() == [3, 3, 3, 3]   # behind every non-relevant item
    assert recall_at_k(sim, relevant, ks=(1, 3, 4)) == {1: 0.0, 3: 0.0, 4: 1.0}
    assert "recall 0" in first_hit_ranks.__doc__


def test_12_modality_gap_needs_unit_vectors():
    """If this fails, raw (unnormalised) features give a 'gap' that measures their scale, silently."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert modality_gap(unit, unit) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="image_emb rows must be L2-normalised"):
        modality_gap(3 * x, unit)
    assert np.isnan(modality_gap(np.full((2, 4), np.nan), unit[:2]))


def test_device_without_cuda_is_refused_before_work(tmp_path, capsys, monkeypatch):
    """If this fails, train.device=cuda on a CPU machine starts writing a run folder before failing."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    assert main(["run", "--algorithm", "fedavg", "--preset", "tiny", "--set", "train.device=cuda",
                 "--out", str(out)]) == 2
    assert "train.device='cuda'" in _one_error_line(capsys) and not out.exists()


def test_check_report_lists_every_problem_and_separates_warnings(tmp_path, capsys):
    """If this fails, `data check` hides problems after the first, or calls a harmless oddity an error."""
    rows = manifest_rows()
    rows[1]["image"] = rows[0]["image"]                          # same image, both train: a warning
    rows[3]["image"] = rows[2]["image"]                          # train and test share an image: leakage
    rows[5]["cardiomegaly"], rows[5]["mention_cardiomegaly"] = "0", "1"   # label contradicts the report
    rows[6]["id"] = rows[4]["id"]
    write_manifest(tmp_path, rows)
    report = check_manifest(tmp_path)
    assert len(report.errors) == 2 and not report.ok
    assert any("case2.png" in e and "different splits" in e for e in report.errors)
    assert any("'id'" in e and "row 7" in e for e in report.errors)
    assert any("case0.png" in w for w in report.warnings)
    assert any("row" in w and "mention" in w for w in report.warnings)
    assert main(["data", "check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "2 error(s)" in captured.out and len(captured.err.strip().splitlines()) == 1
    with pytest.raises(ManifestError, match=r"\(and 1 more: fedaid-lite data check lists them\)"):
        load_manifest(tmp_path)


def test_data_check_on_the_shipped_sample_is_clean(capsys):
    """If this fails, the shipped sample data itself breaks the integrity rules we ask users to keep."""
    assert main(["data", "check", str(Path(__file__).resolve().parent.parent / "data_samples")]) == 0
    assert "OK, 0 warning(s)" in capsys.readouterr().out
