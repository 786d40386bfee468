"""What the live dashboard prepares in the background: the hospitals, the ideal reference and the map frame.

A `Preparation` is one background job for one ideal config: build (or reuse) the hospitals (generated
in a forked process when they are not in the disk cache yet, see `generate_apart`) and the evaluation
set, get the ideal reference (from memory, from the disk cache in `ideal.py`, or by training it), then
fit the map frame on the ideal's embeddings. The dashboard starts one when it is built and whenever a
data slider moves, so the slow part is usually done before Train; Train never waits for the ideal
(the curves come first and "distance to ideal" is filled in when it is ready).

Jobs run one after another, never side by side (each waits for the one before it to end); a job
can be cancelled (a newer config replaced it: it ends at the next optimizer step) and paused (a
run's first round gets the CPU first: the job holds at its next step). Results go into a
`PreparedStore`, keyed by config, so a result is only ever found for the config that made it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Experiment
from ..data import load_hospitals
from ..data.cache import hospitals_key, load_hospitals_cached
from ..data.tensors import to_tensors
from ..evaluate import EvalEmbeddings, prepare_eval
from ..ideal import ReferenceCache, reference_key, train_reference
from ..model import build_model
from ..train import configure_threads, resolve_device
from ..viz.frame import AlignmentFrame, frame_subset


PREPARING = "ideal reference: preparing…"


@dataclass
class PreparedData:
    """The hospitals of one (data, model) config and what the dashboard derives from them."""

    data_cfg: Any
    model_cfg: Any
    hospitals: Any
    evalset: Any
    map_idx: np.ndarray          # rows of the global test set drawn on the live map
    map_subset: Any              # PairedData of those rows
    map_tensors: Any             # ... tokenised, for `train.embed`
    _probe: Any = field(default=None, repr=False)
    _probe_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def probe_model(self) -> Any:
        """A spare DualEncoder each round's global weights are loaded into, built on first use.

        Not built with the hospitals: a run's first round waits for those, not for this (a
        `Preparation` builds it once that round is on screen).
        """
        with self._probe_lock:
            if self._probe is None:
                h = self.hospitals
                self._probe = build_model(self.model_cfg, len(h.tokenizer), 0, image_size=h.train[0].images.shape[-1])
            return self._probe


@dataclass
class PreparedIdeal:
    """The ideal reference of one config (see `ideal.reference_key`) and the map frame fit on it."""

    key: str
    reference: EvalEmbeddings    # what `evaluate(reference=)` takes
    frame: AlignmentFrame
    source: str                  # "trained" or "cache"
    seconds: float               # how long getting it took


def build_data(cfg: Experiment, map_points: int, hospitals_cache: Path | None = None) -> PreparedData:
    """Hospitals, evaluation set and the map's subset for `cfg.data` and `cfg.model` (the spare model comes later).

    `hospitals_cache`: a folder where built hospitals are kept by config (`data.cache`); None builds them.
    """
    if hospitals_cache is None:
        hospitals = load_hospitals(cfg.data)
    else:
        generate_apart(cfg, hospitals_cache)
        hospitals = load_hospitals_cached(cfg.data, hospitals_cache)
    test = hospitals.global_test
    idx = frame_subset(test.sites, map_points, seed=0)
    subset = test.subset(idx)
    evalset = prepare_eval(hospitals, cfg.model, split=cfg.fed.eval_split)
    return PreparedData(cfg.data, cfg.model, hospitals, evalset, idx, subset,
                        to_tensors(subset, hospitals.tokenizer, cfg.model.max_text_len))


def generate_apart(cfg: Experiment, hospitals_cache: Path) -> None:
    """Generate hospitals missing from the cache in a forked process that writes them there (Linux only).

    Generating is pure-Python numpy work that holds the GIL: in a thread it shares one core with the
    widgets being built and the kernel, in its own process it gets the second core. The child writes
    the cache entry `load_hospitals_cached` would write (same function, same pickle), the caller then
    reads it; if the child fails the caller builds them itself, so errors surface as they always did.
    """
    if (cfg.data.manifest or not sys.platform.startswith("linux") or "fork" not in mp.get_all_start_methods()
            or (Path(hospitals_cache) / f"{hospitals_key(cfg.data)}.pkl").is_file()):
        return
    # set, tokenizers' fork handler neither prints its warning into the notebook nor leaves its thread
    # pool half-alive in the child (the parent's encodings only lose threads they do not need at this size)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # the child has one thread, so it may fork again: two generators on two cores (the cases are the same);
    # not a daemon, because a daemonic process may not start the generators' pool
    workers = min(2, os.cpu_count() or 1)
    child = mp.get_context("fork").Process(target=load_hospitals_cached, args=(cfg.data, hospitals_cache, workers),
                                           name="fedaid-hospitals", daemon=False)
    child.start()
    child.join()


class PreparedStore:
    """The last few prepared data sets and ideals, found by config; thread-safe."""

    def __init__(self, keep: int = 3) -> None:
        self.keep = keep
        self._data: list[PreparedData] = []
        self._ideals: OrderedDict[str, PreparedIdeal] = OrderedDict()
        self._lock = threading.Lock()

    def data(self, cfg: Experiment) -> PreparedData | None:
        with self._lock:
            return next((d for d in self._data if d.data_cfg == cfg.data and d.model_cfg == cfg.model), None)

    def add_data(self, data: PreparedData) -> PreparedData:
        with self._lock:
            self._data = [data] + [d for d in self._data if (d.data_cfg, d.model_cfg) != (data.data_cfg,
                                                                                          data.model_cfg)]
            del self._data[self.keep:]
        return data

    def ideal(self, key: str) -> PreparedIdeal | None:
        with self._lock:
            return self._ideals.get(key)

    def add_ideal(self, ideal: PreparedIdeal) -> PreparedIdeal:
        with self._lock:
            self._ideals[ideal.key] = ideal
            while len(self._ideals) > self.keep:
                self._ideals.popitem(last=False)
        return ideal


class Gate(threading.Event):
    """A stop flag for `run_federated` that can also hold the run: while paused, `is_set()` waits."""

    def __init__(self) -> None:
        super().__init__()
        self._go = threading.Event()
        self._go.set()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def set(self) -> None:
        super().set()
        self._go.set()             # a cancelled job must not stay paused

    def is_set(self) -> bool:
        self._go.wait()
        return super().is_set()


class Cancelled(Exception):
    """The preparation was cancelled."""


class Preparation:
    """One background job: data, ideal reference, map frame for `cfg` (an ideal config; see the module doc)."""

    def __init__(self, cfg: Experiment, store: PreparedStore, disk: ReferenceCache, *, map_points: int,
                 map_method: str, workdir: Path, after: Preparation | None,
                 on_change: Callable[[Preparation], None], hospitals_cache: Path | None = None) -> None:
        self.cfg, self.key = cfg, reference_key(cfg)
        self.store, self.disk = store, disk
        self.map_points, self.map_method, self.workdir = map_points, map_method, workdir
        self.hospitals_cache = hospitals_cache
        self.gate = Gate()                               # set = cancelled
        self.data_ready = threading.Event()              # set once `data` is there or the job has ended
        self.done = threading.Event()                    # set once the job has ended and reported it
        self.data: PreparedData | None = None
        self.ideal: PreparedIdeal | None = None
        self.exception: BaseException | None = None
        self.phase = "waiting"
        self.traceback = ""
        self._after, self._on_change = after, on_change
        self.thread = threading.Thread(target=self._run, name="fedaid-dashboard-prepare", daemon=True)

    @property
    def cancelled(self) -> bool:
        return threading.Event.is_set(self.gate)         # the plain flag: never waits while paused

    def start(self) -> Preparation:
        self.thread.start()
        return self

    def cancel(self) -> None:
        """End the job at its next step (and every earlier job still queued before it)."""
        self.gate.set()
        if self._after is not None and not self._after.done.is_set():
            self._after.cancel()

    def describe(self) -> str:
        """One line for the dashboard's status."""
        return f"ideal reference: {self.phase}"

    def _step(self, phase: str, *, hold: bool = True) -> None:
        """Enter `phase`; raise `Cancelled` if cancelled; with `hold`, first wait while paused."""
        if self.gate.is_set() if hold else self.cancelled:
            raise Cancelled()
        self.phase = phase
        self._on_change(self)

    def _run(self) -> None:
        if self._after is not None:
            self._after.thread.join()
        started = time.perf_counter()
        try:
            self._step("starting…", hold=False)
            configure_threads(self.cfg.train.threads)
            device = resolve_device(self.cfg.train.device)
            self.data = self.store.data(self.cfg)
            if self.data is None:
                self._step("building the hospitals…", hold=False)   # a paused run waits for these
                self.data = self.store.add_data(build_data(self.cfg, self.map_points, self.hospitals_cache))
            self.data_ready.set()
            self._step("preparing the live map's model…")   # after a waiting run's first round (see PreparedData)
            self.data.probe_model()
            self.ideal = self.store.ideal(self.key) or self._make_ideal(device, started)
            self.phase = (f"ready ({'loaded from the cache' if self.ideal.source == 'cache' else 'trained'}"
                          f" in {self.ideal.seconds:.0f} s)")
        except Cancelled:
            self.phase = "cancelled"
        except Exception as err:  # noqa: BLE001 - reported by the dashboard; a run re-raises data errors
            self.exception = err
            self.phase = f"failed: {type(err).__name__}: {err}"
            self.traceback = traceback.format_exc()
        finally:
            self.data_ready.set()
            self._on_change(self)
            self.done.set()

    def _make_ideal(self, device: Any, started: float) -> PreparedIdeal:
        data = self.data
        assert data is not None
        reference, source = self.disk.load(self.key, data.evalset), "cache"
        if reference is None:
            rounds = self.cfg.fed.rounds
            self._step(f"training the ideal (centralized) model, round 1/{rounds}…")

            def progress(record: dict[str, Any]) -> None:
                if record["round"] < rounds:
                    self.phase = f"training the ideal (centralized) model, round {record['round'] + 1}/{rounds}…"
                    self._on_change(self)

            workdir = Path(tempfile.mkdtemp(prefix="ideal-", dir=self.workdir))
            reference = train_reference(self.cfg, data.hospitals, data.evalset, device, workdir,
                                        stop=self.gate, on_round=progress)
            if reference is None:
                raise Cancelled()
            self.disk.save(self.key, reference)
            source = "trained"
        self._step("fitting the map frame on the ideal model…")
        image_emb, text_emb = reference.global_test.image[data.map_idx], reference.global_test.text[data.map_idx]
        frame = AlignmentFrame.fit(image_emb, text_emb, seed=0, method=self.map_method)
        return self.store.add_ideal(PreparedIdeal(self.key, reference, frame, source, time.perf_counter() - started))


def waiting_note(job: Preparation | None) -> str:
    """What the panels that need the ideal say while the runs on screen wait for `job` to make it."""
    if job is None or job.cancelled:
        return "ideal reference: not computed (press Train again)"
    if job.exception is not None:
        return "ideal reference: failed (see the status line)"
    return PREPARING
