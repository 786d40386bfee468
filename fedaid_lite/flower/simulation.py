"""`run_flower_simulation`: the Experiment on Flower's simulation engine (Ray), returning a History.

    history = run_flower_simulation(Experiment.tiny().override({"fed.algorithm": "fedaid"}), "runs/fl")

One virtual SuperNode per site (partition-id = site index). Ray is started small: one worker process
(Ray actor) by default, which serves every virtual node in turn and keeps each node's data cached
(`workers=` up to the number of cores runs clients in parallel, at about 0.4 GB per extra worker), the
smallest object store Ray accepts, no dashboard, no worker logs sent to the driver, its temp folder in a
fresh temp dir; it is shut down at the end. Flower's telemetry and Ray's usage stats are off. Ray costs
about 20 s to start and, with one worker, about 1.2 GB (summed RSS) next to the notebook's kernel: about
0.6 GB of Ray's own processes that `ray.init` cannot switch off (GCS, raylet, API server, dashboard and
runtime-env agents, autoscaler and log monitors) plus the worker (torch and the model, ~0.6 GB).
Notebooks default to the in-process engine for that reason.
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

OBJECT_STORE_BYTES = 80 * 1024**2      # Ray refuses less than 75 MiB; the model travels in messages, not here


def backend_config(num_clients: int, temp_dir: str, workers: int = 1) -> dict[str, Any]:
    """Flower's Ray backend settings: `workers` actors (≤ clients, ≤ cores), small object store, no dashboard."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1 (Ray worker processes), got {workers!r}")
    workers = max(1, min(workers, num_clients, os.cpu_count() or 1))
    return {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": workers, "num_gpus": 0, "object_store_memory": OBJECT_STORE_BYTES,
                          "include_dashboard": False, "_temp_dir": temp_dir, "logging_level": logging.ERROR,
                          "log_to_driver": False}}


def run_flower_simulation(cfg: Experiment, out_dir: str | os.PathLike, progress: bool = True, *,
                          hospitals: Hospitals | None = None,
                          on_round: Callable[[dict[str, Any]], None] | None = None,
                          verbose: bool = False, workers: int = 1) -> History:
    """Train `cfg` on Flower's simulation engine; writes history.json, config.json and model/ to `out_dir`.

    `workers`: Ray worker processes running the clients (default 1: least memory; more run clients in
    parallel, capped at the number of sites and cores).
    """
    from flwr.simulation import run_simulation

    if cfg.fed.algorithm == "centralized":
        raise ValueError("centralized pools all data in one place; run it with the in-process engine")
    backend_config(1, "", workers)                     # checks `workers` before Ray or the data start
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
                       backend_config=backend_config(hospitals.num_sites, temp_dir, workers),
                       verbose_logging=verbose)
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
