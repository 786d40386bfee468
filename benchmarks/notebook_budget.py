"""Wall time and peak memory of each course notebook, each run by papermill in a fresh process.

    python benchmarks/notebook_budget.py                 # class defaults (SMOKE=False), every notebook
    python benchmarks/notebook_budget.py --smoke 02 04   # SMOKE=True, notebooks whose name starts 02/04

Budgets (docs/budgets.md): class defaults ≤ 5 min and ≤ 1.5 GB of memory held each; SMOKE ≤ 60 s on 2 cores.
Memory is summed over the kernel's process tree (the kernel and anything it starts, e.g. the kernels of 07's
sweep, the dashboard's forked hospital generator in 05, or 08's SuperLink), sampled every 0.1 s; the papermill
driver itself is not counted, because on Binder the Jupyter server plays that part. Each notebook starts
with an empty fedaid-lite cache (a first visit; `--keep-cache` uses yours). Two sums are kept:
- peak summed PSS (proportional set size, from /proc/PID/smaps_rollup: each shared page split between the
  processes that map it): the memory the tree really holds, what a container's limit counts. The budget
  is judged on it where the kernel offers it (Linux), on summed RSS elsewhere.
- peak summed RSS: counts a page shared by N processes N times (a forked child shares every page of its
  parent), so it overstates a tree with forked children; reported beside PSS.
Kernel CPU seconds
(user + system, same tree) are reported too: on a busy shared machine they are a steadier estimate of
what the wall time would be on an idle one (runs use one torch thread). Writes
`OUT/budget.json` and prints a markdown table. Exit status 1 if any notebook failed or broke a budget.

`--by-process` also records, at the peak, each process of the tree: its role (kernel, flower-superlink,
flower-supernode, flwr-serverapp, ...), its RSS, and whether it has torch loaded (libtorch mapped), so a
notebook over budget shows where its memory goes (`peak_by_process` in budget.json, printed below the row;
taken at the peak of summed PSS, or of summed RSS where PSS is unavailable).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
BUDGET = {False: (300.0, 1.5 * 2**30), True: (60.0, 1.5 * 2**30)}   # smoke -> (seconds, bytes)


PSS_AVAILABLE = Path("/proc/self/smaps_rollup").is_file()   # Linux >= 4.14


def _pss(pid: int) -> int | None:
    """Proportional set size of `pid` in bytes (Linux /proc/PID/smaps_rollup), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sample(driver: psutil.Process, cpu: dict[int, float], parts: list[dict] | None = None) -> tuple[int, int | None]:
    """(summed RSS, summed PSS or None) over every descendant of the papermill driver; CPU seconds into `cpu`.

    PSS is None where the system has no smaps_rollup (not Linux). A process that ends between the two reads
    (a forked worker finishing) is left out of both sums. With `parts` (a list, filled here), one entry per
    process: role, pid, RSS and PSS in MB, torch loaded or not.
    """
    rss_total, pss_total = 0, (0 if PSS_AVAILABLE else None)
    try:
        children = driver.children(recursive=True)
    except psutil.Error:
        return 0, None
    for proc in children:
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss
                times = proc.cpu_times()
        except psutil.Error:
            continue
        cpu[proc.pid] = times.user + times.system
        pss = _pss(proc.pid) if PSS_AVAILABLE else None
        if PSS_AVAILABLE and pss is None:
            continue   # gone (or unreadable) since its RSS was read: counted in neither sum
        if parts is not None:
            try:
                role = _role(proc.cmdline())
            except psutil.Error:
                role = "?"
            parts.append({"role": role, "pid": proc.pid, "rss_mb": round(rss / 2**20),
                          "pss_mb": None if pss is None else round(pss / 2**20), "torch": _has_torch(proc.pid)})
        rss_total += rss
        if pss_total is not None and pss is not None:
            pss_total += pss
    return rss_total, pss_total


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


def measure(path: Path, smoke: bool, out: Path, by_process: bool = False, keep_cache: bool = False) -> dict:
    """Run one notebook with papermill in a subprocess; wall time, peak kernel-tree memory, status.

    Unless `keep_cache`, the notebook gets an empty fedaid-lite cache (`FEDAID_LITE_CACHE`): no hospitals or
    ideal kept from an earlier run, as on a student's first visit.
    """
    run_dir = (out / path.stem).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "papermill", str(path), str(run_dir / path.name), "-k", "python3",
           "--cwd", str(NB_DIR), "-p", "SMOKE", str(smoke), "--no-progress-bar"]
    import papermill as pm
    params = pm.inspect_notebook(str(path))
    if "OUT_DIR" in params:
        cmd += ["-p", "OUT_DIR", str(run_dir)]
    env = dict(os.environ)
    if not keep_cache:   # an empty fedaid-lite cache: a student's first visit, the worst case (05 forks then)
        cache = run_dir / "fedaid-lite-cache"
        shutil.rmtree(cache, ignore_errors=True)
        env["FEDAID_LITE_CACHE"] = str(cache)
    start = time.perf_counter()
    driver = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    peak_rss, peak_held, cpu, at_peak = 0, 0, {}, []
    while driver.poll() is None:
        parts: list[dict] | None = [] if by_process else None
        rss, pss = _sample(driver, cpu, parts)
        held = rss if pss is None else pss   # what the budget is judged on
        if held > peak_held:
            peak_held, at_peak = held, parts or []
        peak_rss = max(peak_rss, rss)
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    err = driver.stderr.read() if driver.stderr else ""
    status = "ok" if driver.returncode == 0 else "failed: " + (err.strip().splitlines() or ["?"])[-1][:200]
    row = {"notebook": path.stem, "smoke": smoke, "seconds": round(seconds, 1),
           "cpu_s": round(sum(cpu.values()), 1),
           "peak_rss_mb": round(peak_rss / 2**20), "peak_pss_mb": round(peak_held / 2**20) if PSS_AVAILABLE else None,
           "status": status}
    if by_process:
        row["peak_by_process"] = sorted(at_peak, key=lambda p: -p["rss_mb"])
    return row


def held_mb(row: dict) -> int:
    """The memory a budget is judged on: peak summed PSS, or summed RSS where PSS was unavailable (or old rows)."""
    pss = row.get("peak_pss_mb")
    return row["peak_rss_mb"] if pss is None else pss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose name starts with one of these")
    parser.add_argument("--smoke", action="store_true", help="run with SMOKE=True (CI preset)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "notebook_budget"))
    parser.add_argument("--by-process", action="store_true",
                        help="also record each process's PSS and RSS (and whether it loaded torch) at the peak")
    parser.add_argument("--keep-cache", action="store_true",
                        help="use your fedaid-lite cache (hospitals, ideal) instead of an empty one per notebook")
    args = parser.parse_args(argv)
    out = Path(args.out)
    notebooks = [p for p in sorted(NB_DIR.glob("*.ipynb"))
                 if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    limit_s, limit_b = BUDGET[args.smoke]
    rows, ok = [], True
    print("| notebook | SMOKE | wall (s) | kernel CPU (s) | peak summed PSS (MB) | peak summed RSS (MB) | status |\n"
          "|---|---|---|---|---|---|---|", flush=True)
    for path in notebooks:
        row = measure(path, args.smoke, out, args.by_process, args.keep_cache)
        within = row["status"] == "ok" and row["seconds"] <= limit_s and held_mb(row) * 2**20 <= limit_b
        ok &= within
        rows.append(row)
        flag = "" if within else "  **over budget or failed**"
        pss = "n/a" if row["peak_pss_mb"] is None else row["peak_pss_mb"]
        print(f"| {row['notebook']} | {row['smoke']} | {row['seconds']} | {row['cpu_s']} | {pss} | "
              f"{row['peak_rss_mb']} | {row['status']}{flag} |", flush=True)
        for part in row.get("peak_by_process", []):
            print(f"|   {part['role']} (pid {part['pid']}{', torch' if part['torch'] else ''}) | | | | "
                  f"{part['pss_mb']} | {part['rss_mb']} | |", flush=True)
        (out / "budget.json").write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
