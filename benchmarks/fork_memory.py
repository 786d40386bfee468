"""Memory of the dashboard's hospital generator on a first visit: summed RSS against summed PSS.

    python benchmarks/fork_memory.py            # the class preset (notebook 05's data)
    python benchmarks/fork_memory.py --smoke    # the tiny preset (one process: below the parallel threshold)

A dashboard whose hospitals are not cached generates them in a forked process, which forks two workers
(`dashboard.preparation.generate_apart`). A forked process starts out sharing every page with its parent, so
each one's resident set size (RSS) counts the kernel's memory again: `notebook_budget.py`, which sums RSS over
the kernel's process tree, reports notebook 05 at class size far above what it really uses while the hospitals
are generated. The proportional set size (PSS) splits each shared page between the processes that map it, so
the summed PSS is the memory the tree really holds (what a container's limit counts). This script imports
what a notebook 05 kernel imports, runs the generator into an empty cache, samples both sums every 50 ms and
prints them at the peak of summed RSS (Linux only: PSS comes from /proc/PID/smaps_rollup).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import parser, result, skipped

NAME = "dashboard hospital generator (first visit), peak"


def main() -> None:
    args = parser(__doc__).parse_args()
    if not sys.platform.startswith("linux"):
        skipped(NAME, "(reported)", "PSS needs Linux")
        return
    import psutil
    import torch  # noqa: F401  - loaded in a notebook kernel before the dashboard is shown

    import fedaid_lite.dashboard  # noqa: F401  - plotly and ipywidgets, as notebook 05 imports them
    from fedaid_lite.config import Experiment
    from fedaid_lite.dashboard.preparation import generate_apart

    cfg = Experiment.tiny() if args.smoke else Experiment.default()
    me = psutil.Process()
    peak = {"rss": 0, "pss": 0, "processes": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = pss = 0
            procs = [me, *me.children(recursive=True)]
            for proc in procs:
                try:
                    mem = proc.memory_full_info()
                    rss, pss = rss + mem.rss, pss + mem.pss
                except psutil.Error:
                    pass
            if rss > peak["rss"]:
                peak.update(rss=rss, pss=pss, processes=len(procs))
            time.sleep(0.05)

    before = me.memory_full_info()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedaid-bench-hospitals-") as cache:
        generate_apart(cfg, Path(cache))
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    common = {"config": "tiny" if args.smoke else "default", "processes_at_peak": peak["processes"],
              "kernel_rss_mb": round(before.rss / 2**20), "kernel_pss_mb": round(before.pss / 2**20),
              "seconds": round(seconds, 2)}
    result(f"{NAME} summed RSS (counts each shared page in every process)", round(peak["rss"] / 2**20), "MB",
           "(reported)", None, **common)
    result(f"{NAME} summed PSS (the memory really held)", round(peak["pss"] / 2**20), "MB", "(reported)", None,
           **common)


if __name__ == "__main__":
    main()
