"""The ideal reference of the runs on screen: which one they need, the job making it, and attaching it.

Train never waits for the ideal: `begin` attaches it at once when it is already prepared, and otherwise
asks the broker for it and remembers the job the runs now wait for (the broker will not cancel that one
for newer slider values). Each time a preparation reports, `on_prepared` notes its progress (`status`)
and attaches its ideal if it is the one the runs on screen wait for; the rounds already drawn then get
their distance to it (`board.LiveBoard.attach`).
"""

from __future__ import annotations

from ..config import Experiment
from ..ideal import reference_key
from .board import LiveBoard
from .broker import PreparationBroker
from .preparation import Preparation, waiting_note


class RunIdeal:
    """The ideal the runs on screen need (`key`), the job making it (`job`) and how preparing goes (`status`)."""

    def __init__(self, board: LiveBoard, broker: PreparationBroker) -> None:
        self.board, self.broker = board, broker
        self.key: str | None = None                      # ideal key of the runs on screen
        self.job: Preparation | None = None              # ... the job making it (None once it is there)
        self.status = ""                                 # the newest preparation's progress, '' before any

    def begin(self, ideal_cfg: Experiment) -> Preparation | None:
        """A new Train's ideal: attached now if it is prepared, else requested; the job the runs wait for (or None)."""
        key = reference_key(ideal_cfg)
        with self.board.lock:
            self.key, self.job = key, None
            self.board.attach(self.broker.store.ideal(key))
            if self.board.ideal is None:
                self.job = self.broker.request(ideal_cfg)
                self.board.attach(self.broker.store.ideal(key))   # it may have become ready meanwhile
            return self.job

    def forget(self) -> None:
        """No runs on screen: no ideal to wait for."""
        with self.board.lock:
            self.key, self.job = None, None

    def cancel(self) -> None:
        """Cancel the preparation; the runs on screen no longer wait for it."""
        with self.board.lock:
            self.broker.cancel()
            self.job = None

    def on_prepared(self, job: Preparation) -> bool:
        """A preparation's step or end: note its progress; True if its ideal was attached to the runs on screen now."""
        if job is self.broker.job or job is self.job:
            self.status = job.describe()
        with self.board.lock:
            if job.ideal is not None and job.key == self.key and self.board.ideal is None:
                self.board.attach(job.ideal)
                return True
        return False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job the runs on screen wait for has ended (or failed); True if within `timeout`."""
        job = self.job
        return job is None or job.done.wait(timeout)

    def note(self) -> str:
        """What the panels that need the ideal say while the runs on screen wait for it."""
        return waiting_note(self.job)
