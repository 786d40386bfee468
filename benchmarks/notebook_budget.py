"""Wall time and peak memory of each course notebook, each run by papermill in a fresh process.

    python benchmarks/notebook_budget.py                 # class defaults (SMOKE=False), every notebook
    python benchmarks/notebook_budget.py --smoke 02 04   # SMOKE=True, notebooks whose name starts 02/04

Budgets (docs/budgets.md): class defaults ≤ 5 min and ≤ 1.5 GB peak RSS each; SMOKE ≤ 60 s on 2 cores.
Peak memory is the largest *sum* of resident set sizes over the kernel's process tree (the kernel and
anything it starts, e.g. the kernels of 07's sweep, or 08's SuperLink, SuperNodes, SuperExec and ServerApp
processes, which stay the kernel's descendants), sampled every 0.1 s with psutil; the papermill
driver itself is not counted, because on Binder the Jupyter server plays that part. Kernel CPU seconds
(user + system, same tree) are reported too: on a busy shared machine they are a steadier estimate of
what the wall time would be on an idle one (runs use one torch thread). Writes
`OUT/budget.json` and prints a markdown table. Exit status 1 if any notebook failed or broke a budget.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
BUDGET = {False: (300.0, 1.5 * 2**30), True: (60.0, 1.5 * 2**30)}   # smoke -> (seconds, bytes)


def _sample(driver: psutil.Process, cpu: dict[int, float]) -> int:
    """Summed RSS of every descendant of the papermill driver; records each one's CPU seconds in `cpu`."""
    total = 0
    try:
        children = driver.children(recursive=True)
    except psutil.Error:
        return 0
    for proc in children:
        try:
            with proc.oneshot():
                total += proc.memory_info().rss
                times = proc.cpu_times()
                cpu[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
    return total


def measure(path: Path, smoke: bool, out: Path) -> dict:
    """Run one notebook with papermill in a subprocess; wall time, peak kernel-tree RSS, status."""
    run_dir = (out / path.stem).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "papermill", str(path), str(run_dir / path.name), "-k", "python3",
           "--cwd", str(NB_DIR), "-p", "SMOKE", str(smoke), "--no-progress-bar"]
    import papermill as pm
    params = pm.inspect_notebook(str(path))
    if "OUT_DIR" in params:
        cmd += ["-p", "OUT_DIR", str(run_dir)]
    start = time.perf_counter()
    driver = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, cpu = 0, {}
    while driver.poll() is None:
        peak = max(peak, _sample(driver, cpu))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    err = driver.stderr.read() if driver.stderr else ""
    status = "ok" if driver.returncode == 0 else "failed: " + (err.strip().splitlines() or ["?"])[-1][:200]
    return {"notebook": path.stem, "smoke": smoke, "seconds": round(seconds, 1),
            "cpu_s": round(sum(cpu.values()), 1),
            "peak_rss_mb": round(peak / 2**20), "status": status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose name starts with one of these")
    parser.add_argument("--smoke", action="store_true", help="run with SMOKE=True (CI preset)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "notebook_budget"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    notebooks = [p for p in sorted(NB_DIR.glob("*.ipynb"))
                 if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    limit_s, limit_b = BUDGET[args.smoke]
    rows, ok = [], True
    print("| notebook | SMOKE | wall (s) | kernel CPU (s) | peak RSS (MB) | status |\n|---|---|---|---|---|---|",
          flush=True)
    for path in notebooks:
        row = measure(path, args.smoke, out)
        within = row["status"] == "ok" and row["seconds"] <= limit_s and row["peak_rss_mb"] * 2**20 <= limit_b
        ok &= within
        rows.append(row)
        flag = "" if within else "  **over budget or failed**"
        print(f"| {row['notebook']} | {row['smoke']} | {row['seconds']} | {row['cpu_s']} | {row['peak_rss_mb']} | "
              f"{row['status']}{flag} |", flush=True)
        (out / "budget.json").write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
