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

`--by-process` also records, at the peak, each process of the tree: its role (kernel, flower-superlink,
flower-supernode, flwr-serverapp, ...), its RSS, and whether it has torch loaded (libtorch mapped), so a
notebook over budget shows where its memory goes (`peak_by_process` in budget.json, printed below the row).
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


def _sample(driver: psutil.Process, cpu: dict[int, float], parts: list[dict] | None = None) -> int:
    """Summed RSS of every descendant of the papermill driver; records each one's CPU seconds in `cpu`.

    With `parts` (a list, filled here), one entry per process: role, pid, RSS in MB, torch loaded or not.
    """
    total = 0
    try:
        children = driver.children(recursive=True)
    except psutil.Error:
        return 0
    for proc in children:
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss
                times = proc.cpu_times()
                cpu[proc.pid] = times.user + times.system
                if parts is not None:
                    parts.append({"role": _role(proc.cmdline()), "pid": proc.pid, "rss_mb": round(rss / 2**20),
                                  "torch": _has_torch(proc.pid)})
                total += rss
        except psutil.Error:
            pass
    return total


def _role(cmdline: list[str]) -> str:
    """A short name for a process of the tree: the kernel, a Flower console script, or `python -m <module>`."""
    if any("ipykernel" in arg for arg in cmdline[:3]):
        return "kernel"
    for i, arg in enumerate(cmdline):
        name = Path(arg).name
        if name.startswith(("flower-", "flwr-", "flwr")) and not name.endswith(".py"):
            plugin = cmdline[cmdline.index("--plugin-type") + 1] if "--plugin-type" in cmdline else ""
            return f"{name} {plugin}".strip()
        if arg == "-m" and i + 1 < len(cmdline):
            return cmdline[i + 1]
    return Path(cmdline[0]).name if cmdline else "?"


def _has_torch(pid: int) -> bool:
    """Whether libtorch is mapped into `pid` (the process imported torch)."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("libtorch" in line for line in f)
    except OSError:
        return False


def measure(path: Path, smoke: bool, out: Path, by_process: bool = False) -> dict:
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
    peak, cpu, at_peak = 0, {}, []
    while driver.poll() is None:
        parts: list[dict] | None = [] if by_process else None
        total = _sample(driver, cpu, parts)
        if total > peak:
            peak, at_peak = total, parts or []
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    err = driver.stderr.read() if driver.stderr else ""
    status = "ok" if driver.returncode == 0 else "failed: " + (err.strip().splitlines() or ["?"])[-1][:200]
    row = {"notebook": path.stem, "smoke": smoke, "seconds": round(seconds, 1),
           "cpu_s": round(sum(cpu.values()), 1),
           "peak_rss_mb": round(peak / 2**20), "status": status}
    if by_process:
        row["peak_by_process"] = sorted(at_peak, key=lambda p: -p["rss_mb"])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose name starts with one of these")
    parser.add_argument("--smoke", action="store_true", help="run with SMOKE=True (CI preset)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "notebook_budget"))
    parser.add_argument("--by-process", action="store_true",
                        help="also record each process's RSS (and whether it loaded torch) at the peak")
    args = parser.parse_args(argv)
    out = Path(args.out)
    notebooks = [p for p in sorted(NB_DIR.glob("*.ipynb"))
                 if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    limit_s, limit_b = BUDGET[args.smoke]
    rows, ok = [], True
    print("| notebook | SMOKE | wall (s) | kernel CPU (s) | peak RSS (MB) | status |\n|---|---|---|---|---|---|",
          flush=True)
    for path in notebooks:
        row = measure(path, args.smoke, out, args.by_process)
        within = row["status"] == "ok" and row["seconds"] <= limit_s and row["peak_rss_mb"] * 2**20 <= limit_b
        ok &= within
        rows.append(row)
        flag = "" if within else "  **over budget or failed**"
        print(f"| {row['notebook']} | {row['smoke']} | {row['seconds']} | {row['cpu_s']} | {row['peak_rss_mb']} | "
              f"{row['status']}{flag} |", flush=True)
        for part in row.get("peak_by_process", []):
            print(f"|   {part['role']} (pid {part['pid']}{', torch' if part['torch'] else ''}) | | | | "
                  f"{part['rss_mb']} | |", flush=True)
        (out / "budget.json").write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
