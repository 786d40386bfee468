"""The small library calls the course notebooks make instead of writing logic in cells (issue 14, item 4).

Each helper replaces a loop or a table a notebook used to build itself; these tests pin down what the
notebook prints or draws, so the notebook's story (and the numbers its markdown quotes) stays true.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fedaid_lite import viz
from fedaid_lite.config import Experiment
from fedaid_lite.data import (KNOBS, example_cases, format_case, format_cases, format_site_examples, format_sites, format_spreads,
                              heterogeneity_knobs, make_hospitals, spreads)
from fedaid_lite.experiments import (CompareResult, budget_line, chance_levels, finals_table, run_compare, skew_costs,
                                     skew_takeaway)
from fedaid_lite.history import History, side_by_side
from fedaid_lite.metrics import mean_sq_distance
from fedaid_lite.model import build_model, max_weight_difference, save_model
from fedaid_lite.names import row_labels, row_run_name, run_label
from fedaid_lite.sweep import fresh_out, run_parameters, same_tables, status_line, write_grid, write_metrics


def _row(algorithm: str, skew: str = "0.1", seed: int = 0, **metrics: float) -> dict:
    base = {"algorithm": algorithm, "label_skew": skew, "seed": seed, "sem_p5": 0.2, "sem_p5_chance": 0.05,
            "worst_site_sem_p5": 0.1, "worst_site_sem_p5_chance": 0.06, "dist_to_ref": 0.5}
    return base | metrics


def _result(tmp_path: Path, rows: list[dict]) -> CompareResult:
    histories = {row_run_name(r): History({}, [], []) for r in rows}
    return CompareResult(rows=rows, histories=histories, out_dir=tmp_path)


# --- experiments: a compare grid's runs by algorithm ---------------------------------------------------------

def test_by_algorithm_and_model_dirs_name_the_folders_run_compare_writes(tmp_path):
    # If this fails, notebooks 03/04 load the wrong run's model (or a folder that does not exist).
    rows = [_row("centralized"), _row("local"), _row("fedavg")]
    result = _result(tmp_path, rows)
    assert list(result.by_algorithm()) == ["centralized", "local", "fedavg"]
    assert list(result.by_algorithm("fedavg", "centralized")) == ["fedavg", "centralized"]
    dirs = result.model_dirs({"ideal": "centralized", "FedAvg": "fedavg"}, local_sites=("a", "b"))
    runs = tmp_path / "runs"
    assert dirs == {"ideal": runs / "centralized_skew-0.1_seed-0" / "model",
                    "FedAvg": runs / "fedavg_skew-0.1_seed-0" / "model",
                    "local: a": runs / "local_skew-0.1_seed-0" / "local_models" / "client0",
                    "local: b": runs / "local_skew-0.1_seed-0" / "local_models" / "client1"}
    assert [r["algorithm"] for r in result.rows_except("centralized")] == ["local", "fedavg"]


def test_by_algorithm_refuses_a_grid_with_several_seeds(tmp_path):
    # If this fails, a multi-seed grid silently returns one seed's run under the algorithm's name.
    result = _result(tmp_path, [_row("fedavg", seed=0), _row("fedavg", seed=1)])
    with pytest.raises(ValueError, match="several label skews or seeds"):
        result.by_algorithm()


def test_run_compare_with_no_algorithm_runs_nothing_and_writes_empty_tables(tmp_path):
    # If this fails, notebook 04 with IID_CONTROL = False trains (or crashes) instead of skipping the control.
    result = run_compare(Experiment.tiny(), tmp_path, algorithms=[], label_skews=[float("inf")], progress=False)
    assert result.rows == [] and result.histories == {}
    assert (tmp_path / "results.csv").is_file() and not (tmp_path / "runs").exists()


def test_run_compare_names_its_bars_by_label_and_keeps_keys_in_files(tmp_path, capsys):
    # If this fails, notebook 04's IID control shows a second bar called "fedavg" (which FedAvg is which?), or the
    # labels leak into results.csv and the run folders that sweeps and tests read by key.
    cfg = Experiment.tiny().override({"fed.rounds": 1})
    result = run_compare(cfg, tmp_path, algorithms=["fedavg"], label_skews=[float("inf")], progress=True)
    assert "FedAvg (IID)" in capsys.readouterr().err
    assert result.rows[0]["algorithm"] == "fedavg" and "fedavg,iid," in (tmp_path / "results.csv").read_text()
    assert (tmp_path / "runs" / "fedavg_skew-iid_seed-0").is_dir()


def test_run_labels_name_skew_and_seed_only_where_runs_differ():
    # If this fails, report.html's legends show run-folder names, or repeat one label for two different runs.
    assert run_label("fedavg", float("inf")) == "FedAvg (IID)"
    assert run_label("centralized", 0.1) == "ideal (centralized, skew 0.1)"
    assert run_label("fedaid", "0.1", 1) == "FedAID (skew 0.1, seed 1)" and run_label("fedaid") == "FedAID"
    rows = [_row("fedavg"), _row("fedaid"), _row("fedavg", skew="iid")]
    assert list(row_labels(rows).values()) == ["FedAvg (skew 0.1)", "FedAID (skew 0.1)", "FedAvg (IID)"]
    assert list(row_labels(rows[:2]).values()) == ["FedAvg", "FedAID"]
    assert list(row_labels([_row("fedavg", seed=0), _row("fedavg", seed=1)]).values()) == \
        ["FedAvg (seed 0)", "FedAvg (seed 1)"]


def test_budget_line_counts_the_steps_each_algorithm_takes():
    # If this fails, a notebook's first printed line misstates how much each round trains.
    cfg = Experiment.tiny().override({"fed.rounds": 4, "train.local_steps": 10, "fed.stage1_steps": 3})
    assert budget_line(cfg, "centralized", sites=6).startswith("4 rounds x 60 steps on pooled data (what 6 hospitals")
    assert "stage 1: 3 steps (g, h only), stage 2: 7 steps (all)" in budget_line(cfg, "fedaid")
    assert budget_line(cfg, "fedavg") == f"4 rounds x 10 local steps per hospital, label skew {cfg.data.label_skew}"


def test_finals_table_puts_each_run_in_a_column_with_chance_last():
    # If this fails, notebook 02's table mixes up the pretrained and scratch columns or the chance levels.
    final = {"sem_p5": 0.3, "sem_p5_chance": 0.04, "i2t_r5_chance": 0.017, "same_site_top5_chance": 0.17,
             "diag_cos": 0.5}
    lines = finals_table({"pretrained": final, "scratch": final | {"sem_p5": 0.1}}, ("sem_p5", "diag_cos")).splitlines()
    assert lines[0].split() == ["pretrained", "scratch", "chance"]
    assert lines[1].split() == ["sem_p5", "0.300", "0.100", "0.040"]
    assert lines[2].split() == ["diag_cos", "0.500", "0.500", "nan"]
    assert chance_levels(final)["zeroshot_auroc"] == 0.5


def test_skew_costs_and_takeaway_match_the_rows():
    # If this fails, notebook 04 reports a wrong "the skew costs ... FedAID wins back" line.
    rows = [_row("centralized", sem_p5=0.30), _row("fedavg", sem_p5=0.20), _row("fedaid", sem_p5=0.23)]
    control = [_row("fedavg", skew="iid", sem_p5=0.24)]
    lost, won = skew_costs(rows, control)
    assert lost == pytest.approx(0.04) and won == pytest.approx(0.03)
    text = skew_takeaway(rows, control).splitlines()
    assert text[0] == "the skew costs FedAvg +0.040 semantic P@5; FedAID wins back +0.030 (75% of it)"
    assert [line.split(":")[0].strip() for line in text[1:]] == ["FedAvg", "FedAID"]   # labels; the ideal is not listed
    assert "semantic P@5 0.230 (chance 0.050)" in text[2] and "distance to ideal 0.500" in text[2]
    assert len(skew_takeaway(rows).splitlines()) == 2   # no control: no cost line
    worse = skew_takeaway(rows, [_row("fedavg", skew="iid", sem_p5=0.1)]).splitlines()[0]
    assert worse.endswith("(no loss to win back in this run)")


# --- viz: drift, panels, figures ------------------------------------------------------------------------------

def test_drift_from_is_the_image_plus_report_distance_to_the_reference():
    # If this fails, notebook 03's drift numbers are not the distance its markdown describes.
    rng = np.random.default_rng(0)
    ideal = (rng.normal(size=(10, 4)), rng.normal(size=(10, 4)))
    other = (rng.normal(size=(10, 4)), rng.normal(size=(10, 4)))
    drift = viz.drift_from({"ideal": ideal, "other": other, "same": ideal}, "ideal")
    assert list(drift) == ["other", "same"] and drift["same"] == 0
    assert drift["other"] == pytest.approx(mean_sq_distance(other[0], ideal[0]) + mean_sq_distance(other[1], ideal[1]))
    assert viz.format_drift({"FedAvg": 0.12345}).strip() == "FedAvg: 0.123"
    bar = viz.drift_bar(drift)
    assert list(bar.data[0].x) == ["other", "same"] and bar.data[0].y[1] == 0


def test_panels_keeps_the_named_models_in_order_and_names_a_missing_one():
    # If this fails, notebook 03's map shows other models than the four its text discusses.
    emb = {"a": 1, "b": 2, "c": 3}
    assert list(viz.panels(emb, "c", "a")) == ["c", "a"]
    with pytest.raises(KeyError, match="no embeddings for z"):
        viz.panels(emb, "z")


def test_results_table_title_carries_the_chance_level():
    # If this fails, the table title no longer says what a random ranking scores.
    rows = [_row("centralized")]
    assert viz.results_table(rows, title="T (skew 0.1)", chance="sem_p5").layout.title.text == \
        "T (skew 0.1; semantic P@5 chance 0.050)"
    assert viz.results_table(rows, title="T", chance="sem_p5").layout.title.text == "T (semantic P@5 chance 0.050)"
    assert viz.results_table(rows, title="T").layout.title.text == "T"


def test_probe_curve_has_one_line_per_algorithm_over_label_shares():
    # If this fails, notebook 06's linear-probe plot mislabels the share of labels or the algorithms.
    rows = [_row("fedavg", linprobe_auroc_1=0.6, linprobe_auroc_10=0.7, linprobe_auroc_100=0.8)]
    fig = viz.probe_curve(rows)
    assert [t.name for t in fig.data] == ["FedAvg"]   # the display label, as in every legend
    assert list(fig.data[0].x) == ["1 %", "10 %", "100 %"] and list(fig.data[0].y) == [0.6, 0.7, 0.8]


# --- sweep: the files a notebook writes and reads -------------------------------------------------------------

def test_fresh_out_removes_only_the_stale_folders(tmp_path):
    # If this fails, a re-run resumes old runs (or deletes what it should keep).
    (tmp_path / "runs" / "x").mkdir(parents=True)
    (tmp_path / "keep").mkdir()
    out = fresh_out(str(tmp_path), "runs", "iid")
    assert out == tmp_path and not (tmp_path / "runs").exists() and (tmp_path / "keep").is_dir()
    assert fresh_out(tmp_path / "new").is_dir()


def test_write_metrics_keys_keeps_only_the_headline(tmp_path):
    # If this fails, notebook 02's metrics.json gains or loses columns in the sweep table.
    written = write_metrics(tmp_path, {"sem_p5": 0.123456, "loss": 1.0, "nan": float("nan")}, keys=("sem_p5", "nan"))
    assert written == {"sem_p5": 0.1235, "nan": None}
    assert json.loads((tmp_path / "metrics.json").read_text()) == written
    with pytest.raises(KeyError, match="no metric typo"):
        write_metrics(tmp_path, {"sem_p5": 0.1}, keys=("typo",))


def test_write_metrics_exact_keys_are_not_rounded(tmp_path):
    # If this fails, notebook 08's metrics.json says the engines differ by 0.0 when they differ by 3e-8.
    written = write_metrics(tmp_path, {"i2t_r5": 0.123456, "max_abs_difference": np.float64(3e-8)},
                            exact={"max_abs_difference": None})
    assert written == {"i2t_r5": 0.1235, "max_abs_difference": 3e-8}
    assert json.loads((tmp_path / "metrics.json").read_text()) == written


def test_write_grid_puts_fixed_parameters_first_and_can_keep_first_values(tmp_path):
    # If this fails, notebook 07's SMOKE sweep runs the whole grid, or its runs ignore RUN_SMOKE.
    grid = tmp_path / "g.yaml"
    grid.write_text("LABEL_SKEW: [0.1, 1.0]\nSEED: [0, 1]\n")
    path = write_grid(grid, tmp_path, first_only=True, fixed={"SMOKE": True})
    assert path == tmp_path / "grid.yaml"
    assert path.read_text() == "SMOKE:\n- true\nLABEL_SKEW:\n- 0.1\nSEED:\n- 0\n"
    assert "- 1.0" in write_grid(grid, tmp_path).read_text()


def test_same_tables_status_line_and_run_parameters(tmp_path):
    # If this fails, notebook 07's reproducibility check or its provenance cell reads the wrong thing.
    for name, text in (("a", "x"), ("b", "x"), ("c", "y")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sweep.csv").write_text(text)
        (tmp_path / name / "sweep.json").write_text("[]")
    assert same_tables(tmp_path / "a", tmp_path / "b") and not same_tables(tmp_path / "a", tmp_path / "c")
    assert status_line([{"status": "ok"}, {"status": "failed"}, {"status": "ok"}]) == \
        "3 runs, status ['failed', 'ok']"
    run = tmp_path / "a" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "nb.ipynb").write_text(json.dumps({"metadata": {"papermill": {"parameters": {"SEED": 1}}}}))
    assert run_parameters(tmp_path / "a", "r1", "../notebooks/nb.ipynb") == {"SEED": 1}
    with pytest.raises(FileNotFoundError, match="run the sweep first"):
        run_parameters(tmp_path / "a", "r2", "nb.ipynb")


# --- data: what notebooks 00 and 01 print ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_hospitals():
    return make_hospitals(Experiment.tiny().data)


def test_case_and_site_texts(tiny_hospitals):
    # If this fails, notebooks 00/01 print other cases than the first ones (which state exactly their findings).
    h = tiny_hospitals
    cases = format_cases(h.train[0], 2).split("\n\n")
    assert cases == [format_case(h.train[0], i) for i in example_cases(h.train[0], 2)]
    per_site = format_site_examples(h).split("\n\n")
    assert [text.split(" / ")[0].removeprefix("--- ") for text in per_site] == list(h.site_names)
    lines = format_sites(h).splitlines()
    assert lines[0] == f"{h.num_sites} hospitals: {', '.join(h.site_names)}"
    assert lines[1] == f"training cases per site: {[len(t) for t in h.train]}"
    assert heterogeneity_knobs(Experiment.tiny().data) == {k: getattr(Experiment.tiny().data, k) for k in KNOBS}


def test_spreads_are_larger_for_skewed_than_for_iid_hospitals(tiny_hospitals):
    # If this fails, notebook 01's "how far from IID" table no longer separates the setting from IID.
    data = Experiment.tiny().data
    iid = make_hospitals(Experiment.tiny().override({"data.label_skew": float("inf"), "data.image_shift": 0.0,
                                                     "data.report_shift": 0.0, "data.quantity_skew": 0.0}).data)
    skewed, flat = spreads(tiny_hospitals), spreads(iid)
    assert data.label_skew < 1 and skewed["prevalence spread"] > flat["prevalence spread"]
    assert all(math.isfinite(v) and v >= 0 for v in [*skewed.values(), *flat.values()])
    lines = format_spreads({"this setting": tiny_hospitals, "IID": iid}).splitlines()
    assert [h.strip() for h in lines[0].strip().split("  ")] == ["prevalence spread", "AP-share spread",
                                                                  "words-per-report spread"]
    assert lines[1].split()[-3:] == [f"{v:.2f}" for v in skewed.values()]


# --- notebook 08: two engines, number by number ---------------------------------------------------------------

def _history(loss: float, weight: float) -> History:
    record = {"round": 1, "time": 1.0, "metrics": {"i2t_r5": 0.5}, "client_losses": {"a": loss},
              "dro_weights": {"a": weight}}
    return History({}, ["a"], [record, {**record, "round": 2, "time": 9.0}])


def test_side_by_side_lists_every_recorded_number_and_their_difference():
    # If this fails, notebook 08's "identical numbers?" table misses numbers, counts the wall time, or
    # shows a difference where the engines agree (or none where they do not).
    table = side_by_side({"in-process": _history(0.25, 1.0), "Flower": _history(0.5, 1.0)})
    assert list(table.columns) == ["in-process", "Flower", "|difference|"]
    assert table.loc[(2, "loss/a"), "|difference|"] == 0.25 and table.loc[(2, "i2t_r5"), "|difference|"] == 0.0
    assert len(table) == 6 and "time" not in table.index.get_level_values(1)
    assert list(side_by_side({"in-process": _history(0.25, 1.0)}).columns) == ["in-process"]


def test_max_weight_difference_is_zero_only_for_the_same_weights(tmp_path):
    # If this fails, notebook 08 reports two engines' models as equal when they differ (or the reverse).
    cfg = Experiment.tiny().model
    a, b = build_model(cfg, 50, seed=0), build_model(cfg, 50, seed=1)
    assert max_weight_difference(a, save_model(a, tmp_path / "a")) == 0.0
    assert max_weight_difference(a, b) > 0.0
    with pytest.raises(ValueError, match="same weights"):
        max_weight_difference(a, build_model(Experiment.tiny().override({"model.embed_dim": 16}).model, 50, seed=0))
