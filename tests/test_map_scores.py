"""Numbers for the picture: finding purity and pair distance in a map frame mean what the eye sees."""

from __future__ import annotations

import types

import numpy as np
import pytest

from fedaid_lite import viz
from fedaid_lite.data.types import FINDINGS
from fedaid_lite.names import row_run_name

N = 120


def _labels(groups: int = 4, n: int = N) -> np.ndarray:
    """Multi-hot labels with `groups` distinct finding sets, case i in set i % groups."""
    labels = np.zeros((n, len(FINDINGS)), np.int8)
    labels[np.arange(n), np.arange(n) % groups] = 1
    labels[np.arange(n) % groups == 0, 4] = 1            # a two-finding set: sets, not single findings
    return labels


def test_purity_is_one_where_same_finding_points_coincide_and_chance_for_a_random_layout():
    # If this fails, purity does not reward a map that groups cases by finding, or its chance value is wrong.
    labels = _labels()
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    image_xy = centers[np.arange(N) % 4]                 # every case of a finding set on one spot
    text_xy = image_xy.copy()
    for modality in ("both", "image", "report"):
        assert viz.finding_purity(image_xy, text_xy, labels, k=10, modality=modality) == 1.0
    chance = viz.finding_purity_chance(labels)
    assert chance == pytest.approx((N // 4 - 1) / (N - 1))
    rng = np.random.default_rng(0)
    draws = [viz.finding_purity(rng.random((N, 2)), rng.random((N, 2)), labels) for _ in range(20)]
    assert np.mean(draws) == pytest.approx(chance, abs=0.02)


def test_purity_ignores_the_points_own_partner_and_reads_exact_finding_sets():
    # If this fails, pair alignment leaks into purity, or cases sharing one finding count as the same set.
    rng = np.random.default_rng(1)
    labels = _labels()
    image_xy = rng.random((N, 2)) * 100
    # each report on its image, findings scattered: the nearest point is always the partner, so counting
    # it would give purity 1 at k=1; excluding it leaves about chance
    on_top = viz.finding_purity(image_xy, image_xy.copy(), labels, k=1)
    assert on_top < 0.5 and viz.finding_purity_chance(labels) < 0.3
    mixed = np.zeros((N, len(FINDINGS)), np.int8)
    mixed[:, 0] = 1
    mixed[::2, 1] = 1                                    # half {0}, half {0, 1}: one shared finding, two sets
    assert viz.finding_purity_chance(mixed) == pytest.approx((N / 2 - 1) / (N - 1))
    with pytest.raises(ValueError, match="modality"):
        viz.finding_purity(image_xy, image_xy, labels, modality="text")
    with pytest.raises(ValueError, match=r"\(120, 2\)"):
        viz.finding_purity(image_xy[:-1], image_xy[:-1], labels)


def test_pair_distance_is_zero_on_top_and_ratio_near_one_for_random_pairs():
    # If this fails, the pair-line length does not say how well images sit on their reports.
    rng = np.random.default_rng(2)
    image_xy = rng.normal(size=(N, 2)) * 5
    assert viz.pair_distance(image_xy, image_xy.copy()) == 0.0
    assert viz.pair_distance_ratio(image_xy, image_xy.copy()) == 0.0
    shuffled = image_xy[rng.permutation(N)]
    assert viz.pair_distance_ratio(image_xy, shuffled) == pytest.approx(1.0, abs=0.1)
    near = image_xy + 0.1 * rng.normal(size=(N, 2))
    assert viz.pair_distance_ratio(image_xy, near) < 0.05
    assert viz.pair_distance_ratio(10 * image_xy, 10 * near) == pytest.approx(viz.pair_distance_ratio(image_xy, near))
    assert viz.pair_distance(np.zeros((2, 2)), np.array([[3.0, 4.0], [0.0, 0.0]])) == 2.5
    assert np.isnan(viz.pair_distance_ratio(np.zeros((5, 2)), np.zeros((5, 2))))   # collapsed: not "perfect"


def _embeddings(seed: int, noise: float, groups: int = 4, dim: int = 16):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(groups, dim)) * 3
    image = centers[np.arange(N) % groups] + 0.3 * rng.normal(size=(N, dim))
    return image, image + noise * rng.normal(size=(N, dim))


def test_map_scores_rows_table_text_and_panel_titles():
    # If this fails, the numbers are missing beside the maps (titles, rounds, table, printed text).
    labels = _labels()
    frame = viz.AlignmentFrame.fit(*_embeddings(0, 0.1), method="pca")
    rng = np.random.default_rng(3)
    scrambled = (rng.normal(size=(N, 16)), rng.normal(size=(N, 16)))
    rows = viz.map_scores(frame, {"ideal": _embeddings(0, 0.1), "scrambled": scrambled}, labels)
    assert [r["model"] for r in rows] == ["ideal", "scrambled"]
    assert rows[0]["purity"] > 0.9 > rows[1]["purity"] and rows[0]["pair_ratio"] < 0.2 < rows[1]["pair_ratio"]
    assert rows[0] == {"model": "ideal", **viz.layout_scores(frame.image_xy, frame.text_xy, labels)}
    text = viz.format_map_scores(rows)
    assert "scrambled" in text and f"{rows[1]['pair_ratio']:.3f}" in text and "chance" in text
    table = viz.map_scores_table(rows)
    assert list(table.data[0].cells.values[0]) == ["ideal", "scrambled"]
    meta = types.SimpleNamespace(reports=[f"r{i}" for i in range(N)], labels=labels, sites=np.arange(N) % 3)
    fig = viz.alignment_map(frame, {"ideal": _embeddings(0, 0.1), "run": [scrambled, _embeddings(0, 0.1)]}, meta)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("ideal<br>") and f"purity@10 {rows[0]['purity']:.2f}" in titles[0]
    assert titles[1] == titles[0].replace("ideal", "run", 1)          # last round = the ideal's layout
    round_one = fig.frames[0].layout.annotations[1].text               # the slider's round 1: scrambled
    assert f"pairs {rows[1]['pair_ratio']:.2f}× random" in round_one
    plain = viz.alignment_map(frame, {"ideal": _embeddings(0, 0.1)}, meta, scores=False)
    assert plain.layout.annotations[0].text == "ideal"


def test_live_map_scores_only_runs_that_are_placed(tmp_path):
    # If this fails, a run not yet on the map shows the ideal's numbers under its own name.
    from fedaid_lite.config import Experiment
    from fedaid_lite.dashboard.board import LiveRun
    from fedaid_lite.dashboard.controller import DashboardController

    labels = _labels()
    frame = viz.AlignmentFrame.fit(*_embeddings(0, 0.1), method="pca")
    c = DashboardController(Experiment.tiny(), map_method="pca", reference_cache=tmp_path)
    c.board.frame = frame
    c.board.map_subset = types.SimpleNamespace(reports=[f"r{i}" for i in range(N)], labels=labels,
                                   sites=np.arange(N) % 3, site_names=("a", "b", "c"))
    c.board.runs = {"FedAvg": LiveRun("FedAvg", xy=[frame.transform(*_embeddings(5, 0.5))]),
                    "FedAID": LiveRun("FedAID")}
    titles = [a.text for a in c.map().layout.annotations]
    assert "purity@10" in titles[0] and "purity@10" in titles[1] and titles[2] == "FedAID"
    c.close()


def test_report_puts_the_numbers_table_after_each_map(tmp_path, monkeypatch):
    # If this fails, report.html shows the maps without the table of their numbers.
    from fedaid_lite.viz import report as viz_report
    from fedaid_lite.experiments import CompareResult

    labels = _labels()
    frame = viz.AlignmentFrame.fit(*_embeddings(0, 0.1), method="pca")
    panels = {"ideal (centralized)": _embeddings(0, 0.1), "FedAvg": _embeddings(4, 1.0)}
    rows = [{"algorithm": a, "label_skew": "1", "seed": 0, "i2t_r5": 0.1} for a in ("centralized", "fedavg")]
    for r in rows:
        (tmp_path / "runs" / row_run_name(r) / "model").mkdir(parents=True)
    table = viz.map_scores_table(viz.map_scores(frame, panels, labels))
    monkeypatch.setattr(viz_report, "_map_for", lambda *a: (viz.alignment_map_xy(
        {n: [frame.transform(*e)] for n, e in panels.items()}, frame.bounds(),
        types.SimpleNamespace(reports=[""] * N, labels=labels, sites=np.arange(N) % 3)), table))
    text = viz.write_report(tmp_path, CompareResult(rows=rows, histories={})).read_text()
    assert text.index("Alignment maps, label skew 1") < text.index("Numbers for these maps, label skew 1")
    assert "pair distance \\u00f7 random pairs" in text and "could not draw" not in text
