"""The dashboard's training thread: the chosen algorithms take turns round by round, each round handed to the board.

Training runs in a background thread so Stop and the sliders stay responsive while rounds run (the
kernel does not process widget messages while a cell executes). It never waits for the ideal: the
first round's curves appear as soon as the hospitals exist and one round has run.
"""

from __future__ import annotations

import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from ..config import Experiment
from ..federated import run_federated
from ..rounds import TrainedState
from ..train import configure_threads, resolve_device
from .board import LiveBoard, LiveRun
from .knobs import ALGORITHMS
from .preparation import Preparation, PreparedData, PreparedStore, build_data
from .start import start_point


class Stopped(Exception):
    """Stop pressed while the run waited for the hospitals."""


def data_for(cfg: Experiment, job: Preparation | None, store: PreparedStore, stop: threading.Event,
             say: Callable[[str | None, str | None], None], build: Callable[[], PreparedData]) -> PreparedData:
    """The hospitals for `cfg`: prepared already, being prepared by `job` (wait for them), or `build()` here."""
    data = store.data(cfg)
    if data is None and job is not None:
        say("building the hospitals…", "status")
        while not job.data_ready.wait(0.1):
            if stop.is_set():
                raise Stopped()
        if job.data is None and job.exception is not None:
            raise job.exception
        data = job.data
    if data is None:
        say("building the hospitals…", "status")
        data = store.add_data(build())
    return data


class TakeTurns:
    """Runs taking turns round by round (run 0's round 1, run 1's round 1, …); Stop lets every run go.

    One run computes while the others wait in their `on_round`, so Stop at any time finds every
    algorithm with the rounds it has, and each run keeps its own seeded state (its numbers are those
    of the same run trained alone).
    """

    def __init__(self, n: int, stop: threading.Event) -> None:
        self.active = list(range(n))
        self.turn = 0
        self.stop = stop
        self._cond = threading.Condition()

    def wait(self, i: int) -> bool:
        """Block until it is run `i`'s turn (True) or Stop was pressed (False)."""
        with self._cond:
            while self.turn != i:
                if self.stop.is_set():
                    return False
                self._cond.wait(0.1)                     # Stop sets a plain Event: look again every 0.1 s
            return not self.stop.is_set()

    def pass_on(self, i: int) -> None:
        """Run `i` finished a round: the next run still going has its turn."""
        with self._cond:
            if i in self.active:
                self.turn = self.active[(self.active.index(i) + 1) % len(self.active)]
            self._cond.notify_all()

    def finish(self, i: int) -> None:
        """Run `i` has ended: it leaves the rotation (the next one has its turn)."""
        with self._cond:
            if i in self.active:
                k = self.active.index(i)
                self.active.remove(i)
                if self.active and self.turn == i:
                    self.turn = self.active[k % len(self.active)]
            self._cond.notify_all()


class TrainingThread:
    """One Train at a time: `start` runs it in the background, `stop_event` ends it at the next local step.

    It tells the controller what happens through `say(status, event)` (status None: unchanged; event None:
    no redraw; 'start' once round 0, the starting model, is on the board) and
    `ended(status)` (the run is over; `error`/`traceback` say why if it failed).
    """

    def __init__(self, board: LiveBoard, store: PreparedStore, map_points: int, workdir: Path, *,
                 hospitals_cache: Path | None = None, say: Callable[[str | None, str | None], None],
                 ended: Callable[[str], None]) -> None:
        self.board, self.store, self.map_points, self.workdir = board, store, map_points, workdir
        self.say, self.ended, self.hospitals_cache = say, ended, hospitals_cache
        self.stop_event = threading.Event()
        self.busy = False                                # True from `start` until the run has ended
        self.error, self.traceback = "", ""
        self.done_rounds = self.total_rounds = self.rounds_per_run = 0
        self.algorithms: list[str] = []                  # the labels of the last Train's runs
        self.first_update_seconds: float | None = None   # Train → first round on screen (benchmarks)
        self.start_seconds: float | None = None          # Train → round 0 (the starting model) on screen
        self._thread: threading.Thread | None = None
        self._started, self._trains = 0.0, 0             # when the last Train began; how many Trains so far
        self._failure: Exception | None = None           # the first error of a run's algorithms
        self._count_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        """True while a run is in progress or its thread has not ended yet."""
        return self.busy or (self._thread is not None and self._thread.is_alive())

    def clear(self) -> None:
        """Forget the counters and the error of the last run."""
        self.error, self.traceback, self.done_rounds, self.total_rounds = "", "", 0, 0
        self.algorithms, self.rounds_per_run = [], 0

    def start(self, cfg: Experiment, algorithms: list[str], job: Preparation | None) -> None:
        """Train `algorithms` (dashboard labels) on `cfg` in the background; `job` is preparing its hospitals."""
        self.busy = True
        self.stop_event.clear()
        self.error, self.traceback, self.done_rounds = "", "", 0
        self._failure, self.algorithms, self.rounds_per_run = None, list(algorithms), cfg.fed.rounds
        self.first_update_seconds = self.start_seconds = None
        self._started = time.perf_counter()
        self._trains += 1
        if job is not None:
            job.gate.pause()                             # the first round gets the CPU first
        self._thread = threading.Thread(target=self._work, args=(cfg, algorithms, job),
                                        name="fedaid-dashboard-train", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _work(self, cfg: Experiment, algorithms: list[str], job: Preparation | None) -> None:
        """The thread body: data, then the algorithms taking turns round by round; errors end up in `self.error`."""
        board = self.board
        status = ""
        try:
            configure_threads(cfg.train.threads)
            board.device = resolve_device(cfg.train.device)
            self.rounds_per_run = cfg.fed.rounds
            data = data_for(cfg, job, self.store, self.stop_event, self.say,
                            lambda: build_data(cfg, self.map_points, self.hospitals_cache))
            board.use_data(data)
            self.total_rounds = cfg.fed.rounds * len(algorithms)
            turns = TakeTurns(len(algorithms), self.stop_event)
            # round 0 is scored beside round 1's training (a second core), not before it
            workers = [threading.Thread(target=self._start_point, args=(cfg, data),
                                        name="fedaid-dashboard-start", daemon=True)]
            workers += [threading.Thread(target=self._run_one, args=(i, label, cfg, data, turns, job),
                                         name=f"fedaid-dashboard-{label}", daemon=True)
                        for i, label in enumerate(algorithms)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if self._failure is not None:
                raise self._failure
            status = ("stopped: kept rounds done so far" if self.stop_event.is_set()
                      else f"done: {self.done_rounds} rounds")
        except Stopped:
            status = "stopped while building the hospitals"
        except Exception as err:  # noqa: BLE001 - shown in the dashboard instead of dying in a thread
            self.error = f"{type(err).__name__}: {err}"
            status = "error (see below)"
            if not self.traceback:
                self.traceback = traceback.format_exc()
        finally:
            if job is not None:
                job.gate.resume()
            self.busy = False
            self.ended(status)

    def _run_one(self, i: int, label: str, cfg: Experiment, data: PreparedData, turns: TakeTurns,
                 job: Preparation | None) -> None:
        """One algorithm's run, a round per turn; its own seeded state, so its numbers are those of a run alone."""
        board = self.board
        try:
            if not turns.wait(i):
                return
            run_cfg = cfg.override({"fed.algorithm": ALGORITHMS[label]})
            with board.lock:
                board.runs[label] = LiveRun(label, algorithm=ALGORITHMS[label])
                reference = board.ideal.reference if board.ideal is not None else None
            self.say(f"training {label}", "status")

            def on_round(record: dict[str, Any], trained: TrainedState) -> None:
                self._on_round(label, record, trained, job)
                turns.pass_on(i)
                turns.wait(i)

            out = self.workdir / f"train{self._trains}" / label
            history = run_federated(run_cfg, on_round=on_round, stop=self.stop_event, checkpoint_dir=out,
                                    hospitals=data.hospitals, reference=reference, evalset=data.evalset,
                                    device=board.device)
            board.runs[label].history = history         # its records are the dicts `_on_round` got
        except Exception as err:  # noqa: BLE001 - re-raised by `_work`; the other run stops with it
            self._fail(err)
        finally:
            turns.finish(i)

    def _start_point(self, cfg: Experiment, data: PreparedData) -> None:
        """Score the model the runs start from and show it as round 0 (see `start.py`)."""
        try:
            self.board.add_start(lambda reference: start_point(cfg, data, self.board.device, reference))
            self.start_seconds = time.perf_counter() - self._started
            self.say(None, "start")
        except Exception as err:  # noqa: BLE001 - re-raised by `_work`, like a run's error
            self._fail(err)

    def _fail(self, err: Exception) -> None:
        """Keep the first error of this Train's threads (`_work` re-raises it) and stop the others."""
        if self._failure is None:
            self._failure, self.traceback = err, traceback.format_exc()
        self.stop_event.set()

    def _on_round(self, label: str, record: dict[str, Any], trained: TrainedState, job: Preparation | None) -> None:
        """After each round: hand the new global model to the board (in memory, not reread), tell the controller."""
        self.board.add_round(label, record, trained.global_state)
        with self._count_lock:
            self.done_rounds += 1
        first = self.first_update_seconds is None
        if first:
            self.first_update_seconds = time.perf_counter() - self._started
        self.say(f"{label}: round {record['round']}/{self.rounds_per_run}", "round")
        if first and job is not None:
            job.gate.resume()                            # the first round is on screen: the ideal may go on
