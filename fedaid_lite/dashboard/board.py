"""What the dashboard shows: the runs of the last Train, their ideal reference, and each round's map position.

A round's global weights are placed on the live map in the ideal model's frame and get their distance to
the ideal; a round that ends before the ideal is there waits (weights kept) and is filled in when it arrives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go

from ..evaluate import reference_embeddings
from ..history import History
from ..ideal import reference_metrics
from ..names import label as display_label
from ..train import embed
from ..viz.frame import AlignmentFrame
from ..viz.maps import alignment_map_xy
from ..viz.plots import live_curves, message_figure
from .preparation import PreparedData, PreparedIdeal
from .start import START_LABEL, StartPoint

IDEAL = display_label("centralized")
MAP_HEIGHT, MAP_WIDTH = 520, 980
"""Pixels: three panels side by side (about as wide as controls + curves), titles above, legend rows below."""


@dataclass
class LiveRun:
    """What one algorithm has produced so far: its history and, per round, its map coordinates."""

    label: str
    history: History = field(default_factory=History)
    xy: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)   # (N, 2) image, text per round
    algorithm: str = ""                                                      # its name in `names.ALGORITHMS`


class LiveBoard:
    """The runs on screen and their ideal; `lock` guards both (the training and preparation threads write)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs: dict[str, LiveRun] = {}
        self.data: PreparedData | None = None            # the hospitals of the runs
        self.ideal: PreparedIdeal | None = None          # their ideal, once it is there
        self.frame: AlignmentFrame | None = None         # the map frame of the runs on screen
        self.map_subset: Any = None                      # PairedData of the frame's cases
        self.reference_xy: tuple[np.ndarray, np.ndarray] | None = None
        self.site_names: list[str] = []
        self.device: Any = None
        self.start: StartPoint | None = None             # round 0: the model every run starts from
        self._pending: list[tuple[str, dict[str, Any], dict]] = []   # rounds waiting for the ideal: weights kept

    def clear(self) -> None:
        """Forget the runs, their hospitals and their ideal."""
        with self.lock:
            self.runs, self._pending = {}, []
            self.data = self.ideal = self.start = None
            self.frame = self.map_subset = self.reference_xy = None

    def use_data(self, data: PreparedData) -> None:
        """The hospitals the runs train on."""
        with self.lock:
            self.data, self.map_subset = data, data.map_subset
            self.site_names = list(data.hospitals.site_names)

    def progress_text(self, labels: list[str], total: int) -> str:
        """Rounds done by each of `labels` out of `total`, e.g. 'FedAvg 5/8 · FedAID 4/8'."""
        with self.lock:
            done = {label: len(run.history.records) for label, run in self.runs.items()}
        return " · ".join(f"{label} {done.get(label, 0)}/{total}" for label in labels)

    def attach(self, ideal: PreparedIdeal | None) -> None:
        """Make `ideal` the reference of the runs on screen and fill in the rounds that waited for it."""
        if ideal is None:
            return
        with self.lock:
            self.ideal = ideal
            self.frame = ideal.frame
            self.reference_xy = (ideal.frame.image_xy, ideal.frame.text_xy)
            for label, record, state in self._pending:
                self._fill(label, record, state)
            self._pending = []
            if self.start is not None and self.data is not None:
                self._fill_distance(self.start.record, self.start.state)

    def add_start(self, score: Callable[[Any], StartPoint]) -> None:
        """Show round 0, `score(ideal reference or None)`; its distance to the ideal is filled in once that is here."""
        with self.lock:
            reference = self.ideal.reference if self.ideal is not None else None
        start = score(reference)                         # unlocked: rounds go on being added meanwhile
        with self.lock:
            self.start = start
            if self.ideal is not None:
                self._fill_distance(start.record, start.state)

    def add_round(self, label: str, record: dict[str, Any], state: dict | None) -> None:
        """Record a round of run `label`; place its global weights `state` now, or when the ideal arrives."""
        with self.lock:
            self.runs[label].history.records.append(record)
            if state is None:
                return
            if self.ideal is not None:
                self._fill(label, record, state)
            else:
                self._pending.append((label, record, state))

    def _fill(self, label: str, record: dict[str, Any], state: dict) -> None:
        """Add a round's distance to the ideal (if it was evaluated without one) and its map position (locked)."""
        data, ideal = self.data, self.ideal
        if data is None or ideal is None:
            return
        model = self._fill_distance(record, state)
        self.runs[label].xy.append(ideal.frame.transform(*embed(model, data.map_tensors, self.device)))

    def _fill_distance(self, record: dict[str, Any], state: dict) -> Any:
        """Load `state` into the spare model and add the record's distance to the ideal if missing (locked)."""
        data, ideal = self.data, self.ideal
        assert data is not None and ideal is not None
        model = data.probe_model()                       # a spare DualEncoder: load the round's global weights
        model.load_state_dict(state)
        if record["metrics"] and "dist_to_ref" not in record["metrics"]:
            emb = reference_embeddings(model, data.evalset, self.device)
            record["metrics"].update(reference_metrics(emb, data.evalset, ideal.reference))
        return model

    def curves(self, note: str) -> go.Figure:
        """The live curves; `note` is written across "distance to ideal" while the ideal is missing."""
        with self.lock:
            histories = {k: r.history for k, r in self.runs.items()}
            weighted = next((k for k, r in self.runs.items() if r.algorithm == "fedaid" and r.history.records),
                            None)
            notes = {"dist_to_ref": note} if (self.runs or self.start) and self.ideal is None else {}
            start = None if self.start is None else self.start.record
            return live_curves(histories, self.site_names, notes=notes, weights_of=weighted, start=start,
                               start_label=START_LABEL)

    def map(self, note: str) -> go.Figure | None:
        """The live map: the ideal and each run's latest round; `note` while the ideal is missing; None before a run."""
        with self.lock:
            if self.map_subset is None or not self.runs:
                return None
            if self.frame is None:
                return message_figure(note + "  (the map is drawn in the ideal model's frame)", height=MAP_HEIGHT)
            ideal = (self.frame.image_xy, self.frame.text_xy)
            coords = {IDEAL: [ideal]}
            coords.update({label: [run.xy[-1] if run.xy else ideal] for label, run in self.runs.items()})
            # a run not placed yet stands on the ideal's points: its title must not claim the ideal's numbers
            placed = [IDEAL] + [label for label, run in self.runs.items() if run.xy]
            bounds, subset = self.frame.bounds(), self.map_subset
        # the legend goes under the panels, in rows: beside them it scrolled (hiding "report ◆") and took
        # width from the panels
        fig = alignment_map_xy(coords, bounds, subset, title="Live map: images (●), reports (◆), latest round",
                               height=MAP_HEIGHT, scores=placed, legend="below")
        fig.update_layout(width=MAP_WIDTH)
        return fig
