"""viz: every figure builds from tiny fakes, with the traces and frames a reader relies on."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from fedaid_lite import viz
from fedaid_lite.config import Experiment
from fedaid_lite.data.tensors import to_tensors
from fedaid_lite.data.types import FINDINGS
from fedaid_lite.history import History
from fedaid_lite.model import build_model, save_model
from fedaid_lite.train import embed
from fedaid_lite.viz.maps import primary_findings
from fedaid_lite.viz.plots import live_curves

N, D = 60, 16


def _emb(seed: int, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, D))
    image = centers[np.arange(N) % 4] + 0.3 * rng.normal(size=(N, D))
    text = image + noise * rng.normal(size=(N, D))
    return image.astype(np.float32), text.astype(np.float32)


@pytest.fixture(scope="module")
def frame() -> viz.AlignmentFrame:
    return viz.AlignmentFrame.fit(*_emb(0), seed=0)


@pytest.fixture(scope="module")
def meta():
    rng = np.random.default_rng(1)
    labels = (rng.random((N, len(FINDINGS))) < 0.2).astype(np.int8)
    return SimpleNamespace(reports=[f"report {i}: heart size normal." for i in range(N)], labels=labels,
                           sites=np.arange(N) % 3, site_names=("north", "south", "east"))


def _history(algorithm: str, rounds: int = 3, sites=("north", "south", "east")) -> History:
    h = History(config={"fed": {"algorithm": algorithm}}, site_names=list(sites))
    for r in range(1, rounds + 1):
        w = np.array([1.0 + r * (k == 0) for k in range(len(sites))])
        h.append({"round": r, "time": float(r), "client_losses": {s: 3.0 / r + k for k, s in enumerate(sites)},
                  "dro_weights": dict(zip(sites, w / w.sum())),
                  "metrics": {"i2t_r5": 0.1 * r, "diag_cos": 0.2 * r, "dist_to_ref": 1.0 / r}})
    return h


def test_frame_is_fixed_and_deterministic(frame):
    # If this fails, drift in a map could be an artefact of the projection rather than of the model.
    other = _emb(5, noise=0.8)
    a = frame.transform(*other)
    b = frame.transform(*other)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    ref = frame.transform(*_emb(0))  # the reference itself lands exactly on its fitted layout
    assert np.array_equal(ref[0], frame.image_xy) and np.array_equal(ref[1], frame.text_xy)
    assert a[0].shape == (N, 2) and np.isfinite(a[0]).all()


def test_a_map_waits_for_the_background_warm_up(monkeypatch, capsys):
    # If this fails, notebook 00's first map can run umap's numba code alongside the warm-up thread (a cell
    # then prints the thread's traceback), or a failed warm-up raises instead of saying so in one line.
    from fedaid_lite.viz import frame as frame_module

    spans, real_umap = [], frame_module._umap

    def slow_umap():   # widen the window in which two threads would overlap
        start = time.perf_counter()
        time.sleep(0.3)
        spans.append((start, time.perf_counter()))
        return real_umap()

    monkeypatch.setattr(frame_module, "_umap", slow_umap)
    warm_up = viz.warm_numba_cache_in_background()
    time.sleep(0.05)                                        # the warm-up is inside umap now
    viz.AlignmentFrame.fit(*_emb(0), seed=0)
    warm_up.join(60)
    assert not warm_up.is_alive() and len(spans) == 2
    (a0, a1), (b0, b1) = sorted(spans)
    assert a1 <= b0, "the map's UMAP fit started while the warm-up was still in umap"
    assert "failed" not in capsys.readouterr().err

    monkeypatch.setattr(frame_module, "warm_numba_cache", lambda: 1 / 0)
    viz.warm_numba_cache_in_background().join(10)
    err = capsys.readouterr().err
    assert "warming the map's compiled code failed (ZeroDivisionError" in err and "Traceback" not in err


def test_pca_frame_and_bad_shapes():
    # If this fails, the cheap frame is not repeatable or a wrong-size input is silently accepted.
    f1 = viz.AlignmentFrame.fit(*_emb(0), method="pca")
    f2 = viz.AlignmentFrame.fit(*_emb(0), method="pca")
    assert np.allclose(f1.image_xy, f2.image_xy)
    with pytest.raises(ValueError, match="do not match the frame"):
        f1.transform(np.zeros((N - 1, D)), np.zeros((N - 1, D)))
    with pytest.raises(ValueError, match="method"):
        viz.AlignmentFrame.fit(*_emb(0), method="tsne")


def test_alignment_map_panels_lines_and_colour_menu(frame, meta):
    # If this fails, the map lacks a panel, the pair lines, the hover text or the colour dropdown.
    fig = viz.alignment_map(frame, {"ideal": _emb(0), "FedAvg": _emb(3, 0.9)}, meta)
    assert isinstance(fig, go.Figure)
    lines = [t for t in fig.data if t.mode == "lines"]
    points = [t for t in fig.data if t.mode == "markers" and t.x is not None and t.x[0] is not None]
    assert len(lines) == 2 and len(points) == 4
    assert {t.marker.symbol for t in points} == {"circle", "diamond"}
    assert "south" in points[0].hovertext[1] and "report 1" in points[0].hovertext[1]
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == [f"colour: {m}" for m in viz.COLOR_MODES]
    assert fig.layout.xaxis2.matches == "x" and fig.layout.xaxis.range is not None
    assert not fig.frames
    # the finding legend reads words ("pleural effusion"), not config keys ("pleural_effusion")
    legend = {t.name for t in fig.data if t.legendgroup == "finding"}
    assert legend == {f.replace("_", " ") for f in primary_findings(meta.labels)}


@pytest.mark.parametrize("legend, n_rounds, n_panels", [("side", 1, 2), ("side", 3, 2), ("below", 1, 3),
                                                       ("side", 1, 4)])
def test_alignment_map_menus_clear_of_titles(frame, meta, legend, n_rounds, n_panels):
    # If this fails, the colour dropdown covers the first panel's title (seen in the dashboard's live map) or
    # the figure's title: the menus must sit between the two, in pixels, whatever the margins and legend.
    xy = [frame.transform(*_emb(10 + r)) for r in range(n_rounds)]
    fig = viz.alignment_map_xy({f"model {i}": xy for i in range(n_panels)}, frame.bounds(), meta,
                               height=520, legend=legend)
    m = fig.layout.margin
    plot_px = fig.layout.height - m.t - m.b
    # four narrow panels: the two numbers go on two lines (on one they ran into the neighbour's), ~16 px more
    lines = 3 if n_panels == 4 else 2
    assert all(a.text.count("<br>") == lines - 1 for a in fig.layout.annotations[:n_panels])
    for menu in fig.layout.updatemenus:
        bottom_px = (menu.y - 1) * plot_px           # the menu's bottom edge, above the panels' top
        assert menu.yanchor == "bottom" and bottom_px >= 50 + 16 * (lines - 2), bottom_px   # titles: ~45 px
        assert bottom_px + 34 <= m.t - 34, bottom_px  # a menu is ~34 px tall; the title takes the top ~34 px
    if legend == "below":   # rows under the panels, not one tall grouped column that squeezes them
        assert fig.layout.legend.orientation == "h" and fig.layout.legend.traceorder == "normal"
        assert fig.layout.legend.y < 0
    with pytest.raises(ValueError, match="legend="):
        viz.alignment_map_xy({"a": xy}, frame.bounds(), meta, legend="left")


def test_alignment_map_round_slider(frame, meta):
    # If this fails, the round slider is missing or a round shows the wrong embeddings.
    rounds = [_emb(10 + r, 0.9 - 0.3 * r) for r in range(3)]
    fig = viz.alignment_map(frame, {"ideal": _emb(0), "FedAID": rounds}, meta, color="site")
    assert len(fig.frames) == 3 and len(fig.layout.sliders[0].steps) == 3
    xy = frame.transform(*rounds[1])
    assert np.allclose(fig.frames[1].data[4].x, xy[0][:, 0])   # panel 2 images, round 2
    with pytest.raises(ValueError, match="frame's subset"):
        viz.alignment_map(frame, {"a": _emb(0)}, SimpleNamespace(reports=meta.reports[:5], labels=meta.labels,
                                                                    sites=meta.sites))


def test_heterogeneity_views(fake_hospitals):
    # If this fails, the data section of the course cannot show how hospitals differ.
    h = fake_hospitals(num_sites=3, n_train=12, n_test=4, n_global=6, size=16)
    prev = viz.site_prevalence(h)
    assert prev.data[0].z.shape == (3, len(FINDINGS))
    # notebook 01 shows a skewed and an IID heatmap one under the other: their titles must tell them apart
    assert viz.site_prevalence(h, setting="IID").layout.title.text.endswith("(train, IID)")
    grid = viz.example_images(h, per_site=2)
    cap = 16 * 2 // 3                             # the band under each row: captions and the next row's name
    assert grid.data[0].z.shape == (3 * 16 + 2 * cap, 2 * 16 + 2)
    notes = [a.text for a in grid.layout.annotations]
    assert [n for n in notes if n.startswith("<b>")] == [f"<b>{name}</b>" for name in h.site_names]
    assert len(notes) == 3 + 3 * 2                # each image is captioned with its findings
    stats = viz.report_stats(h)
    assert sum(isinstance(t, go.Box) for t in stats.data) == 3 and sum(isinstance(t, go.Bar) for t in stats.data) == 2


def test_curves_weights_and_table():
    # If this fails, runs cannot be compared round by round or the results table is unreadable.
    runs = {"FedAvg": _history("fedavg"), "FedAID": _history("fedaid")}
    curves = viz.metric_curves(runs, metrics=("loss", "i2t_r5", "dist_to_ref", "absent"))
    assert len(curves.data) == 2 * 3 and list(curves.data[0].x) == [1, 2, 3]
    # a student reads the display label, not the config key (issue 16): by key or by the run's algorithm
    assert viz.metric_curves([_history("fedavg")]).data[0].name == "FedAvg"
    assert [t.name for t in viz.metric_curves({"centralized": _history("centralized"), "mine": _history("fedavg")},
                                              metrics=("i2t_r5",)).data] == ["ideal (centralized)", "mine"]
    w = viz.dro_weights(runs["FedAID"])
    assert len(w.data) == 3 and w.data[0].stackgroup == "w"
    assert np.allclose(np.sum([t.y for t in w.data], axis=0), 1.0)
    assert w.layout.xaxis.dtick == 1 and w.layout.xaxis.tick0 == 1          # whole rounds: no "1.5" tick
    assert w.layout.title.text == "Client weights over rounds (FedAID)"
    table = viz.results_table([{"algorithm": "fedavg", "i2t_r5": 0.25}, {"algorithm": "fedaid", "i2t_r5": None}])
    assert list(table.data[0].cells.values[1]) == ["0.250", "–"]
    assert list(table.data[0].cells.values[0]) == ["FedAvg", "FedAID"]   # labels in the table, keys in results.csv
    # a retrieval number is shown with what random ranking scores in the same gallery, when the row has it
    table = viz.results_table([{"algorithm": "fedavg", "sem_p5": 0.25, "sem_p5_chance": 0.044}])
    assert list(table.data[0].cells.values[1]) == ["0.250 (chance 0.044)"]
    # such a cell wraps to two lines: three rows must fit under the title and the two-line header, unclipped
    rows = [{"algorithm": a, "sem_p5": 0.25, "sem_p5_chance": 0.044} for a in ("centralized", "local", "fedavg")]
    assert viz.results_table(rows).layout.height >= 50 + 44 + 3 * 44


def test_write_report_without_models(tmp_path):
    # If this fails, `fedaid-lite compare` cannot write an offline report.html.
    from fedaid_lite.experiments import CompareResult

    rows = [{"algorithm": "fedavg", "label_skew": "1", "seed": 0, "i2t_r5": 0.3},
            {"algorithm": "fedaid", "label_skew": "1", "seed": 0, "i2t_r5": 0.4},
            {"algorithm": "fedavg", "label_skew": "iid", "seed": 0, "i2t_r5": 0.5}]
    result = CompareResult(rows=rows, histories={"fedavg_skew-1_seed-0": _history("fedavg"),
                                                 "fedaid_skew-1_seed-0": _history("fedaid"),
                                                 "fedavg_skew-iid_seed-0": _history("fedavg")})
    path = viz.write_report(tmp_path, result)
    text = path.read_text()
    assert path.name == "report.html" and "Metrics over rounds" in text and "DRO weights" in text
    # the same display labels as the notebooks, the skew named where the runs differ in it (issue 16)
    assert "DRO weights: FedAID (skew 1)" in text and '"name":"FedAvg (IID)"' in text
    assert '"name":"fedavg_skew-1_seed-0"' not in text
    assert text.count("plotly.js v") == 1 and "<script src=\"http" not in text   # inlined once, offline
    assert "no saved models" in text


def test_no_show_or_print_in_viz_sources():
    # If this fails, a library function shows or prints instead of returning its picture.
    import pathlib

    for path in pathlib.Path(viz.__file__).parent.glob("viz*.py"):
        src = path.read_text()
        assert ".show(" not in src and "print(" not in src, path.name


def test_map_cases_and_embed_subset_match_the_written_out_steps(tmp_path, fake_hospitals):
    # If this fails, notebooks' one-call "embed a subset with a saved model" gives other points than
    # subset -> to_tensors -> load_model -> embed, so maps would move after the refactor.
    h = fake_hospitals(num_sites=3, n_train=12, n_test=4, n_global=12, size=16)
    cfg = Experiment.tiny().model
    test = viz.map_cases(h, 6, seed=0)
    assert list(test.reports) == list(h.global_test.subset(viz.frame_subset(h.global_test.sites, 6, seed=0)).reports)
    model = build_model(cfg, len(h.tokenizer), 0, image_size=16)
    save_model(model, tmp_path / "model")
    by_hand = embed(model, to_tensors(test, h.tokenizer, cfg.max_text_len), torch.device("cpu"))
    both = viz.embed_subset({"saved": tmp_path / "model", "in memory": model}, test, h.tokenizer)
    single = viz.embed_subset(model, test, h.tokenizer)
    for image_emb, text_emb in (*both.values(), single):
        assert np.allclose(image_emb, by_hand[0], atol=1e-6) and np.allclose(text_emb, by_hand[1], atol=1e-6)


def test_live_curves_draw_chance_in_the_retrieval_panels():
    # If this fails, the dashboard's semantic P@5 and R@5 curves have no chance level to be read against.
    h = _history("fedavg")
    for r in h.records:
        r["metrics"].update({"i2t_r5_chance": 0.083, "sem_p5": 0.2, "sem_p5_chance": 0.066})
    fig = live_curves({"FedAvg": h}, ["north", "south", "east"])
    chance = [t for t in fig.data if t.name == "chance"]
    assert [t.y[0] for t in chance] == [0.066, 0.083] and [t.showlegend for t in chance] == [True, False]
    assert list(chance[0].x) == [1, 3]   # across every round drawn
