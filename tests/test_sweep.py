"""`fedaid-lite sweep`: papermill over a grid, one table, reproducible, robust to a failing combination.

Runs the torch-free fixture `tests/notebooks/sweep_tiny.ipynb` (about 2 s per run) so the sweep
machinery is tested without the cost of a course notebook; notebook 07 runs a real sweep in
tests/test_notebooks.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedaid_lite.sweep import expand, flat_metrics, load_grid, run_name, run_sweep, write_metrics

TINY = Path(__file__).parent / "notebooks" / "sweep_tiny.ipynb"
EXE = Path(sys.executable).parent / "fedaid-lite"

pytestmark = pytest.mark.slow


def _grid(tmp_path: Path, text: str, name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_same_sweep_twice_gives_identical_tables(tmp_path):
    # If this fails, the table holds something volatile (times, paths, random ids) or the runs are not
    # seeded, and an instructor cannot trust that a re-run reproduces the class's results.
    grid = _grid(tmp_path, "SMOKE: [true]\nALPHA: [0.1, 10.0]\n")
    tables = []
    for attempt in ("a", "b"):
        rows = run_sweep(TINY, grid, tmp_path / attempt)
        assert [r["status"] for r in rows] == ["ok", "ok"], rows
        tables.append(((tmp_path / attempt / "sweep.csv").read_bytes(),
                       (tmp_path / attempt / "sweep.json").read_bytes()))
    assert tables[0] == tables[1]
    rows = json.loads(tables[0][1])
    assert rows[0]["score"] != rows[1]["score"], "the parameter did not reach the notebook"
    # Each combination keeps its executed notebook next to its metrics.
    for row in rows:
        run_dir = tmp_path / "a" / "runs" / row["run"]
        assert (run_dir / TINY.name).is_file() and (run_dir / "metrics.json").is_file()


def test_failing_combination_is_reported_and_the_others_complete(tmp_path):
    # If this fails, one bad value in a class's grid would throw away every other run (or hide its error).
    grid = _grid(tmp_path, "ALPHA: [1.0, -1.0, 0.5]\n")
    out = subprocess.run([str(EXE) if EXE.exists() else sys.executable, *([] if EXE.exists() else
                          ["-m", "fedaid_lite.cli"]), "sweep", str(TINY), "--grid", str(grid),
                          "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300, env={**os.environ})
    assert out.returncode == 1, out.stderr
    assert "2 of 3 runs ok" in out.stdout
    assert "ALPHA=-1.0: must be >= 0" in out.stderr
    rows = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "ValueError" in rows[1]["error"] and "score" not in rows[1]
    assert all("score" in r for r in (rows[0], rows[2]))


@pytest.mark.parametrize("text, message", [
    ("ALPHA: [1, 2\n", "not valid YAML"),
    ("- 1\n- 2\n", "must map PARAMETER names"),
    ("", "must map PARAMETER names"),
    ("alpha: [1, 2]\n", "UPPER_CASE"),
    ("ALPHA: []\n", "has no values"),
])
def test_bad_grid_files_give_clear_errors(tmp_path, text, message):
    # If this fails, a typo in a grid file would surface as a papermill traceback (or run silently).
    with pytest.raises(ValueError, match=message):
        load_grid(_grid(tmp_path, text))


def test_missing_files_are_named(tmp_path):
    # If this fails, a wrong path would produce a stack trace instead of naming the missing file.
    with pytest.raises(FileNotFoundError, match="grid file"):
        load_grid(tmp_path / "nope.yaml")
    with pytest.raises(FileNotFoundError, match="notebook"):
        run_sweep(tmp_path / "nope.ipynb", _grid(tmp_path, "ALPHA: [1]\n"), tmp_path / "out")


def test_unknown_grid_key_is_an_error_before_any_run(tmp_path):
    # If this fails, a typo such as ALPHAS would run the same notebook N times (papermill only warns)
    # and the table would look like a sweep that changed nothing.
    with pytest.raises(ValueError, match="ALPHAS not in the parameters cell of sweep_tiny.ipynb"):
        run_sweep(TINY, _grid(tmp_path, "ALPHAS: [1, 2]\n"), tmp_path / "out")
    assert not (tmp_path / "out" / "runs").exists()


def test_grid_expansion_order_and_names_are_stable():
    # If this fails, run folders or table rows would change order between runs of the same grid.
    combos = expand({"A": [1, 2], "B": ["x", "y"]})
    assert combos == [{"A": 1, "B": "x"}, {"A": 1, "B": "y"}, {"A": 2, "B": "x"}, {"A": 2, "B": "y"}]
    assert run_name({"ALPHA": 0.5, "NAME": "a/b c"}) == "alpha-0.5_name-abc"


def test_metrics_writer_rounds_drops_missing_and_names_rows(tmp_path):
    # If this fails, notebooks' metrics.json (what a sweep collects) is unreadable, unrounded or misnamed.
    rows = [{"algorithm": "fedavg", "label_skew": "0.1", "sem_p5": 0.123456, "auroc": None},
            {"algorithm": "fedaid", "label_skew": "0.1", "sem_p5": float("nan"), "auroc": 0.7}]
    flat = flat_metrics(rows, ("sem_p5", "auroc"), by=("algorithm", "label_skew"))
    assert list(flat) == ["fedavg_0.1_sem_p5", "fedaid_0.1_sem_p5", "fedaid_0.1_auroc"]
    written = write_metrics(tmp_path / "run", {**flat, "steps": 3})
    assert written["fedavg_0.1_sem_p5"] == 0.1235 and written["steps"] == 3
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())   # strict JSON: NaN becomes null
    assert on_disk == written and written["fedaid_0.1_sem_p5"] is None
