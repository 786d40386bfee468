"""Shared helpers for the benchmark scripts: the result-line protocol, timing, and peak memory.

Protocol: a benchmark prints one line per figure,

    RESULT {"name": "engine overhead", "value": 1.04, "unit": "x", "target": "<= 1.10", "ok": true}

`ok` is true (met), false (missed) or null (informational, or skipped: then `status` says why).
Everything else a script prints is for humans; `run_all.py` reads only these lines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "RESULT "

if str(ROOT) not in sys.path:      # run as `python benchmarks/x.py` from a fresh clone without `pip install -e`
    sys.path.insert(0, str(ROOT))


def result(name: str, value: float | None, unit: str, target: str, ok: bool | None, **extra: Any) -> dict:
    """Print one `RESULT {json}` line (and return the dict); extra keys (details) ride along."""
    if isinstance(value, float) and math.isfinite(value):
        value = round(value, 3)
    row = {"name": name, "value": value, "unit": unit, "target": target, "ok": ok, **extra}
    print(PREFIX + json.dumps(row, default=str), flush=True)
    return row


def skipped(name: str, target: str, reason: str) -> dict:
    """A figure that could not be measured here: `status` = "skipped: <reason>", `ok` = null."""
    return result(name, None, "", target, None, status=f"skipped: {reason}")


def parse_results(text: str) -> list[dict]:
    """Every `RESULT {json}` line in a script's output, in order (malformed lines are skipped)."""
    rows = []
    for line in text.splitlines():
        if line.startswith(PREFIX):
            try:
                row = json.loads(line[len(PREFIX):])
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and {"name", "value", "unit", "target", "ok"} <= row.keys():
                rows.append(row)
    return rows


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes: --smoke and --threads."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds), "
                                                         "the numbers mean nothing")
    p.add_argument("--threads", type=int, default=1, help="torch threads, the same on both sides (default 1)")
    return p


def set_threads(n: int) -> None:
    """Pin torch (and BLAS) to `n` threads, so both sides of a ratio run alike."""
    from fedaid_lite.train import configure_threads

    configure_threads(n)


class Timing(NamedTuple):
    """Seconds of one run: wall clock, and CPU time of this process (all its threads)."""

    wall: float
    cpu: float


def timed(fn: Callable[[], Any]) -> tuple[Timing, Any]:
    """(Timing, return value) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), out


def interleaved(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[Timing]]:
    """Timings of each side, run in turn A B A B … `repeats` times, so machine noise hits both alike."""
    times: dict[str, list[Timing]] = {k: [] for k in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            times[name].append(timed(fn)[0])
    return times


def best(times: Sequence[Timing], clock: str = "cpu") -> float:
    """The fastest run on `clock` ("cpu" or "wall"): noise on a shared machine only ever adds time.

    Ratios use CPU time: both sides are single-threaded compute in one process, so CPU time is the
    work done and equals wall time on an idle machine, while on a shared one (2 cores, 6 neighbours)
    wall time mostly measures the neighbours (measured: 33-38 s wall vs 10.7-10.9 s CPU for the
    same 60 steps). Wall times ride along in each result's details.
    """
    return float(min(getattr(t, clock) for t in times))


def median(times: Sequence[Timing], clock: str = "cpu") -> float:
    """The median run on `clock`: for CPU time, whose noise (a busy sibling core) goes both ways."""
    return float(statistics.median(getattr(t, clock) for t in times))


def tree_rss(pid: int) -> int:
    """Summed RSS (bytes) of a process and all its descendants (0 if it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakRSS:
    """Samples the summed RSS of a process tree every `interval` seconds in a thread; `.peak` in bytes."""

    def __init__(self, pid: int | None = None, interval: float = 0.1) -> None:
        self.pid, self.interval, self.peak = pid or os.getpid(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


def eval_disabled() -> Callable[[], None]:
    """Make `run_federated` skip evaluation (it calls `fedaid_lite.evaluate.evaluate` by attribute); returns an undo function.

    Evaluation is the same work in every engine and algorithm, and `fed.eval_every` cannot switch it
    off (the last round is always evaluated), so timed runs replace it by a no-op on both sides.
    """
    import fedaid_lite.evaluate as ev

    original = ev.evaluate
    ev.evaluate = lambda *args, **kwargs: {}
    return lambda: setattr(ev, "evaluate", original)


def fmt(value: Any) -> str:
    """A figure for the table: 3 significant digits, or '—'."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def first_sites(hospitals: Any, k: int) -> Any:
    """The same hospitals restricted to their first `k` sites (fewer clients, same per-client work)."""
    import dataclasses

    k = min(k, hospitals.num_sites)
    return dataclasses.replace(hospitals, site_names=hospitals.site_names[:k], train=hospitals.train[:k],
                               val=hospitals.val[:k], test=hospitals.test[:k])
