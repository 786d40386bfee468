"""The benchmark scripts start and speak the result protocol (`--smoke`: tiny sizes, not measurements).

The real measurements are `make bench` (benchmarks/run_all.py), not part of the unit tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

from _common import parse_results  # noqa: E402
from run_all import adapt_data_speed, adapt_learnability, adapt_notebook_budget, plan, table  # noqa: E402

OURS = ["engine_overhead.py", "algorithm_cost.py", "input_pipeline.py", "umap_maps.py", "dashboard_latency.py",
        "flower_overhead.py", "fork_memory.py"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), FLWR_TELEMETRY_ENABLED="0",
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba")))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _well_formed(row: dict) -> bool:
    skipped = str(row.get("status", "")).startswith("skipped")
    return (isinstance(row["name"], str) and row["name"] and isinstance(row["target"], str)
            and row["ok"] in (True, False, None) and (skipped or isinstance(row["value"], (int, float))))


@pytest.mark.slow
@pytest.mark.parametrize("script", OURS)
def test_benchmark_smoke_prints_results(script):
    # If this fails, `make bench` would crash in this script or its figures would be missing from the table.
    proc = _run(str(BENCH / script), "--smoke")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = parse_results(proc.stdout)
    assert rows, f"{script} printed no RESULT lines:\n{proc.stdout[-1000:]}"
    assert all(_well_formed(r) for r in rows), rows


def test_parse_results_reads_only_protocol_lines():
    # If this fails, run_all would miss figures or choke on a script's ordinary output.
    text = ('noise\nRESULT {"name": "a", "value": 1.0, "unit": "x", "target": "<= 2", "ok": true}\n'
            'RESULT {not json}\nRESULT {"name": "b"}\n')
    assert parse_results(text) == [{"name": "a", "value": 1.0, "unit": "x", "target": "<= 2", "ok": True}]


def test_adapters_read_the_other_helpers_outputs(tmp_path):
    # If this fails, figures from data_speed.py, learnability.py or notebook_budget.py vanish from the table.
    speed = ("| step | cases | wall s | CPU s | target |\n|---|---|---|---|---|\n"
             "| make_hospitals(default) | 3000 | 12.50 | 9.00 | <= 10 s (OVER) |\n"
             "| write_dataset(default) | 3000 | 20.11 | 18.00 | - |\n")
    rows = adapt_data_speed(speed, tmp_path)
    assert [(r["value"], r["ok"]) for r in rows] == [(12.5, False), (20.11, None)]
    learn = ("| finding | test positives | AUROC (mean) | min-max over seeds |\n|---|---|---|---|\n"
             "| edema | 40 | 0.871 | 0.85-0.89 |\n| nodule | 12 | 0.700 (outside 0.80-0.95) | 0.69-0.71 |\n")
    assert [r["ok"] for r in adapt_learnability(learn, tmp_path)] == [True, False]
    (tmp_path / "budget.json").write_text(json.dumps([{"notebook": "00_x", "smoke": True, "seconds": 70.0,
                                                       "peak_rss_mb": 900, "status": "ok"}]))
    wall, rss = adapt_notebook_budget(True)("", tmp_path)
    assert (wall["ok"], rss["ok"]) == (False, True) and wall["target"] == "<= 60"
    assert "SHORT" in table([wall]) and "| ok |" in table([rss])
    # with PSS measured, memory is judged on it; summed RSS (forked children counted again) is only reported
    (tmp_path / "budget.json").write_text(json.dumps([{"notebook": "05_x", "smoke": False, "seconds": 20.0,
                                                       "peak_rss_mb": 1800, "peak_pss_mb": 700, "status": "ok"}]))
    wall, held, rss = adapt_notebook_budget(False)("", tmp_path)
    assert (held["value"], held["ok"], rss["value"], rss["ok"]) == (700, True, 1800, None)
    assert "PSS" in held["name"] and "RSS" in rss["name"]


def test_plan_covers_every_benchmark():
    # If this fails, `make bench` silently stopped running one of the benchmarks.
    scripts = {b.script for b in plan("full")}
    assert set(OURS) | {"data_speed.py", "learnability.py"} <= scripts
    assert all(b.smoke_args is not None for b in plan("smoke"))


@pytest.mark.slow
def test_run_all_smoke_writes_a_table(tmp_path):
    # If this fails, `make bench` cannot assemble its final table or results.json.
    out = tmp_path / "results.json"
    proc = _run(str(BENCH / "run_all.py"), "--smoke", "--only", "flower", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| figure | value | target | ok/short |" in proc.stdout and "Total time" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["mode"] == "smoke" and len(doc["results"]) == 2 and all(_well_formed(r) for r in doc["results"])
    assert doc["runs"][0]["exit"] == 0 and doc["total_seconds"] > 0


def test_only_run_keeps_the_other_figures(tmp_path):
    # Re-measuring one benchmark with --only must not wipe the rest of results.json (the README table).
    from run_all import save
    out = tmp_path / "results.json"
    old = {"generated": "then", "command": "python benchmarks/run_all.py",
           "runs": [{"script": "a.py"}, {"script": "b.py"}],
           "results": [{"name": "A", "script": "a.py"}, {"name": "B", "script": "b.py"}]}
    save(out, "full", "python benchmarks/run_all.py --only b", 1.0, {}, [{"script": "b.py"}],
         [{"name": "B2", "script": "b.py"}], partial=False, keep=old)
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["results"]] == ["B2", "A"]
    assert [r["script"] for r in doc["runs"]] == ["b.py", "a.py"]
    assert doc["kept_from"]["generated"] == "then"


def test_full_run_keeps_the_figures_of_scripts_it_skipped_for_the_budget(tmp_path):
    # If this fails, a budgeted `make bench` replaces earlier measurements (the README's Flower and class
    # notebook figures) with "skipped" lines: numbers the README cites would no longer be in results.json.
    from run_all import save
    out = tmp_path / "results.json"
    old = {"generated": "then", "command": "python benchmarks/run_all.py",
           "runs": [{"script": "a.py"}, {"script": "b.py"}, {"script": "c.py"}],
           "results": [{"name": "A", "script": "a.py"}, {"name": "B", "script": "b.py"},
                       {"name": "C", "script": "c.py"}]}
    skipped = {"name": "b.py", "script": "b.py", "value": None, "ok": None,
               "status": "skipped: needs up to 7.0 min, 3.2 min left of the 20-min budget"}
    gone = {"name": "c.py", "script": "c.py", "value": None, "ok": None,
            "status": "skipped: benchmarks/c.py is not in this checkout"}
    save(out, "full", "python benchmarks/run_all.py", 1.0, {}, [{"script": "a.py"}],
         [{"name": "A2", "script": "a.py"}, skipped, gone], partial=False, keep=old)
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["results"]] == ["A2", "c.py", "B"]
    assert doc["results"][-1]["kept_from_run"] == "then"
    assert [r["script"] for r in doc["runs"]] == ["a.py", "b.py"]
