"""The dashboard's logic without widgets: knob values, background preparation, training, live figures.

`DashboardController` is the one object `widgets` binds to and tests drive; each of its jobs lives in
its own room: `knobs.Knobs` (slider values and the configs they make), `broker.PreparationBroker`
(which background preparation runs), `training.TrainingThread` (Train / Stop), `board.LiveBoard`
(the runs on screen, their map positions and their figures). Listeners hear 'status', 'start' (round
0, the model every run starts from, is on the curves), 'round', 'reference' and 'reset'.

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
from typing import Any, Callable

import plotly.graph_objects as go

from ..config import Experiment
from ..ideal import reference_key
from .board import LiveBoard
from .broker import PreparationBroker
from .knobs import DATA_KNOBS, Knobs
from .preparation import Preparation, waiting_note
from .training import TrainingThread

READY = "ready: press Train"


class DashboardController:
    """Knob values, the training thread and what it produced; listeners hear 'status', 'start', 'round', 'reference',
    'reset'.

    `reference_cache`: True keeps the ideal's embeddings in the user cache folder (`ideal.default_cache_dir`),
    False keeps them in memory only, a path keeps them there.
    """

    def __init__(self, cfg: Experiment, *, map_points: int = 120, map_method: str = "umap",
                 reference_cache: bool | str | Path = True) -> None:
        self.knobs = Knobs(cfg)
        self.listeners: list[Callable[[str], None]] = []
        self.status, self.note, self.reference_status = READY, "", ""
        self.auto_prepare = False                        # True: data slider moves and Reset start a preparation
        self._tmp = tempfile.TemporaryDirectory(prefix="fedaid-dashboard-")
        self.broker = PreparationBroker(map_points=map_points, map_method=map_method, workdir=Path(self._tmp.name),
                                        reference_cache=reference_cache, on_change=self._on_prepared)
        self.board = LiveBoard()
        self.trainer = TrainingThread(self.board, self.broker.store, map_points, Path(self._tmp.name),
                                      hospitals_cache=self.broker.hospitals_cache, say=self._say,
                                      ended=lambda status: self._say(status, "status"))
        self._run_key: str | None = None                 # ideal key of the runs on screen
        self._run_job: Preparation | None = None         # ... the job making it (None once it is there)
        self._run_cfg: Experiment | None = None

    # what widgets, tests and benchmarks read
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

    def progress_text(self) -> str:
        """Rounds done by each algorithm of the runs on screen, e.g. 'FedAvg 5/8 · FedAID 4/8'."""
        with self.board.lock:
            done = {label: len(run.history.records) for label, run in self.board.runs.items()}
        total = self.trainer.rounds_per_run or self.values["rounds"]
        labels = self.trainer.algorithms or self.algorithms
        return " · ".join(f"{label} {done.get(label, 0)}/{total}" for label in labels)

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
        self._say(None, "status")

    def set_algorithms(self, names: list[str]) -> None:
        """One or two of FedAvg / FedProx / FedAID, trained taking turns round by round and drawn side by side."""
        self.knobs.set_algorithms(names)
        self._say(None, "status")

    def prepare(self) -> Preparation | None:
        """Start preparing the hospitals and the ideal for the current knobs in the background (`broker.request`)."""
        return self.broker.request(self.ideal_config(), keep=self._run_job)

    def prepared(self, timeout: float | None = None) -> bool:
        """Block until the newest preparation has ended; True if it ended within `timeout` seconds."""
        return self.broker.prepared(timeout)

    def train(self) -> bool:
        """Start training in a background thread; False (and nothing happens) if a run is in progress."""
        if self.trainer.alive:
            return False
        cfg, ideal_cfg = self.config(), self.ideal_config()
        key = reference_key(ideal_cfg)
        with self.board.lock:
            self.board.clear()                           # a new run gets the ideal of its own settings
            self._run_cfg, self._run_key, self._run_job = cfg, key, None
            self._update_note()                          # the change this Train applies is no longer pending
            self.board.attach(self.broker.store.ideal(key))
            if self.board.ideal is None:
                self._run_job = self.broker.request(ideal_cfg)
                self.board.attach(self.broker.store.ideal(key))   # it may have become ready meanwhile
        self.trainer.start(cfg, list(self.algorithms), self._run_job)
        return True

    def stop(self) -> None:
        """Ask the run to end at the next local step; rounds already completed are kept (the ideal goes on)."""
        if self.running:
            self.trainer.stop_event.set()
            self._say("stopping at the next step…", "status")

    def reset(self) -> None:
        """Stop, cancel the preparation, forget every run and go back to the starting knob values."""
        self.stop()
        self._cancel_all()
        self.trainer.join(60)
        self.knobs.reset()
        with self.board.lock:
            self.board.clear()
            self._run_key, self._run_job, self._run_cfg = None, None, None
        self.trainer.clear()
        self.note, self.status, self.reference_status = "", READY, ""
        self._emit("reset")
        if self.auto_prepare:
            self.prepare()

    def close(self) -> None:
        """Stop the run and cancel the preparation (the dashboard is going away)."""
        self.stop()
        self._cancel_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended and the ideal of its runs is in (or failed); True if within `timeout`."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        if not self.trainer.join(timeout):
            return False
        job = self._run_job
        if job is not None:
            return job.done.wait(None if deadline is None else max(0.0, deadline - time.perf_counter()))
        return True

    def curves(self) -> go.Figure:
        """The live curves: loss, retrieval, matched cosine, distance to ideal, and client weights."""
        return self.board.curves(waiting_note(self._run_job))

    def map(self) -> go.Figure | None:
        """The live map (the ideal and each run's latest round), a note while the ideal is prepared; None before any."""
        return self.board.map(waiting_note(self._run_job))

    def _emit(self, event: str) -> None:
        for listener in list(self.listeners):
            listener(event)

    def _say(self, status: str | None, event: str | None) -> None:
        """Set the status line (None keeps it), refresh the note, tell the listeners `event` (None: nobody)."""
        if status is not None:
            self.status = status
        self._update_note()
        if event is not None:
            self._emit(event)

    def _cancel_all(self) -> None:
        with self.board.lock:
            self.broker.cancel()
            self._run_job = None

    def _on_prepared(self, job: Preparation) -> None:
        """Called by a preparation job on each step and when it ends: report, and attach a finished ideal."""
        if job is self.broker.job or job is self._run_job:
            self.reference_status = job.describe()
        attached = False
        with self.board.lock:
            if job.ideal is not None and job.key == self._run_key and self.board.ideal is None:
                self.board.attach(job.ideal)
                attached = True
        self._say(None, "reference" if attached else "status")

    def _update_note(self) -> None:
        self.note = self.knobs.note(self.running, self._run_cfg)
