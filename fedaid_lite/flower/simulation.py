"""`run_flower_simulation`: the Experiment on Flower's simulation engine (Ray), returning a History.

    history = run_flower_simulation(Experiment.tiny().override({"fed.algorithm": "fedaid"}), "runs/fl")

One virtual SuperNode per site (partition-id = site index). Ray is started small (one CPU per client,
at most as many workers as cores, a 100 MB object store, no dashboard, its temp folder in a fresh
temp dir) and shut down at the end; Flower's telemetry and Ray's usage stats are off. Ray costs about
20 s to start and 1.1-1.4 GB of memory: notebooks default to the in-process engine for that reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import Experiment
from ..data.types import Hospitals
from ..history import History
from .client_app import build_client_app
from .server_app import build_server_app
from .settings import to_run_config

OBJECT_STORE_BYTES = 100 * 1024**2


def backend_config(num_clients: int, temp_dir: str) -> dict[str, Any]:
    """Flower's Ray backend settings: 1 CPU per client, ≤ cores workers, small object store, no dashboard."""
    workers = max(1, min(num_clients, os.cpu_count() or 1))
    return {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": workers, "num_gpus": 0, "object_store_memory": OBJECT_STORE_BYTES,
                          "include_dashboard": False, "_temp_dir": temp_dir, "logging_level": logging.ERROR,
                          "log_to_driver": False}}


def run_flower_simulation(cfg: Experiment, out_dir: str | os.PathLike, progress: bool = True, *,
                          hospitals: Hospitals | None = None,
                          on_round: Callable[[dict[str, Any]], None] | None = None,
                          verbose: bool = False) -> History:
    """Train `cfg` on Flower's simulation engine; writes history.json, config.json and model/ to `out_dir`."""
    from flwr.simulation import run_simulation

    if cfg.fed.algorithm == "centralized":
        raise ValueError("centralized pools all data in one place; run it with the in-process engine")
    if hospitals is None:
        from ..data import load_hospitals

        hospitals = load_hospitals(cfg.data)
    out = Path(out_dir)
    run_config = to_run_config(cfg, output_dir=str(out.resolve()), min_nodes=hospitals.num_sites)
    result: list[History] = []
    server_app = build_server_app(run_config, hospitals=hospitals, on_round=on_round, progress=progress,
                                  result=result)
    client_app = build_client_app(run_config)
    with _sandbox() as temp_dir, _flwr_log_level(logging.INFO if verbose else logging.WARNING):
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=hospitals.num_sites,
                       backend_config=backend_config(hospitals.num_sites, temp_dir), verbose_logging=verbose)
    if not result:
        raise RuntimeError("the Flower simulation ended without a result; rerun with verbose=True to see its log")
    return result[0]


@contextlib.contextmanager
def _sandbox() -> Iterator[str]:
    """A temp dir for Ray (short path: Ray's sockets live there) and FLWR_HOME if unset; env restored after."""
    temp_dir = tempfile.mkdtemp(prefix="fedaid-ray-")
    saved = {k: os.environ.get(k) for k in ("FLWR_HOME", "PYTHONPATH")}
    if not saved["FLWR_HOME"]:
        os.environ["FLWR_HOME"] = os.path.join(temp_dir, "flwr")
    try:
        yield temp_dir
    finally:
        for key, value in saved.items():         # Flower's Ray backend rewrites PYTHONPATH in this process
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextlib.contextmanager
def _flwr_log_level(level: int) -> Iterator[None]:
    logger = logging.getLogger("flwr")
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)
