"""How long the data layer takes: make_hospitals (default and tiny presets) and write_dataset.

    python benchmarks/data_speed.py      # targets: default <= 10 s, tiny <= 1 s on 2 cores

Wall time depends on what else runs on the machine; CPU time is printed too.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from fedaid_lite.config import Experiment
from fedaid_lite.data import make_hospitals, write_dataset


def timed(fn, *args) -> tuple[float, float, object]:
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - w, time.process_time() - c, out


def main() -> None:
    rows = []
    for name, cfg, target in (("tiny", Experiment.tiny().data, 1.0), ("default", Experiment.default().data, 10.0)):
        wall, cpu, h = timed(make_hospitals, cfg)
        n = sum(len(d) for d in (*h.train, *h.val, *h.test)) + len(h.global_test)
        rows.append((f"make_hospitals({name})", n, wall, cpu, target))
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu, _ = timed(write_dataset, Experiment.default().data, Path(tmp) / "ds")
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*") if p.is_file())
    rows.append(("write_dataset(default)", n, wall, cpu, None))
    print("| step | cases | wall s | CPU s | target |\n|---|---|---|---|---|")
    for step, n, wall, cpu, target in rows:
        verdict = "-" if target is None else f"<= {target:g} s ({'ok' if wall <= target else 'OVER'})"
        print(f"| {step} | {n} | {wall:.2f} | {cpu:.2f} | {verdict} |")
    print(f"\nwritten dataset: {size / 1e6:.1f} MB (cap 20 MB)")


if __name__ == "__main__":
    main()
