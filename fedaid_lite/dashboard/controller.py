"""The dashboard's logic without widgets: knob values, background preparation, training, live figures.

`DashboardController` is the one object `widgets` binds to and tests drive; each of its jobs lives in
its own room: `knobs.Knobs` (slider values and the configs they make), `broker.PreparationBroker`
(which background preparation runs), `run_ideal.RunIdeal` (the ideal the runs on screen wait for),
`training.TrainingThread` (Train / Stop), `board.LiveBoard` (the runs on screen, their map positions
and their figures), `messages.Messages` (the status line, the note, and the listeners, who hear
'status', 'start' (round 0, the model every run starts from, is on the curves), 'round', 'reference'
and 'reset').

"Distance to ideal" and the live map need the ideal: a centralized model trained on the pooled
data for the *preset's* number of rounds (moving the rounds slider does not retrain it). It
depends only on the preset and the data sliders, and `preparation.Preparation` makes it in the
background: when the dashboard is shown (`prepare()`), again when a data slider moves, and it is
kept in memory and in a disk cache (`ideal.py`) by config. Train never waits for it: the curves get
their starting point (round 0, `start.py`) as soon as the hospitals exist, and round 1 as soon as one
round has run (the two are computed side by side); until the ideal is
ready the distance panel and the map say "ideal reference: preparing…", and the rounds already
drawn get their distance filled in (from their saved weights) when it arrives. The ideal holds back
while a run's first round is computing, then both share the CPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from ..config import Experiment
from .board import LiveBoard
from .broker import PreparationBroker
from .knobs import DATA_KNOBS, Knobs
from .messages import Messages
from .preparation import Preparation
from .run_ideal import RunIdeal
from .training import TrainingThread


class DashboardController:
    """Knob values, the training thread and what it produced; listeners hear 'status', 'start', 'round', 'reference',
    'reset'.

    `reference_cache`: True keeps the ideal's embeddings in the user cache folder (`ideal.default_cache_dir`),
    False keeps them in memory only, a path keeps them there.
    """

    def __init__(self, cfg: Experiment, *, map_points: int = 120, map_method: str = "umap",
                 reference_cache: bool | str | Path = True) -> None:
        self.knobs = Knobs(cfg)
        self.messages = Messages(lambda: self.knobs.note(self.running, self._run_cfg))
        self.auto_prepare = False                        # True: data slider moves and Reset start a preparation
        self._tmp = tempfile.TemporaryDirectory(prefix="fedaid-dashboard-")
        self.broker = PreparationBroker(map_points=map_points, map_method=map_method, workdir=Path(self._tmp.name),
                                        reference_cache=reference_cache, on_change=self._on_prepared)
        self.board = LiveBoard()
        self.run_ideal = RunIdeal(self.board, self.broker)
        self.trainer = TrainingThread(self.board, self.broker.store, map_points, Path(self._tmp.name),
                                      hospitals_cache=self.broker.hospitals_cache, say=self.messages.say,
                                      ended=lambda status: self.messages.say(status, "status"))
        self._run_cfg: Experiment | None = None          # the config of the runs on screen

    # what widgets, tests and benchmarks read
    listeners = property(lambda self: self.messages.listeners, doc="Called with each event's name (append to it).")
    status = property(lambda self: self.messages.status, doc="The status line.")
    note = property(lambda self: self.messages.note, doc="When a knob change applies, '' if none is pending.")
    values = property(lambda self: self.knobs.values, doc="The knob values.")
    algorithms = property(lambda self: self.knobs.algorithms, doc="The chosen algorithms (display labels).")
    runs = property(lambda self: self.board.runs, doc="The runs of the last Train, by label.")
    error = property(lambda self: self.trainer.error, doc="The last run's error, '' if none.")
    done_rounds = property(lambda self: self.trainer.done_rounds, doc="Rounds finished in the last Train.")
    total_rounds = property(lambda self: self.trainer.total_rounds, doc="Rounds the last Train will run.")
    first_update_seconds = property(lambda self: self.trainer.first_update_seconds,
                                    doc="Train → first round on screen, in seconds (benchmarks).")
    start_seconds = property(lambda self: self.trainer.start_seconds,
                             doc="Train → round 0 (the starting model) on screen, in seconds (benchmarks).")
    running = property(lambda self: self.trainer.busy, doc="True from Train until the run has ended.")
    stopping = property(lambda self: self.trainer.busy and self.trainer.stop_event.is_set(),
                        doc="True after Stop until the run has ended.")
    reference_ready = property(lambda self: self.board.ideal is not None,
                               doc="True when the ideal of the runs on screen is there.")
    reference_status = property(lambda self: self.run_ideal.status, doc="The newest preparation's progress.")

    def progress_text(self) -> str:
        """Rounds done by each algorithm of the runs on screen, e.g. 'FedAvg 5/8 · FedAID 4/8'."""
        return self.board.progress_text(self.trainer.algorithms or self.algorithms,
                                        self.trainer.rounds_per_run or self.values["rounds"])

    def config(self) -> Experiment:
        """The base config with the current knob values (raises ValueError naming a bad value)."""
        return self.knobs.config()

    def ideal_config(self) -> Experiment:
        """What the ideal for the current knobs is trained with: the preset plus the data sliders only."""
        return self.knobs.ideal_config()

    def set(self, name: str, value: Any) -> None:
        """Change a knob; while training, the change applies on the next Train and the note says so."""
        self.knobs.set(name, value)
        if name in DATA_KNOBS and self.auto_prepare:
            self.prepare()
        self.messages.say(None, "status")

    def set_algorithms(self, names: list[str]) -> None:
        """One or two of FedAvg / FedProx / FedAID, trained taking turns round by round and drawn side by side."""
        self.knobs.set_algorithms(names)
        self.messages.say(None, "status")

    def prepare(self) -> Preparation | None:
        """Start preparing the hospitals and the ideal for the current knobs in the background (`broker.request`)."""
        return self.broker.request(self.ideal_config(), keep=self.run_ideal.job)

    def prepared(self, timeout: float | None = None) -> bool:
        """Block until the newest preparation has ended; True if it ended within `timeout` seconds."""
        return self.broker.prepared(timeout)

    def train(self) -> bool:
        """Start training in a background thread; False (and nothing happens) if a run is in progress."""
        if self.trainer.alive:
            return False
        cfg, ideal_cfg = self.config(), self.ideal_config()
        with self.board.lock:
            self.board.clear()                           # a new run gets the ideal of its own settings
            self._run_cfg = cfg
            self.messages.update_note()                  # the change this Train applies is no longer pending
            job = self.run_ideal.begin(ideal_cfg)
        self.trainer.start(cfg, list(self.algorithms), job)
        return True

    def stop(self) -> None:
        """Ask the run to end at the next local step; rounds already completed are kept (the ideal goes on)."""
        if self.running:
            self.trainer.stop_event.set()
            self.messages.say("stopping at the next step…", "status")

    def reset(self) -> None:
        """Stop, cancel the preparation, forget every run and go back to the starting knob values."""
        self.stop()
        self.run_ideal.cancel()
        self.trainer.join(60)
        self.knobs.reset()
        with self.board.lock:
            self.board.clear()
            self.run_ideal.forget()
            self._run_cfg = None
        self.trainer.clear()
        self.messages.clear()
        self.run_ideal.status = ""
        self.messages.emit("reset")
        if self.auto_prepare:
            self.prepare()

    def close(self) -> None:
        """Stop the run and cancel the preparation (the dashboard is going away)."""
        self.stop()
        self.run_ideal.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended and the ideal of its runs is in (or failed); True if within `timeout`."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        if not self.trainer.join(timeout):
            return False
        return self.run_ideal.wait(None if deadline is None else max(0.0, deadline - time.perf_counter()))

    def curves(self) -> go.Figure:
        """The live curves: loss, retrieval, matched cosine, distance to ideal, and client weights."""
        return self.board.curves(self.run_ideal.note())

    def map(self) -> go.Figure | None:
        """The live map (the ideal and each run's latest round), a note while the ideal is prepared; None before any."""
        return self.board.map(self.run_ideal.note())

    def _on_prepared(self, job: Preparation) -> None:
        """Called by a preparation job on each step and when it ends: report, and attach a finished ideal."""
        self.messages.say(None, "reference" if self.run_ideal.on_prepared(job) else "status")
