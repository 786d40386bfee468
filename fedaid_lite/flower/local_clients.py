"""ClientApp workers as threads of the calling process: the deployment engine within a small memory budget.

`LocalDeployment(..., in_process=("clients", ...))` uses this. Every message still travels through the
SuperLink and the SuperNodes (Fleet API, Runtime API, the 3 s polls); only the executor that a real hospital
runs as `python -m fedaid_lite.flower.worker` runs here, one thread per SuperNode. Each worker process would
import torch and the toolkit again (≈ 400 MB each, measured at the class preset); a thread shares the
caller's. The ClientApp calls themselves all run on one more thread, one at a time, as the in-process engine
trains one hospital after the other: torch's global state is never shared by two trainings at once, and
every training allocates from one thread's malloc arena (glibc gives threads arenas of their own, and memory
freed in one is not reused by another).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from flwr.app import Context, Message

from .worker import Worker


class _ThreadWorker(Worker):
    """A `Worker` whose ClientApp calls run on the training thread shared with the other workers."""

    def __init__(self, runtime_api_address: str, trainer: ThreadPoolExecutor) -> None:
        super().__init__(runtime_api_address, insecure=True)
        self._trainer = trainer
        self.claim_identity = False       # the process's TaskIdentity belongs to an in-process ServerApp, if any

    def _app(self, run: Any, fab: Any) -> Callable[..., Message]:
        app = super()._app(run, fab)

        def call(message: Message, context: Context) -> Message:
            # The task's heartbeat keeps it alive while it waits its turn.
            return self._trainer.submit(app, message=message, context=context).result()

        return call


class ThreadClients:
    """One worker thread per SuperNode in this process; `stop()` ends them all."""

    def __init__(self, flwr_home: Path) -> None:
        # The worker installs the run's FAB under $FLWR_HOME as flwr-clientapp would, so this process needs
        # the deployment's FLWR_HOME while it runs; the caller's value comes back on stop().
        self._saved_home = os.environ.get("FLWR_HOME")
        os.environ["FLWR_HOME"] = str(flwr_home)
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedaid-clientapp-train")
        self.workers: dict[int, _ThreadWorker] = {}
        self._threads: dict[int, threading.Thread] = {}

    def add(self, index: int, runtime_api_address: str) -> None:
        """Serve SuperNode `index`'s tasks from a new thread."""
        worker = _ThreadWorker(runtime_api_address, self._trainer)
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
        self._trainer.shutdown(wait=False, cancel_futures=True)
        if self._saved_home is None:
            os.environ.pop("FLWR_HOME", None)
        else:
            os.environ["FLWR_HOME"] = self._saved_home

    def tasks(self, index: int) -> int:
        """How many tasks SuperNode `index`'s worker has run."""
        return self.workers[index].tasks if index in self.workers else 0
