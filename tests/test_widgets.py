"""The dashboard, headless: set sliders, press the buttons through their handlers, wait for the thread."""

from __future__ import annotations

import sys
import threading
import types

import ipywidgets as w
import plotly.graph_objects as go
import pytest

from fedaid_lite.config import Experiment
from fedaid_lite.widgets import Dashboard, dashboard

pytestmark = pytest.mark.slow  # one tiny training run (two algorithms) plus a stopped one: ~30-60 s


@pytest.fixture(scope="module")
def trained() -> Dashboard:
    d = dashboard(Experiment.tiny(), map_points=60)
    d.algorithm_a.value, d.algorithm_b.value = "FedAvg", "FedAID"
    d.sliders["rounds"].value = 2
    d.train_button.click()
    assert d.controller.wait(600), "training thread did not finish"
    return d


def test_dashboard_has_every_control():
    # If this fails, a slider, button or plot the course relies on is missing from the dashboard.
    d = dashboard(Experiment.tiny(), renderer="widget")
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
    fedaid = c.runs["FedAID"].history.records[-1]
    assert "dist_to_ref" in fedaid["metrics"] and len(c.runs["FedAID"].xy) == 2
    live_map = trained.map.figure
    assert [a.text for a in live_map.layout.annotations] == ["ideal (centralized)", "FedAvg", "FedAID"]
    assert c.first_update_seconds is not None and not trained.train_button.disabled


def test_stop_ends_within_a_step_and_keeps_rounds(trained):
    # If this fails, Stop is ignored (or loses the finished rounds), or slider changes mid-run are silent.
    d, c = trained, trained.controller
    d.algorithm_b.value = "—"
    d.sliders["rounds"].value = 30
    first = threading.Event()
    c.listeners.append(lambda e: first.set() if e == "round" else None)
    d.train_button.click()
    assert first.wait(300), c.error or c.status
    d.sliders["label_skew"].value = 0.1
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
    import fedaid_lite.data

    def boom(_cfg):
        raise RuntimeError("boom: the manifest is unreadable")

    monkeypatch.setattr(fedaid_lite.data, "load_hospitals", boom)
    d = dashboard(Experiment.tiny())
    d.train_button.click()
    assert d.controller.wait(60)
    assert "boom: the manifest is unreadable" in d.error.value and "error" in d.status.value
    assert not d.train_button.disabled
    d.reset_button.click()
    assert d.error.value == "" and d.controller.runs == {}


def test_colab_falls_back_to_plain_figures(monkeypatch):
    # If this fails, Colab users get a FigureWidget, which does not render there.
    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    d = dashboard(Experiment.tiny())
    assert calls == [1] and isinstance(d.curves.widget, w.Output)
    assert isinstance(d.curves.figure, go.Figure)
