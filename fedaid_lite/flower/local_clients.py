"""ClientApp workers as threads of the calling process: the deployment engine within a small memory budget.

`LocalDeployment(..., in_process_clients=True)` uses this. The SuperLink and the SuperNodes stay separate
processes and every message still travels through them (Fleet API, Runtime API, the 3 s polls); only the
executor that a real hospital runs as `python -m fedaid_lite.flower.worker` runs here, one thread per
SuperNode. Each worker process would import torch and the toolkit again (≈ 400 MB each, measured at the
class preset); a thread shares the caller's. One lock lets one ClientApp call run at a time, as the
in-process engine trains one hospital after the other, so torch's global state is never shared by two
trainings at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from flwr.app import Context, Message

from .worker import Worker


class _ThreadWorker(Worker):
    """A `Worker` whose ClientApp calls hold a lock shared with the other threads."""

    def __init__(self, runtime_api_address: str, lock: threading.Lock) -> None:
        super().__init__(runtime_api_address, insecure=True)
        self._lock = lock

    def _app(self, run: Any, fab: Any) -> Callable[..., Message]:
        app = super()._app(run, fab)

        def call(message: Message, context: Context) -> Message:
            with self._lock:    # the heartbeat keeps the task alive while it waits its turn
                return app(message=message, context=context)

        return call


class ThreadClients:
    """One worker thread per SuperNode in this process; `stop()` ends them all."""

    def __init__(self, flwr_home: Path) -> None:
        # The worker installs the run's FAB under $FLWR_HOME as flwr-clientapp would, so this process needs
        # the deployment's FLWR_HOME while it runs; the caller's value comes back on stop().
        self._saved_home = os.environ.get("FLWR_HOME")
        os.environ["FLWR_HOME"] = str(flwr_home)
        self._lock = threading.Lock()
        self.workers: dict[int, _ThreadWorker] = {}
        self._threads: dict[int, threading.Thread] = {}

    def add(self, index: int, runtime_api_address: str) -> None:
        """Serve SuperNode `index`'s tasks from a new thread."""
        worker = _ThreadWorker(runtime_api_address, self._lock)
        thread = threading.Thread(target=worker.serve, name=f"fedaid-clientapp-{index}", daemon=True)
        self.workers[index], self._threads[index] = worker, thread
        thread.start()

    def stop_one(self, index: int, timeout: float = 30.0) -> None:
        """Stop SuperNode `index`'s worker (after its current task)."""
        if index in self.workers:
            self.workers[index].stop()
            self._threads[index].join(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every worker and give the caller its FLWR_HOME back."""
        for worker in self.workers.values():
            worker.stop()
        for thread in self._threads.values():
            thread.join(timeout)
        if self._saved_home is None:
            os.environ.pop("FLWR_HOME", None)
        else:
            os.environ["FLWR_HOME"] = self._saved_home

    def tasks(self, index: int) -> int:
        """How many tasks SuperNode `index`'s worker has run."""
        return self.workers[index].tasks if index in self.workers else 0
