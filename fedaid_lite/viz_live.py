"""The dashboard's logic without widgets: knob values, a background training thread, and live figures.

`DashboardController` holds the knob values, trains in a background thread (so Stop and the
sliders stay responsive while rounds run) and calls its listeners after every round. `widgets.py`
binds ipywidgets to it; tests drive it directly.

"Distance to ideal" needs the ideal: on the first Train the controller trains a centralized model
on the pooled data with the same config for the *preset's* number of rounds (`Experiment.tiny()`
takes seconds), and reuses it until the data, model, training config or seed change; moving the
rounds slider does not retrain it, so it stays cheap. Its embeddings of a fixed global-test subset
also fix the live map's frame.
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

from .config import Experiment
from .history import History
from .viz_frame import AlignmentFrame, frame_subset
from .viz_maps import alignment_map_xy
from .viz_plots import live_curves

KNOBS = {"label_skew": "data.label_skew", "image_shift": "data.image_shift", "report_shift": "data.report_shift",
         "bind_lambda": "fed.bind_lambda", "dro_rho": "fed.dro_rho", "rounds": "fed.rounds"}
DATA_KNOBS = ("label_skew", "image_shift", "report_shift")
ALGORITHMS = {"FedAvg": "fedavg", "FedProx": "fedprox", "FedAID": "fedaid"}


@dataclass
class LiveRun:
    """What one algorithm has produced so far: its history and, per round, its map coordinates."""

    label: str
    history: History = field(default_factory=History)
    xy: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)   # (N, 2) image, text per round


class DashboardController:
    """Knob values, the training thread and what it produced; listeners hear 'status', 'round' and 'reset'."""

    def __init__(self, cfg: Experiment, *, map_points: int = 120, map_method: str = "umap") -> None:
        self.base = cfg
        self.values: dict[str, Any] = {k: _get(cfg, key) for k, key in KNOBS.items()}
        self.algorithms: list[str] = ["FedAvg", "FedAID"]
        self.map_points, self.map_method = map_points, map_method
        self.listeners: list[Callable[[str], None]] = []
        self.runs: dict[str, LiveRun] = {}
        self.status, self.error, self.note = "ready: press Train", "", ""
        self.done_rounds, self.total_rounds = 0, 0
        self.first_update_seconds: float | None = None   # Train → first round on screen (benchmarks)
        self.site_names: list[str] = []
        self.frame: AlignmentFrame | None = None
        self.map_subset: Any = None                      # PairedData of the frame's cases
        self.reference_xy: tuple[np.ndarray, np.ndarray] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fedaid-dashboard-")
        self._cache: dict[str, Any] = {}                 # hospitals/evalset/reference, keyed by config
        self._train_started = 0.0
        self._trains = 0
        self._busy = False
        self._device: Any = None
        self.rounds_per_run = 0

    @property
    def running(self) -> bool:
        """True from Train until the run has ended (its last status is already set)."""
        return self._busy

    @property
    def stopping(self) -> bool:
        """True after Stop until the run has ended."""
        return self._busy and self._stop.is_set()

    def config(self) -> Experiment:
        """The base config with the current knob values (raises ValueError naming a bad value)."""
        return self.base.override({KNOBS[k]: v for k, v in self.values.items()})

    def set(self, name: str, value: Any) -> None:
        """Change a knob; while training, the change applies on the next Train and the note says so."""
        if name not in KNOBS:
            raise ValueError(f"unknown dashboard knob {name!r}; knobs are {', '.join(KNOBS)}")
        self.base.override({KNOBS[name]: value})        # validate now, with the config's own message
        self.values[name] = value
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

    def train(self) -> bool:
        """Start training in a background thread; False (and nothing happens) if a run is in progress."""
        if self._busy or (self._thread is not None and self._thread.is_alive()):
            return False
        self._busy = True
        self._stop.clear()
        self.error, self.runs, self.done_rounds = "", {}, 0
        self.first_update_seconds = None
        self._train_started = time.perf_counter()
        self._trains += 1
        self._thread = threading.Thread(target=self._work, args=(self.config(), list(self.algorithms)),
                                        name="fedaid-dashboard-train", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the run to end at the next local step; rounds already completed are kept."""
        if self.running:
            self._stop.set()
            self.status = "stopping at the next step…"
            self._emit("status")

    def reset(self) -> None:
        """Stop, forget every run and the cached ideal, and go back to the starting knob values."""
        self.stop()
        self.wait(60)
        self.values = {k: _get(self.base, key) for k, key in KNOBS.items()}
        self.runs, self.error, self.note, self.done_rounds, self.total_rounds = {}, "", "", 0, 0
        self._cache.clear()
        self.frame = self.map_subset = self.reference_xy = None
        self.status = "ready: press Train"
        self._emit("reset")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the training thread ends; True if it ended within `timeout` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not (self._thread is not None and self._thread.is_alive())

    def _emit(self, event: str) -> None:
        for listener in list(self.listeners):
            listener(event)

    def _update_note(self) -> None:
        if self.running:
            self.note = "changes apply on the next Train (this run keeps its settings)"
        elif self._cache.get("data_cfg") is not None and self.config().data != self._cache["data_cfg"]:
            self.note = "data sliders changed: the hospitals are rebuilt on the next Train"
        else:
            self.note = ""

    def _work(self, cfg: Experiment, algorithms: list[str]) -> None:
        """The thread body: data, the ideal reference, then each algorithm; errors end up in `self.error`."""
        from .federated import run_federated
        from .train import configure_threads, resolve_device

        try:
            configure_threads(cfg.train.threads)
            device = self._device = resolve_device(cfg.train.device)
            self.rounds_per_run = cfg.fed.rounds
            self._prepare(cfg, device, run_federated)
            self.total_rounds = cfg.fed.rounds * len(algorithms)
            for label in algorithms:
                if self._stop.is_set():
                    break
                run_cfg = cfg.override({"fed.algorithm": ALGORITHMS[label]})
                self.runs[label] = LiveRun(label)
                self.status = f"training {label}"
                self._emit("status")
                out = Path(self._tmp.name) / f"train{self._trains}" / label
                history = run_federated(run_cfg, on_round=lambda rec, lb=label, d=out: self._on_round(lb, rec, d),
                                        stop=self._stop, checkpoint_dir=out, hospitals=self._cache["hospitals"],
                                        reference=self._cache["reference"], evalset=self._cache["evalset"],
                                        device=device)
                self.runs[label].history = history
            self.status = ("stopped: kept rounds done so far" if self._stop.is_set()
                           else f"done: {self.done_rounds} rounds")
        except _Stopped:
            self.status = "stopped while training the ideal reference"
        except Exception as err:  # noqa: BLE001 - shown in the dashboard instead of dying in a thread
            self.error = f"{type(err).__name__}: {err}"
            self.status = "error (see below)"
            self._cache["traceback"] = traceback.format_exc()
        finally:
            self._busy = False
            self._update_note_after_run(cfg)
            self._emit("status")

    def _update_note_after_run(self, cfg: Experiment) -> None:
        self.note = ("data sliders changed: the hospitals are rebuilt on the next Train"
                     if self.config().data != cfg.data else
                     ("settings changed: they apply on the next Train" if self.config() != cfg else ""))

    def _prepare(self, cfg: Experiment, device: Any, run_federated: Callable) -> None:
        """Hospitals and eval set (when the data knobs changed), the ideal reference and the map frame."""
        from .data import load_hospitals
        from .data.tensors import to_tensors
        from .evaluate import prepare_eval, reference_embeddings
        from .model import build_model, load_model

        if self._cache.get("data_cfg") != cfg.data or self._cache.get("model_cfg") != cfg.model:
            self.status = "building the hospitals…"
            self._emit("status")
            hospitals = load_hospitals(cfg.data)
            self._cache = {"data_cfg": cfg.data, "model_cfg": cfg.model, "hospitals": hospitals,
                           "evalset": prepare_eval(hospitals, cfg.model)}
            test = hospitals.global_test
            self._cache["map_idx"] = frame_subset(test.sites, self.map_points, seed=0)
            self.map_subset = test.subset(self._cache["map_idx"])
            self._cache["map_tensors"] = to_tensors(self.map_subset, hospitals.tokenizer, cfg.model.max_text_len)
            self.site_names = list(hospitals.site_names)
        ideal_key = (cfg.train, cfg.seed, cfg.fed.dro_holdout)   # not the rounds slider: see the module doc
        if self._cache.get("ideal_key") != ideal_key:
            self.status = "training the ideal (centralized) reference…"
            self._emit("status")
            out = Path(self._tmp.name) / f"ideal{self._trains}"
            ideal_cfg = cfg.override({"fed.algorithm": "centralized", "fed.rounds": self.base.fed.rounds,
                                      "fed.eval_every": self.base.fed.rounds})  # its curves are never shown
            run_federated(ideal_cfg, stop=self._stop, checkpoint_dir=out,
                          hospitals=self._cache["hospitals"], evalset=self._cache["evalset"], device=device)
            if self._stop.is_set():
                raise _Stopped()
            ideal = load_model(out / "model")
            reference = reference_embeddings(ideal, self._cache["evalset"], device)
            idx = self._cache["map_idx"]
            image_emb, text_emb = reference["global"]["image"][idx], reference["global"]["text"][idx]
            self.status = "fitting the map frame on the ideal model…"
            self._emit("status")
            self.frame = AlignmentFrame.fit(image_emb, text_emb, seed=0, method=self.map_method)
            self.reference_xy = (self.frame.image_xy, self.frame.text_xy)
            self._cache.update(ideal_key=ideal_key, reference=reference,
                               probe_model=build_model(cfg.model, ideal.vocab_size, 0, image_size=ideal.image_size))

    def _on_round(self, label: str, record: dict[str, Any], checkpoint_dir: Path) -> None:
        """After each round: embed the map subset with the new global model and tell the listeners."""
        from .checkpoint import load_checkpoint
        from .train import embed

        run = self.runs[label]
        run.history.records.append(record)
        ckpt = load_checkpoint(checkpoint_dir)
        if ckpt is not None and self.frame is not None:
            model = self._cache["probe_model"]   # a spare DualEncoder: load the round's global weights
            model.load_state_dict(ckpt.global_state)
            run.xy.append(self.frame.transform(*embed(model, self._cache["map_tensors"], self._device)))
        self.done_rounds += 1
        self.status = f"{label}: round {record['round']}/{self.rounds_per_run}"
        if self.first_update_seconds is None:
            self.first_update_seconds = time.perf_counter() - self._train_started
        self._emit("round")

    def curves(self) -> go.Figure:
        """The live curves: loss, retrieval, matched cosine, distance to ideal, and client weights."""
        return live_curves({k: r.history for k, r in self.runs.items()}, self.site_names)

    def map(self) -> go.Figure | None:
        """The live alignment map (ideal plus each run's latest round), or None before the frame exists."""
        if self.frame is None or self.map_subset is None:
            return None
        s, ideal = self.map_subset, (self.frame.image_xy, self.frame.text_xy)
        coords = {"ideal (centralized)": [ideal]}
        coords.update({label: [run.xy[-1] if run.xy else ideal] for label, run in self.runs.items()})
        return alignment_map_xy(coords, self.frame.bounds(), s.reports, s.labels, s.sites, s.site_names,
                                title="Live map: images (●), reports (◆), latest round", height=380)


class _Stopped(Exception):
    """Stop pressed while the ideal reference was training."""


def _get(cfg: Experiment, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)
