"""The dashboard's logic without widgets: knob values, a background training thread, and live figures.

`DashboardController` holds the knob values, trains in a background thread (so Stop and the
sliders stay responsive while rounds run) and calls its listeners after every round. `widgets`
binds ipywidgets to it; tests drive it directly.

"Distance to ideal" and the live map need the ideal: a centralized model trained on the pooled
data for the *preset's* number of rounds (moving the rounds slider does not retrain it). It
depends only on the preset and the data sliders, and `preparation.Preparation` makes it in the
background: when the dashboard is built (`prepare()`), again when a data slider moves, and it is
kept in memory and in a disk cache (`ideal.py`) by config. Train never waits for it: the first
round's curves appear as soon as the hospitals exist and one round has run; until the ideal is
ready the distance panel and the map say "ideal reference: preparing…", and the rounds already
drawn get their distance filled in (from their saved weights) when it arrives. The ideal holds back
while a run's first round is computing, then both share the CPU.
"""

from __future__ import annotations

import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go

from ..config import Experiment
from ..history import History
from ..names import DASHBOARD_ALGORITHMS, label
from ..ideal import ReferenceCache, default_cache_dir, reference_key, reference_metrics
from ..viz.frame import AlignmentFrame
from ..viz.maps import alignment_map_xy
from ..viz.plots import live_curves, message_figure
from .preparation import PreparedData, PreparedIdeal, PreparedStore, Preparation, build_data

KNOBS = {"label_skew": "data.label_skew", "image_shift": "data.image_shift", "report_shift": "data.report_shift",
         "bind_lambda": "fed.bind_lambda", "dro_rho": "fed.dro_rho", "rounds": "fed.rounds"}
DATA_KNOBS = ("label_skew", "image_shift", "report_shift")
ALGORITHMS = {label(name): name for name in DASHBOARD_ALGORITHMS}
PREPARING = "ideal reference: preparing…"


@dataclass
class LiveRun:
    """What one algorithm has produced so far: its history and, per round, its map coordinates."""

    label: str
    history: History = field(default_factory=History)
    xy: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)   # (N, 2) image, text per round



class DashboardController:
    """Knob values, the training thread and what it produced; listeners hear 'status', 'round', 'reference', 'reset'.

    `reference_cache`: True keeps the ideal's embeddings in the user cache folder (`ideal.default_cache_dir`),
    False keeps them in memory only, a path keeps them there.
    """

    def __init__(self, cfg: Experiment, *, map_points: int = 120, map_method: str = "umap",
                 reference_cache: bool | str | Path = True) -> None:
        self.base = cfg
        self.values: dict[str, Any] = {k: _get(cfg, key) for k, key in KNOBS.items()}
        self.algorithms: list[str] = ["FedAvg", "FedAID"]
        self.map_points, self.map_method = map_points, map_method
        self.listeners: list[Callable[[str], None]] = []
        self.runs: dict[str, LiveRun] = {}
        self.status, self.error, self.note = "ready: press Train", "", ""
        self.reference_status = ""                       # what the background preparation is doing
        self.done_rounds, self.total_rounds = 0, 0
        self.first_update_seconds: float | None = None   # Train → first round on screen (benchmarks)
        self.auto_prepare = False                        # True: data slider moves and Reset start a preparation
        self.site_names: list[str] = []
        self.frame: AlignmentFrame | None = None         # the map frame of the runs on screen
        self.map_subset: Any = None                      # PairedData of the frame's cases
        self.reference_xy: tuple[np.ndarray, np.ndarray] | None = None
        cache = default_cache_dir() if reference_cache is True else (reference_cache or None)
        self._disk = ReferenceCache(cache)
        self._store = PreparedStore()
        self._prep: Preparation | None = None            # the newest preparation job
        self._lock = threading.RLock()                   # runs, the ideal of the runs, the spare model
        self._run_key: str | None = None                 # ideal key of the runs on screen
        self._run_job: Preparation | None = None         # ... the job making it (None once it is there)
        self._run_ideal: PreparedIdeal | None = None
        self._run_data: PreparedData | None = None
        self._run_cfg: Experiment | None = None
        self._pending: list[tuple[str, dict[str, Any], dict]] = []   # rounds waiting for the ideal: weights kept
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fedaid-dashboard-")
        self._train_started = 0.0
        self._trains = 0
        self._busy = False
        self._device: Any = None
        self.traceback = ""
        self.rounds_per_run = 0

    @property
    def running(self) -> bool:
        """True from Train until the run has ended (its last status is already set)."""
        return self._busy

    @property
    def stopping(self) -> bool:
        """True after Stop until the run has ended."""
        return self._busy and self._stop.is_set()

    @property
    def reference_ready(self) -> bool:
        """True when the ideal of the runs on screen is there (their distance panel and map are complete)."""
        return self._run_ideal is not None

    def config(self) -> Experiment:
        """The base config with the current knob values (raises ValueError naming a bad value)."""
        return self.base.override({KNOBS[k]: v for k, v in self.values.items()})

    def ideal_config(self) -> Experiment:
        """What the ideal for the current knobs is trained with: the preset plus the data sliders only."""
        return self.base.override({KNOBS[k]: self.values[k] for k in DATA_KNOBS})

    def set(self, name: str, value: Any) -> None:
        """Change a knob; while training, the change applies on the next Train and the note says so."""
        if name not in KNOBS:
            raise ValueError(f"unknown dashboard knob {name!r}; knobs are {', '.join(KNOBS)}")
        self.base.override({KNOBS[name]: value})        # validate now, with the config's own message
        self.values[name] = value
        if name in DATA_KNOBS and self.auto_prepare:
            self.prepare()
        self._update_note()
        self._emit("status")

    def set_algorithms(self, names: list[str]) -> None:
        """One or two of FedAvg / FedProx / FedAID, trained one after the other and drawn side by side."""
        names = [n for n in dict.fromkeys(names) if n]
        bad = [n for n in names if n not in ALGORITHMS]
        if bad or not 1 <= len(names) <= 2:
            raise ValueError(f"choose one or two algorithms from {', '.join(ALGORITHMS)}; got {names}")
        self.algorithms = names
        self._update_note()
        self._emit("status")

    def prepare(self) -> Preparation | None:
        """Start preparing the hospitals and the ideal for the current knobs in the background; never blocks.

        Returns the job (None when everything is already prepared). A job for other settings is
        cancelled, unless the runs on screen still wait for it (then the new one queues behind it).
        """
        return self._request(self.ideal_config())

    def prepared(self, timeout: float | None = None) -> bool:
        """Block until the newest preparation has ended; True if it ended within `timeout` seconds."""
        job = self._prep
        return job is None or job.done.wait(timeout)

    def train(self) -> bool:
        """Start training in a background thread; False (and nothing happens) if a run is in progress."""
        if self._busy or (self._thread is not None and self._thread.is_alive()):
            return False
        cfg, ideal_cfg = self.config(), self.ideal_config()
        self._busy = True
        self._stop.clear()
        self.error, self.traceback, self.done_rounds = "", "", 0
        self.first_update_seconds = None
        self._train_started = time.perf_counter()
        self._trains += 1
        key = reference_key(ideal_cfg)
        with self._lock:
            self.runs, self._pending, self._run_cfg = {}, [], cfg
            self._run_key, self._run_job = key, None
            self._attach(self._store.ideal(key))
            if self._run_ideal is None:
                self._run_job = self._request(ideal_cfg)
                self._attach(self._store.ideal(key))      # it may have become ready meanwhile
        job = self._run_job
        if job is not None:
            job.gate.pause()                             # the first round gets the CPU first
        self._thread = threading.Thread(target=self._work, args=(cfg, list(self.algorithms), job),
                                        name="fedaid-dashboard-train", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the run to end at the next local step; rounds already completed are kept (the ideal goes on)."""
        if self.running:
            self._stop.set()
            self.status = "stopping at the next step…"
            self._emit("status")

    def reset(self) -> None:
        """Stop, cancel the preparation, forget every run and go back to the starting knob values."""
        self.stop()
        self._cancel_all()
        if self._thread is not None:
            self._thread.join(60)
        self.values = {k: _get(self.base, key) for k, key in KNOBS.items()}
        with self._lock:
            self.runs, self._pending, self._run_key, self._run_job, self._run_cfg = {}, [], None, None, None
            self._run_ideal = self._run_data = None
            self.frame = self.map_subset = self.reference_xy = None
        self.error, self.note, self.done_rounds, self.total_rounds = "", "", 0, 0
        self.status, self.reference_status = "ready: press Train", ""
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
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        job = self._run_job
        if job is not None:
            return job.done.wait(None if deadline is None else max(0.0, deadline - time.perf_counter()))
        return True

    def _emit(self, event: str) -> None:
        for listener in list(self.listeners):
            listener(event)

    def _request(self, ideal_cfg: Experiment) -> Preparation | None:
        key = reference_key(ideal_cfg)
        with self._lock:
            old = self._prep
            if self._store.ideal(key) is not None and self._store.data(ideal_cfg) is not None:
                return None
            if old is not None and old.key == key and old.ideal is not None:   # made, but maybe evicted since
                self._store.add_ideal(old.ideal)
                self._store.add_data(old.data)
                return None
            if old is not None and old.key == key and not old.cancelled and not old.done.is_set():
                return old
            if old is not None and not old.done.is_set() and old is not self._run_job:
                old.cancel()                             # superseded, and no run on screen waits for it
            self._prep = Preparation(ideal_cfg, self._store, self._disk, map_points=self.map_points,
                                     map_method=self.map_method, workdir=Path(self._tmp.name), after=old,
                                     on_change=self._on_prepared)
            return self._prep.start()

    def _cancel_all(self) -> None:
        with self._lock:
            if self._prep is not None:
                self._prep.cancel()
            self._run_job = None

    def _on_prepared(self, job: Preparation) -> None:
        """Called by a preparation job on each step and when it ends: report, and attach a finished ideal."""
        if job is self._prep or job is self._run_job:
            self.reference_status = job.describe()
        attached = False
        with self._lock:
            if job.ideal is not None and job.key == self._run_key and self._run_ideal is None:
                self._attach(job.ideal)
                attached = True
        self._update_note()
        self._emit("reference" if attached else "status")

    def _attach(self, ideal: PreparedIdeal | None) -> None:
        """Make `ideal` the reference of the runs on screen and fill in the rounds that waited for it (locked)."""
        if ideal is None:
            return
        self._run_ideal = ideal
        self.frame = ideal.frame
        self.reference_xy = (ideal.frame.image_xy, ideal.frame.text_xy)
        for label, record, state in self._pending:
            self._fill(label, record, state)
        self._pending = []

    def _fill(self, label: str, record: dict[str, Any], state: dict) -> None:
        """Add a round's distance to the ideal (if it was evaluated without one) and its map position (locked)."""
        from ..evaluate import reference_embeddings
        from ..train import embed

        data, ideal = self._run_data, self._run_ideal
        if data is None or ideal is None:
            return
        model = data.probe_model                         # a spare DualEncoder: load the round's global weights
        model.load_state_dict(state)
        if record["metrics"] and "dist_to_ref" not in record["metrics"]:
            emb = reference_embeddings(model, data.evalset, self._device)
            record["metrics"].update(reference_metrics(emb, data.evalset, ideal.reference))
        self.runs[label].xy.append(ideal.frame.transform(*embed(model, data.map_tensors, self._device)))

    def _update_note(self) -> None:
        if self.running:
            self.note = "changes apply on the next Train (this run keeps its settings)"
        elif self._run_cfg is not None and self.config().data != self._run_cfg.data:
            self.note = "data sliders changed: the hospitals are rebuilt on the next Train"
        elif self._run_cfg is not None and self.config() != self._run_cfg:
            self.note = "settings changed: they apply on the next Train"
        else:
            self.note = ""

    def _work(self, cfg: Experiment, algorithms: list[str], job: Preparation | None) -> None:
        """The thread body: data, then each algorithm; errors end up in `self.error`."""
        from ..federated import run_federated
        from ..train import configure_threads, resolve_device

        try:
            configure_threads(cfg.train.threads)
            self._device = resolve_device(cfg.train.device)
            self.rounds_per_run = cfg.fed.rounds
            data = self._data_for(cfg, job)
            with self._lock:
                self._run_data, self.map_subset = data, data.map_subset
                self.site_names = list(data.hospitals.site_names)
            self.total_rounds = cfg.fed.rounds * len(algorithms)
            for label in algorithms:
                if self._stop.is_set():
                    break
                run_cfg = cfg.override({"fed.algorithm": ALGORITHMS[label]})
                with self._lock:
                    self.runs[label] = LiveRun(label)
                    reference = self._run_ideal.reference if self._run_ideal is not None else None
                self.status = f"training {label}"
                self._emit("status")
                out = Path(self._tmp.name) / f"train{self._trains}" / label
                history = run_federated(run_cfg, on_round=lambda rec, lb=label, d=out: self._on_round(lb, rec, d, job),
                                        stop=self._stop, checkpoint_dir=out, hospitals=data.hospitals,
                                        reference=reference, evalset=data.evalset, device=self._device)
                self.runs[label].history = history       # its records are the dicts `_on_round` got
            self.status = ("stopped: kept rounds done so far" if self._stop.is_set()
                           else f"done: {self.done_rounds} rounds")
        except _Stopped:
            self.status = "stopped while building the hospitals"
        except Exception as err:  # noqa: BLE001 - shown in the dashboard instead of dying in a thread
            self.error = f"{type(err).__name__}: {err}"
            self.status = "error (see below)"
            self.traceback = traceback.format_exc()
        finally:
            if job is not None:
                job.gate.resume()
            self._busy = False
            self._update_note()
            self._emit("status")

    def _data_for(self, cfg: Experiment, job: Preparation | None) -> PreparedData:
        """The hospitals for `cfg`: prepared already, being prepared (wait for them), or built here."""
        data = self._store.data(cfg)
        if data is None and job is not None:
            self.status = "building the hospitals…"
            self._emit("status")
            while not job.data_ready.wait(0.1):
                if self._stop.is_set():
                    raise _Stopped()
            if job.data is None and job.exception is not None:
                raise job.exception
            data = job.data
        if data is None:
            self.status = "building the hospitals…"
            self._emit("status")
            data = self._store.add_data(build_data(cfg, self.map_points))
        return data

    def _on_round(self, label: str, record: dict[str, Any], checkpoint_dir: Path, job: Preparation | None) -> None:
        """After each round: place the new global model on the map (or keep it for the ideal), tell the listeners."""
        from ..checkpoint import load_checkpoint

        ckpt = load_checkpoint(checkpoint_dir)
        with self._lock:
            self.runs[label].history.records.append(record)
            if ckpt is not None:
                if self._run_ideal is not None:
                    self._fill(label, record, ckpt.global_state)
                else:
                    self._pending.append((label, record, ckpt.global_state))
            self.done_rounds += 1
        self.status = f"{label}: round {record['round']}/{self.rounds_per_run}"
        first = self.first_update_seconds is None
        if first:
            self.first_update_seconds = time.perf_counter() - self._train_started
        self._emit("round")
        if first and job is not None:
            job.gate.resume()                            # the first round is on screen: the ideal may go on

    def curves(self) -> go.Figure:
        """The live curves: loss, retrieval, matched cosine, distance to ideal, and client weights."""
        with self._lock:
            histories = {k: r.history for k, r in self.runs.items()}
            notes = {"dist_to_ref": self._reference_note()} if self.runs and self._run_ideal is None else {}
            return live_curves(histories, self.site_names, notes=notes)

    def map(self) -> go.Figure | None:
        """The live map (the ideal and each run's latest round), a note while the ideal is prepared, None before a run."""
        with self._lock:
            if self.map_subset is None or not self.runs:
                return None
            if self.frame is None:
                return message_figure(self._reference_note() + "  (the map is drawn in the ideal model's frame)",
                                      height=380)
            s, ideal = self.map_subset, (self.frame.image_xy, self.frame.text_xy)
            coords = {"ideal (centralized)": [ideal]}
            coords.update({label: [run.xy[-1] if run.xy else ideal] for label, run in self.runs.items()})
            # a run not placed yet stands on the ideal's points: its title must not claim the ideal's numbers
            placed = ["ideal (centralized)"] + [label for label, run in self.runs.items() if run.xy]
            bounds = self.frame.bounds()
        return alignment_map_xy(coords, bounds, s.reports, s.labels, s.sites, s.site_names,
                                title="Live map: images (●), reports (◆), latest round", height=380, scores=placed)

    def _reference_note(self) -> str:
        job = self._run_job
        if job is None or job.cancelled:
            return "ideal reference: not computed (press Train again)"
        if job.exception is not None:
            return "ideal reference: failed (see the status line)"
        return PREPARING


class _Stopped(Exception):
    """Stop pressed while the run waited for the hospitals."""


def _get(cfg: Experiment, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)
