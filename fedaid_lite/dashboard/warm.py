"""Prepare a dashboard's hospitals and ideal in the user cache before a class (Binder's postBuild runs this).

    python -m fedaid_lite.dashboard.warm            # notebook 05's starting config (the class preset)
    python -m fedaid_lite.dashboard.warm --smoke    # its SMOKE config (Experiment.tiny(), 2 rounds)

It does what a freshly shown dashboard starts in the background: build the hospitals and train the ideal
(centralized) reference, and keep both in the disk caches the dashboard reads (`~/.cache/fedaid-lite`, or
`$FEDAID_LITE_CACHE`). A dashboard shown later for the same settings, code, torch and towers then loads
them: Train's first point (round 0) does not wait for the hospitals to be generated, and the distance
panel has its ideal at once. Other settings (a data slider moved) are prepared as usual.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import Experiment
from .controller import DashboardController

# notebooks/05_playground.ipynb's config cell, SMOKE = False and SMOKE = True, and its MAP_POINTS
CLASS_OVERRIDES = {"train.local_steps": 20, "data.n_per_site": 400, "seed": 0, "fed.rounds": 5}
SMOKE_OVERRIDES = {"seed": 0, "fed.rounds": 2}
MAP_POINTS = 120


def notebook_config(smoke: bool = False) -> Experiment:
    """The config notebook 05 builds its dashboard with (SMOKE or not)."""
    return Experiment.tiny().override(SMOKE_OVERRIDES) if smoke else Experiment.default().override(CLASS_OVERRIDES)


def warm(cfg: Experiment, map_points: int = MAP_POINTS, timeout: float | None = None,
         reference_cache: bool | str | Path = True) -> str:
    """Build `cfg`'s hospitals and ideal into the disk caches; the preparation's final status line.

    `reference_cache` as in `dashboard(...)`: True is the user cache folder the dashboard reads by default.
    RuntimeError naming the cause if the preparation fails or does not end within `timeout` seconds.
    """
    controller = DashboardController(cfg, map_points=map_points, reference_cache=reference_cache)
    try:
        job = controller.prepare()
        if not controller.prepared(timeout):
            raise RuntimeError(f"the preparation did not end within {timeout} s (last step: {job and job.phase})")
        if job is not None and job.exception is not None:
            raise RuntimeError(f"the preparation failed: {job.phase}\n{job.traceback}") from job.exception
        return job.describe() if job is not None else "ideal reference: ready (already prepared)"
    finally:
        controller.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fedaid_lite.dashboard.warm", description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="notebook 05's SMOKE config instead of the class preset")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    print(f"{warm(notebook_config(args.smoke))} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
