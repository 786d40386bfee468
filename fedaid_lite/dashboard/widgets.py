"""`dashboard(cfg)`: sliders, Train / Stop / Reset, a progress bar and live plots, in one ipywidgets box.

    from fedaid_lite.dashboard import dashboard
    dashboard(Experiment.tiny())          # the last expression of a cell displays it

The logic (knobs, the training thread, the figures) lives in `controller.DashboardController`; this
file only binds widgets to it. Building the dashboard starts preparing the hospitals and the ideal
reference in the background, before the widgets are made, so a Train pressed at once waits less
(`prepare=False` waits for the first Train instead). Training runs in a background thread because
the kernel does not process slider or button messages while a cell executes (ipywidgets #3468).
Plots are plotly `FigureWidget`s updated in place; in Colab, where `FigureWidget` is unreliable, each refresh redraws
a plain figure into an `Output` instead.
"""

from __future__ import annotations

import html
import math
import sys
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w
import plotly.graph_objects as go
from IPython.display import HTML, clear_output, display

from ..config import Experiment
from .controller import DashboardController
from .knobs import ALGORITHMS

NONE = "—"


def in_colab() -> bool:
    """True inside Google Colab (where the plain-figure renderer is used)."""
    return "google.colab" in sys.modules


class FigureSlot:
    """Shows successive figures in one place: a FigureWidget updated in place, or an Output redrawn."""

    def __init__(self, renderer: str) -> None:
        self.renderer = renderer
        self.widget: w.Widget = go.FigureWidget() if renderer == "widget" else w.Output()
        self.figure: go.Figure | None = None          # the last figure shown (for tests and benchmarks)
        self._shape: Any = None                       # trace types/names + subplot count on screen

    def show(self, fig: go.Figure) -> None:
        """Display `fig` here, reusing the traces already on screen when the figure has the same shape."""
        self.figure = fig
        if self.renderer != "widget":
            with self.widget:
                clear_output(wait=True)
                if in_colab():  # a figure inside an Output needs its own plotly.js there (colabtools #5889)
                    display(HTML(fig.to_html(full_html=False, include_plotlyjs="cdn")))
                else:
                    display(fig)
            return
        fw: go.FigureWidget = self.widget  # type: ignore[assignment]
        shape = tuple((t.type, t.name) for t in fig.data), len(fig.layout.annotations)
        if shape == self._shape:
            with fw.batch_update():
                for old, new in zip(fw.data, fig.data):
                    old.x, old.y = new.x, new.y
                for old, new in zip(fw.layout.annotations, fig.layout.annotations):
                    if old.text != new.text:             # panel titles that name a run, notes
                        old.text = new.text
            return
        fw.data = ()
        fw.layout = fig.layout
        fw.add_traces(list(fig.data))
        self._shape = shape


BIND_LAMBDAS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""λ_bind slider stops: log-spaced, since useful values span decades (README "Results": tuning)."""


def bind_lambda_options(current: float) -> list[float]:
    """The slider's stops, with the config's current value added when it is not one of them."""
    return sorted(set(BIND_LAMBDAS) | {float(current)})


def _slider(kind: type, description: str, value: float, **kw: Any) -> w.Widget:
    style = {"description_width": "110px"}
    return kind(value=value, description=description, continuous_update=False, style=style,
                layout=w.Layout(width="340px"), **kw)


class Dashboard(w.VBox):
    """The dashboard widget; `.controller` holds the logic, the widget attributes are its controls."""

    def __init__(self, cfg: Experiment, *, renderer: str = "auto", map_points: int = 120,
                 map_method: str = "umap", prepare: bool = True, reference_cache: bool | str | Path = True) -> None:
        renderer = ("output" if in_colab() else "widget") if renderer == "auto" else renderer
        if renderer not in ("widget", "output"):
            raise ValueError(f"renderer={renderer!r}: choose 'auto', 'widget' or 'output'")
        self.controller = c = DashboardController(cfg, map_points=map_points, map_method=map_method,
                                                  reference_cache=reference_cache)
        c.auto_prepare = prepare
        if prepare:   # first, so the hospitals are being built while the widgets below are made
            c.prepare()
        v = c.values
        skew = v["label_skew"]
        self.sliders: dict[str, w.Widget] = {
            "label_skew": _slider(w.FloatLogSlider, "label skew α", min(skew, 100.0) if math.isfinite(skew)
                                  else 100.0, base=10, min=-1.3, max=2, step=0.1, readout_format=".2f"),
            "image_shift": _slider(w.FloatSlider, "image shift", v["image_shift"], min=0, max=1, step=0.05),
            "report_shift": _slider(w.FloatSlider, "report shift", v["report_shift"], min=0, max=1, step=0.05),
            "bind_lambda": _slider(w.SelectionSlider, "λ_bind", v["bind_lambda"],
                                   options=bind_lambda_options(v["bind_lambda"])),
            "dro_rho": _slider(w.FloatSlider, "ρ (DRO radius)", v["dro_rho"], min=0, max=5, step=0.1),
            "rounds": _slider(w.IntSlider, "rounds", v["rounds"], min=1, max=max(30, v["rounds"])),
        }
        for name, slider in self.sliders.items():
            slider.observe(lambda change, n=name: self._on_slider(n, change["new"]), names="value")
        options = list(ALGORITHMS)
        self.algorithm_a = w.Dropdown(options=options, value=c.algorithms[0], description="algorithm",
                                      layout=w.Layout(width="220px"))
        self.algorithm_b = w.Dropdown(options=[NONE] + options, value=c.algorithms[1] if len(c.algorithms) > 1
                                      else NONE, description="vs", layout=w.Layout(width="220px"))
        for dd in (self.algorithm_a, self.algorithm_b):
            dd.observe(lambda _: self._on_algorithms(), names="value")
        self.train_button = w.Button(description="Train", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.reset_button = w.Button(description="Reset", icon="undo")
        for button, cls in ((self.train_button, "fedaid-train"), (self.stop_button, "fedaid-stop"),
                            (self.reset_button, "fedaid-reset")):
            button.add_class(cls)
        self.train_button.on_click(lambda _: self.on_train())
        self.stop_button.on_click(lambda _: self.on_stop())
        self.reset_button.on_click(lambda _: self.on_reset())
        # counts the rounds of every chosen algorithm (they take turns); `rounds` says each one's count
        self.progress = w.IntProgress(value=0, min=0, max=1, description="all runs", layout=w.Layout(width="340px"),
                                      style={"description_width": "110px"})
        self.rounds = w.HTML().add_class("fedaid-rounds")
        self.status = w.HTML().add_class("fedaid-status")
        self.reference = w.HTML().add_class("fedaid-reference")
        self.note = w.HTML().add_class("fedaid-note")
        self.error = w.HTML().add_class("fedaid-error")
        self.curves = FigureSlot(renderer)
        self.map = FigureSlot(renderer)
        self._lock = threading.Lock()
        controls = w.VBox([w.HTML("<b>Hospitals</b>"), *[self.sliders[k] for k in ("label_skew", "image_shift",
                                                                                     "report_shift")],
                           w.HTML("<b>Training</b>"), self.algorithm_a, self.algorithm_b,
                           *[self.sliders[k] for k in ("bind_lambda", "dro_rho", "rounds")],
                           w.HBox([self.train_button, self.stop_button, self.reset_button]),
                           self.progress, self.rounds, self.status, self.reference, self.note, self.error],
                          layout=w.Layout(width="360px"))
        super().__init__([w.HBox([controls, self.curves.widget]), self.map.widget])
        self.add_class("fedaid-dashboard")
        c.listeners.append(self._on_event)
        self.curves.show(c.curves())
        self._refresh_labels()

    def close(self) -> None:
        """Cancel the background work, then close the widget."""
        self.controller.close()
        super().close()

    def on_train(self) -> None:
        """Train button: start a run in the background (ignored while one is running)."""
        if self.controller.train():
            self.curves.show(self.controller.curves())
        self._refresh_labels()

    def on_stop(self) -> None:
        """Stop button: end the run at the next step, keeping the finished rounds."""
        self.controller.stop()
        self._refresh_labels()

    def on_reset(self) -> None:
        """Reset button: stop, clear the plots and put the sliders back to the config's values."""
        self.controller.reset()
        for name, slider in self.sliders.items():
            value = self.controller.values[name]
            slider.value = min(value, 100.0) if name == "label_skew" and not math.isfinite(value) else value

    def _on_slider(self, name: str, value: Any) -> None:
        try:
            self.controller.set(name, value)
        except ValueError as err:
            self.error.value = _box(str(err))

    def _on_algorithms(self) -> None:
        names = [self.algorithm_a.value] + ([self.algorithm_b.value] if self.algorithm_b.value != NONE else [])
        try:
            self.controller.set_algorithms(names)
        except ValueError as err:
            self.error.value = _box(str(err))

    def _on_event(self, event: str) -> None:
        """Listener for the controller (called from the training thread): redraw what changed."""
        with self._lock:
            if event in ("start", "round", "reference", "reset"):
                self.curves.show(self.controller.curves())
                live_map = self.controller.map()
                if live_map is not None:
                    self.map.show(live_map)
                elif event == "reset":
                    self.map.show(go.Figure())
            self._refresh_labels()

    def _refresh_labels(self) -> None:
        c = self.controller
        running = c.running and not c.stopping
        self.train_button.disabled, self.stop_button.disabled = running, not running
        self.progress.max = max(1, c.total_rounds or c.values["rounds"] * len(c.algorithms))
        self.progress.value = min(c.done_rounds, self.progress.max)
        self.rounds.value = f"<small>rounds done: {html.escape(c.progress_text())}</small>"
        self.status.value = f"<span class='fedaid-round'>{html.escape(c.status)}</span>"
        self.reference.value = (f"<small style='color:#666'>{html.escape(c.reference_status)}</small>"
                                if c.reference_status else "")
        self.note.value = f"<i style='color:#a15c00'>{html.escape(c.note)}</i>" if c.note else ""
        self.error.value = _box(c.error) if c.error else ""


def _box(message: str) -> str:
    return (f"<div style='color:#a00;border:1px solid #e99;padding:4px;white-space:pre-wrap'>"
            f"{html.escape(message)}</div>")


def dashboard(cfg: Experiment, *, renderer: str = "auto", map_points: int = 120, map_method: str = "umap",
              prepare: bool = True, reference_cache: bool | str | Path = True) -> Dashboard:
    """The live FedAvg / FedProx / FedAID dashboard for `cfg` (an ipywidgets container; display it).

    `prepare`: start building the hospitals and the ideal reference now, in the background.
    `reference_cache`: where the ideal's embeddings are kept between sessions (True: the user cache
    folder, False: nowhere, or a folder).
    """
    if in_colab():
        # here, not at the top: the module exists only inside Colab
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    return Dashboard(cfg, renderer=renderer, map_points=map_points, map_method=map_method, prepare=prepare,
                     reference_cache=reference_cache)
