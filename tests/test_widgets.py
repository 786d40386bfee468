"""The dashboard, headless: set sliders, press the buttons through their handlers, wait for the thread."""

from __future__ import annotations

import json
import re
import sys
import threading
import types
from pathlib import Path

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.data import cache as hospitals_cache
from fedaid_lite.dashboard.knobs import Knobs
from fedaid_lite.dashboard.training import TakeTurns
from fedaid_lite.dashboard.widgets import BIND_LAMBDAS
from fedaid_lite.evaluate import evaluate
from fedaid_lite.federated import build_federation, prepare_server, run_federated
from fedaid_lite.protocol import clone_state
from fedaid_lite.registry import make_algorithm
from fedaid_lite.ideal import reference_key
from fedaid_lite.dashboard.controller import DashboardController
from fedaid_lite.dashboard import preparation
from fedaid_lite.dashboard.preparation import PREPARING
from fedaid_lite.dashboard.start import START_LABEL
from fedaid_lite.dashboard import Dashboard, dashboard

pytestmark = pytest.mark.slow  # tiny training runs (two algorithms), a stopped one, a few tiny ideals: ~1-2 min


ROUND_ORDER: list[str] = []   # the status line at each round of the fixture's run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Dashboard:
    d = dashboard(Experiment.tiny(), map_points=60, reference_cache=tmp_path_factory.mktemp("ideal"))
    d.algorithm_a.value, d.algorithm_b.value = "FedAvg", "FedAID"
    d.sliders["rounds"].value = 2
    ROUND_ORDER.clear()
    listen = lambda e: ROUND_ORDER.append(d.controller.status) if e == "round" else None  # noqa: E731
    d.controller.listeners.append(listen)
    d.train_button.click()
    assert d.controller.wait(600), "training thread did not finish"
    d.controller.listeners.remove(listen)
    yield d
    d.close()


def _controller(cache, **overrides) -> DashboardController:
    """A controller for a 1-round tiny ideal with the given disk cache (fast tests)."""
    return DashboardController(Experiment.tiny().override({"fed.rounds": 1, **overrides}), map_points=30,
                               map_method="pca", reference_cache=cache)


def test_dashboard_has_every_control():
    # If this fails, a slider, button or plot the course relies on is missing from the dashboard.
    d = dashboard(Experiment.tiny(), renderer="widget", prepare=False)
    assert isinstance(d, w.VBox) and set(d.sliders) == {"label_skew", "image_shift", "report_shift",
                                                        "bind_lambda", "dro_rho", "rounds"}
    assert d.sliders["rounds"].value == Experiment.tiny().fed.rounds
    assert isinstance(d.curves.widget, go.FigureWidget) and len(d.curves.widget.layout.annotations) == 5
    assert not d.train_button.disabled and d.stop_button.disabled
    d.sliders["image_shift"].value = 0.4
    assert d.controller.config().data.image_shift == 0.4
    with pytest.raises(ValueError, match="fed.rounds"):
        d.controller.set("rounds", 0)


def test_train_fills_the_live_plots(trained):
    # If this fails, pressing Train does not train both algorithms or the plots never update.
    c = trained.controller
    assert c.error == "" and c.status.startswith("done"), c.status + c.error
    assert trained.progress.value == trained.progress.max == 4
    loss = [t for t in trained.curves.widget.data if t.name == "FedAID"][0]
    assert list(loss.x) == [1, 2]
    for run in c.runs.values():   # every round has its distance to the ideal (however late the ideal came)
        assert all("dist_to_ref" in r["metrics"] for r in run.history.records) and len(run.xy) == 2
    assert c.reference_ready and "ready" in trained.reference.value
    live_map = trained.map.figure
    titles = [a.text for a in live_map.layout.annotations]
    assert [t.split("<br>")[0] for t in titles] == ["ideal (centralized)", "FedAvg", "FedAID"]
    assert all("purity@10" in t and "× random" in t for t in titles)   # this round's numbers beside the map
    assert c.first_update_seconds is not None and not trained.train_button.disabled


def test_algorithms_take_turns_and_keep_the_numbers_of_runs_alone(trained):
    # If this fails, the two algorithms no longer alternate round by round (Stop would hide the second), or
    # alternating changed their numbers: each must equal the same algorithm trained alone.
    c = trained.controller
    assert ROUND_ORDER == ["FedAvg: round 1/2", "FedAID: round 1/2", "FedAvg: round 2/2", "FedAID: round 2/2"]
    assert trained.rounds.value.count("2/2") == 2 and "FedAvg 2/2 · FedAID 2/2" in trained.rounds.value
    data = c.board.data
    for label, algorithm in (("FedAvg", "fedavg"), ("FedAID", "fedaid")):
        alone = run_federated(c.config().override({"fed.algorithm": algorithm, "fed.rounds": 2}),
                              hospitals=data.hospitals, evalset=data.evalset)
        shown = c.runs[label].history.records
        assert len(shown) == len(alone.records) == 2
        for a, b in zip(shown, alone.records):
            assert a["train_losses"] == b["train_losses"] and a["client_losses"] == b["client_losses"]
            assert a["dro_weights"] == b["dro_weights"]
            assert {k: a["metrics"][k] for k in b["metrics"]} == b["metrics"]


def test_round_zero_is_the_model_every_run_starts_from_and_says_so(trained):
    # If this fails, the curves' first point (shown before round 1 has trained) is not the model the runs
    # start from, not scored as their rounds are, not labelled as the start, or never gets its distance.
    c = trained.controller
    start = c.board.start
    assert start is not None and start.record["round"] == 0 and c.start_seconds is not None
    shown = [t for t in trained.curves.widget.data if t.name == START_LABEL]
    assert len(shown) == 4 and all(list(t.x) == [0] for t in shown)          # loss, P@5, R@5, distance
    data, ideal = c.board.data, c.board.ideal
    names = list(data.hospitals.site_names)
    for algorithm in ("fedavg", "fedaid"):                                    # FedAID scores with its binding term
        cfg = c.config().override({"fed.algorithm": algorithm})
        server = prepare_server(cfg, hospitals=data.hospitals, evalset=data.evalset)
        state = clone_state(server.runtime.model)
        assert all(torch.equal(v, start.state[k]) for k, v in state.items())
        algo, fed = make_algorithm(cfg, len(names)), build_federation(cfg, data.hospitals)
        memory = algo.init_memory(state, [len(t) for t in fed.train])
        payload = algo.broadcast(state, memory)
        scores = [algo.client_score(server.runtime, payload, fed.holdout[k]) for k in range(len(names))]
        assert scores == pytest.approx([start.record["client_losses"][n] for n in names], rel=1e-6)
        assert algo.current_weights(memory) == pytest.approx([start.record["dro_weights"][n] for n in names])
    direct = evaluate(server.runtime.model.eval(), data.evalset, server.device, reference=ideal.reference)
    assert start.record["metrics"] == pytest.approx(direct, rel=1e-5, nan_ok=True)


def test_take_turns_lets_every_run_go_on_stop():
    # If this fails, a run waiting for its turn hangs after Stop (the dashboard never ends the run).
    stop = threading.Event()
    turns = TakeTurns(2, stop)
    assert turns.wait(0)
    turns.pass_on(0)
    assert turns.turn == 1
    turns.finish(1)                               # run 1 ended: run 0 goes on alone
    assert turns.turn == 0 and turns.wait(0)
    other = TakeTurns(2, stop)
    stop.set()
    assert other.wait(1) is False                 # not its turn, but Stop frees it at once


def test_note_clears_once_a_train_applies_the_change():
    # If this fails, "data sliders changed… rebuilt on the next Train" stays up during the run that rebuilt them.
    k = Knobs(Experiment.tiny())
    before = k.config()
    k.set("label_skew", 1.0)
    assert "rebuilt on the next Train" in k.note(False, before)
    assert "rebuilt on the next Train" in k.note(True, before)       # moved during a run: still pending
    assert k.note(True, k.config()) == "" and k.note(False, k.config()) == ""   # the run applied it
    k.set("rounds", 7)
    assert "apply on the next Train" in k.note(False, before.override({"data.label_skew": 1.0}))


def test_things_to_try_uses_lambda_values_the_slider_has():
    # If this fails, notebook 05 asks for a λ_bind the dashboard's slider cannot select.
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "05_playground.ipynb").read_text())
    text = "".join("".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "markdown")
    asked = re.findall(r"λ_bind = ([0-9., and]+)", text)
    values = {float(v) for group in asked for v in re.findall(r"[0-9]+(?:\.[0-9]+)?", group)}
    assert values and values <= set(BIND_LAMBDAS), values


def test_stop_shows_both_algorithms(trained):
    # If this fails, stopping early hides the second algorithm (the comparison side), or Train leaves up the
    # note about the change it just applied.
    d, c = trained, trained.controller
    d.algorithm_a.value, d.algorithm_b.value = "FedAvg", "FedAID"
    d.sliders["rounds"].value = 30
    d.sliders["label_skew"].value = 0.5
    assert "rebuilt on the next Train" in d.note.value
    both = threading.Event()
    c.listeners.append(lambda e: both.set() if e == "round" and c.done_rounds >= 2 else None)
    d.train_button.click()
    assert "rebuilt" not in d.note.value                       # this Train applies the change
    assert both.wait(300), c.error or c.status
    d.stop_button.click()
    assert c.wait(300), "Stop did not end the run"
    counts = [len(c.runs[label].history.records) for label in ("FedAvg", "FedAID")]
    assert min(counts) >= 1 and max(counts) - min(counts) <= 1 and max(counts) < 30, counts
    loss_traces = {t.name for t in d.curves.widget.data if t.x is not None and len(t.x)}
    assert {"FedAvg", "FedAID"} <= loss_traces
    titles = [a.text.split("<br>")[0] for a in d.map.figure.layout.annotations]
    assert titles == ["ideal (centralized)", "FedAvg", "FedAID"]


def test_stop_ends_within_a_step_and_keeps_rounds(trained):
    # If this fails, Stop is ignored (or loses the finished rounds), or slider changes mid-run are silent.
    d, c = trained, trained.controller
    d.algorithm_b.value = "—"
    d.sliders["rounds"].value = 30
    first = threading.Event()
    c.listeners.append(lambda e: first.set() if e == "round" else None)
    d.train_button.click()
    assert first.wait(300), c.error or c.status
    d.sliders["label_skew"].value = 1.0
    assert "next Train" in d.note.value
    rounds_at_press = c.done_rounds
    d.stop_button.click()
    assert c.wait(120), "Stop did not end the run"
    # The round in progress is dropped at its next step (a round finishing during the click may count).
    assert c.done_rounds <= rounds_at_press + 1
    assert 1 <= c.done_rounds < 30 and c.status.startswith("stopped")
    assert len(c.runs["FedAvg"].history.records) == c.done_rounds
    assert "rebuilt on the next Train" in d.note.value and not d.train_button.disabled


def test_errors_in_the_thread_are_shown(monkeypatch):
    # If this fails, an exception in the training thread vanishes and the dashboard looks stuck.
    def boom(_cfg):
        raise RuntimeError("boom: the manifest is unreadable")

    monkeypatch.setattr(preparation, "load_hospitals", boom)   # where the dashboard looks it up
    d = dashboard(Experiment.tiny(), reference_cache=False)     # the background preparation fails first
    assert d.controller.prepared(60) and "boom" in d.controller.reference_status
    d.train_button.click()
    assert d.controller.wait(60)
    assert "boom: the manifest is unreadable" in d.error.value and "error" in d.status.value
    assert not d.train_button.disabled
    d.reset_button.click()
    assert d.error.value == "" and d.controller.runs == {}
    d.close()


def test_colab_falls_back_to_plain_figures(monkeypatch):
    # If this fails, Colab users get a FigureWidget, which does not render there.
    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    d = dashboard(Experiment.tiny(), prepare=False)
    assert calls == [1] and isinstance(d.curves.widget, w.Output)
    assert isinstance(d.curves.figure, go.Figure)


def test_ideal_is_reused_when_the_config_is_unchanged_and_rebuilt_when_it_changes(tmp_path):
    # If this fails, the ideal is retrained needlessly (slow first plot) or reused for other data (wrong distances).
    c = _controller(tmp_path)
    job = c.prepare()
    assert job is not None and c.prepared(300) and job.ideal is not None, c.reference_status
    assert job.ideal.source == "trained" and (tmp_path / f"{job.key}.npz").exists()
    assert c.prepare() is None                                   # the same knobs: nothing to do
    c.set("bind_lambda", 2.0)                                    # not a data knob: the same ideal
    assert c.prepare() is None
    again = _controller(tmp_path).prepare()                      # a new session: from the disk cache
    assert again is not None and again.done.wait(300) and again.ideal.source == "cache"
    assert np.array_equal(again.ideal.reference.global_test.text, job.ideal.reference.global_test.text)
    c.set("label_skew", 1.0)                                     # other hospitals: another ideal
    other = c.prepare()
    assert other is not None and other.key != job.key and c.prepared(300) and other.ideal.source == "trained"


def test_moving_a_data_slider_cancels_the_stale_preparation(tmp_path):
    # If this fails, slider moves pile up background work, or an ideal is stored under the wrong settings.
    c = _controller(tmp_path)
    c.auto_prepare = True
    first = c.prepare()
    c.set("image_shift", 0.7)                                    # at once: the first job is superseded
    second = c.broker.job
    assert second is not first and first.cancelled
    assert c.prepared(300) and second.ideal is not None and second.key == reference_key(c.ideal_config())
    assert first.done.is_set() and (first.ideal is None or first.ideal.key == first.key)
    assert c.broker.store.ideal(first.key) is None or first.ideal is not None
    c.close()


def test_first_round_does_not_wait_for_the_ideal_and_is_filled_in_exactly(tmp_path):
    # If this fails, Train waits for the ideal again, the panel shows numbers without it, or the distances
    # filled in after the fact differ from those computed with the ideal there from the start.
    d = dashboard(Experiment.tiny().override({"fed.rounds": 2}), map_points=30, map_method="pca", prepare=False,
                  reference_cache=False)
    c = d.controller
    d.algorithm_b.value = "—"
    seen = []
    c.listeners.append(lambda e: seen.append((c.reference_ready, [a.text for a in d.curves.widget.layout.annotations]))
                       if e == "round" and len(seen) == 0 else None)
    d.train_button.click()
    assert c.wait(600) and c.error == "", c.error
    ready, notes = seen[0]
    assert not ready and PREPARING in notes                      # round 1 drawn before the ideal, and says so
    late = [r["metrics"]["dist_to_ref"] for r in c.runs["FedAvg"].history.records]
    assert PREPARING not in [a.text for a in d.curves.widget.layout.annotations]
    d.train_button.click()                                       # now the ideal is there from the start
    assert c.wait(600) and c.error == ""
    direct = [r["metrics"]["dist_to_ref"] for r in c.runs["FedAvg"].history.records]
    assert late == pytest.approx(direct, rel=1e-5)
    d.close()


def test_stop_while_preparing_keeps_the_ideal_going_and_reset_cancels_it(tmp_path):
    # If this fails, Stop leaves the plots waiting forever, or Reset leaves background work running.
    c = _controller(tmp_path, **{"fed.rounds": 3})
    c.train()
    c.stop()
    assert c.wait(300) and c.status.startswith("stopped") and c.reference_ready
    c.set("report_shift", 0.9)
    job = c.prepare()
    c.reset()
    assert job.gate.is_set() and job.done.wait(60) and c.runs == {} and c.values["report_shift"] == \
        Experiment.tiny().data.report_shift


def test_bind_lambda_slider_reaches_small_values_and_keeps_the_config_value():
    # The tuned λ_bind is a few hundredths; a linear 0-5 slider could not select it.
    from fedaid_lite.dashboard.widgets import bind_lambda_options
    assert {0.0, 0.01, 0.03, 1.0} <= set(bind_lambda_options(1.0))
    assert 0.02 in bind_lambda_options(0.02) and bind_lambda_options(0.02) == sorted(bind_lambda_options(0.02))


def test_hospitals_cache_returns_the_same_hospitals_and_survives_a_bad_file(tmp_path, monkeypatch):
    # If this fails, a second visit regenerates the hospitals (slow first plot), or the cache hands back
    # other hospitals than the config makes, or a truncated file breaks the dashboard.
    cfg = Experiment.tiny().data
    built = hospitals_cache.load_hospitals_cached(cfg, tmp_path)
    files = list(tmp_path.glob("*.pkl"))
    assert [f.stem for f in files] == [hospitals_cache.hospitals_key(cfg)]
    monkeypatch.setattr(hospitals_cache, "load_hospitals", lambda _cfg: pytest.fail("rebuilt despite the cache"))
    again = hospitals_cache.load_hospitals_cached(cfg, tmp_path)
    monkeypatch.undo()
    for a, b in zip((*built.train, built.global_test), (*again.train, again.global_test)):
        assert np.array_equal(a.images, b.images) and list(a.reports) == list(b.reports)
    assert built.tokenizer.get_vocab() == again.tokenizer.get_vocab()
    other = Experiment.tiny().override({"data.label_skew": 1.0}).data
    assert hospitals_cache.hospitals_key(other) != hospitals_cache.hospitals_key(cfg)
    files[0].write_bytes(b"truncated")                                # a broken entry is rebuilt
    rebuilt = hospitals_cache.load_hospitals_cached(cfg, tmp_path)
    assert np.array_equal(rebuilt.global_test.images, built.global_test.images)


def test_warm_prepares_what_a_later_dashboard_loads_from_disk(tmp_path):
    # If this fails, Binder's postBuild warms a cache the dashboard never reads: students wait for the
    # hospitals and the ideal on their first visit anyway.
    from fedaid_lite.dashboard.warm import warm
    cfg = Experiment.tiny().override({"fed.rounds": 1})
    assert warm(cfg, map_points=30, timeout=300, reference_cache=tmp_path).startswith("ideal reference: ready")
    assert list((tmp_path / "hospitals").glob("*.pkl")), "no hospitals in the cache"
    later = DashboardController(cfg, map_points=30, map_method="pca", reference_cache=tmp_path).prepare()
    assert later is not None and later.done.wait(300) and later.ideal.source == "cache", later.phase


def test_warm_uses_the_config_notebook_05_builds_its_dashboard_with():
    # If this fails, notebook 05's config cell changed and `python -m fedaid_lite.dashboard.warm` (Binder's
    # postBuild, the latency benchmark) prepares other settings than the ones students get.
    from fedaid_lite.dashboard.warm import notebook_config
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "05_playground.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    params = next(c for c in code if c.startswith("SMOKE = "))
    build = next(c for c in code if "dashboard(cfg" in c)
    for smoke in (False, True):
        made: list[Experiment] = []
        scope = {"Experiment": Experiment, "dashboard": lambda cfg, **_: made.append(cfg)}
        exec(params.replace("SMOKE = False", f"SMOKE = {smoke}", 1), scope)
        exec(build, scope)
        assert made and made[0].to_dict() == notebook_config(smoke).to_dict(), smoke
