"""Which background preparation runs: one job at a time, for the newest settings, reusing what is prepared.

The dashboard asks for the hospitals and the ideal of a config whenever it may need them (shown, a data
slider moved, Train); the broker answers from its `PreparedStore`, joins a job already making them, or
starts a new one queued behind the last (cancelling that one unless the runs on screen wait for it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ..config import Experiment
from ..ideal import ReferenceCache, default_cache_dir, reference_key
from .preparation import Preparation, PreparedStore


class PreparationBroker:
    """Starts, reuses and cancels `Preparation` jobs; `job` is the newest one, `store` what they made.

    `reference_cache`: True keeps the ideal's embeddings in the user cache folder (`ideal.default_cache_dir`),
    False keeps them in memory only, a path keeps them there.
    """

    def __init__(self, *, map_points: int, map_method: str, workdir: Path, reference_cache: bool | str | Path,
                 on_change: Callable[[Preparation], None]) -> None:
        cache = default_cache_dir() if reference_cache is True else (reference_cache or None)
        self.disk = ReferenceCache(cache)
        # built hospitals beside the ideal's cache (a second visit skips generating them); none when it is off
        self.hospitals_cache = (None if cache is None else
                                default_cache_dir().parent / "hospitals" if reference_cache is True
                                else Path(cache) / "hospitals")
        self.store = PreparedStore()
        self.job: Preparation | None = None
        self.map_points, self.map_method, self.workdir = map_points, map_method, workdir
        self._on_change = on_change
        self._lock = threading.RLock()

    def request(self, ideal_cfg: Experiment, keep: Preparation | None = None) -> Preparation | None:
        """The job preparing `ideal_cfg` (started if needed), or None when its data and ideal are in the store.

        A running job for other settings is cancelled, unless it is `keep` (the runs on screen wait for it).
        """
        key = reference_key(ideal_cfg)
        with self._lock:
            old = self.job
            if self.store.ideal(key) is not None and self.store.data(ideal_cfg) is not None:
                return None
            if old is not None and old.key == key and old.ideal is not None:   # made, but maybe evicted since
                self.store.add_ideal(old.ideal)
                self.store.add_data(old.data)
                return None
            if old is not None and old.key == key and not old.cancelled and not old.done.is_set():
                return old
            if old is not None and not old.done.is_set() and old is not keep:
                old.cancel()                             # superseded, and no run on screen waits for it
            self.job = Preparation(ideal_cfg, self.store, self.disk, map_points=self.map_points,
                                   map_method=self.map_method, workdir=self.workdir, after=old,
                                   on_change=self._on_change, hospitals_cache=self.hospitals_cache)
            return self.job.start()

    def prepared(self, timeout: float | None = None) -> bool:
        """Block until the newest job has ended; True if it ended within `timeout` seconds."""
        job = self.job
        return job is None or job.done.wait(timeout)

    def cancel(self) -> None:
        """Cancel the newest job (and the ones queued before it)."""
        with self._lock:
            if self.job is not None:
                self.job.cancel()
