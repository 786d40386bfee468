"""Run every benchmark, each in a fresh process, then print one table and write benchmarks/results.json.

    make bench                                 # = python benchmarks/run_all.py (≤ 20 min on 2 cores)
    python benchmarks/run_all.py --quick       # notebooks with SMOKE only, no learnability run
    python benchmarks/run_all.py --only engine algorithms   # updates those figures in results.json, keeps the rest
    python benchmarks/run_all.py --smoke       # every script in --smoke mode: checks they run (no file written)
    python benchmarks/run_all.py --no-budget   # also everything the 20-minute budget would skip

A benchmark prints `RESULT {json}` lines (see _common.py); scripts that predate that protocol are
adapted here (notebook_budget.py's budget.json, learnability.py's table). Class-default notebook
runs and the learnability check come last and are skipped, with the reason in the table, when the
time left in the budget (`--budget-min`) cannot hold them. Exit status 1 if a benchmark crashed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, PeakRSS, fmt, parse_results  # noqa: E402

BENCH = ROOT / "benchmarks"
NOTEBOOK_LIMIT_S = {True: 60.0, False: 300.0}          # SMOKE -> budget (docs/budgets.md)
RSS_LIMIT_MB = 1.5 * 1024


@dataclass
class Bench:
    """One script run: its key (for --only), arguments per mode, the time it may take, and an adapter."""

    key: str
    script: str
    args: list[str] = field(default_factory=list)
    smoke_args: list[str] | None = field(default_factory=lambda: ["--smoke"])   # None: not run with --smoke
    timeout_s: float = 600.0
    estimate_s: float = 0.0            # > 0: skipped when less than this is left of the budget
    adapt: Callable[[str, Path], list[dict]] | None = None   # (stdout, scratch dir) -> rows, for old scripts


def notebooks() -> list[str]:
    return [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]


def adapt_notebook_budget(smoke: bool) -> Callable[[str, Path], list[dict]]:
    """Rows from notebook_budget.py's budget.json: wall time and peak memory of each notebook.

    Memory is judged on the peak summed PSS (what the kernel's process tree really holds); the peak summed
    RSS is reported beside it (it counts pages shared with forked children again). Rows without PSS (not
    Linux, or written before it was measured) are judged on summed RSS, as before.
    """
    limit = NOTEBOOK_LIMIT_S[smoke]

    def adapt(stdout: str, scratch: Path) -> list[dict]:
        path = scratch / "budget.json"
        rows = []
        for nb in json.loads(path.read_text()) if path.is_file() else []:
            tag = f"notebook {nb['notebook']} ({'SMOKE' if smoke else 'class defaults'})"
            good = nb["status"] == "ok"
            extra = {} if good else {"status": nb["status"]}
            if "cpu_s" in nb:          # kernel-tree CPU seconds: the wall time an idle machine would show
                extra["cpu_s"] = nb["cpu_s"]
            rows.append({"name": f"{tag} wall", "value": nb["seconds"], "unit": "s", "target": f"<= {limit:.0f}",
                         "ok": good and nb["seconds"] <= limit, **extra})
            extra.pop("cpu_s", None)
            if nb.get("peak_pss_mb") is None:
                rows.append({"name": f"{tag} peak RSS", "value": nb["peak_rss_mb"], "unit": "MB",
                             "target": f"<= {RSS_LIMIT_MB:.0f}", "ok": good and nb["peak_rss_mb"] <= RSS_LIMIT_MB,
                             **extra})
                continue
            rows.append({"name": f"{tag} peak memory held (summed PSS)", "value": nb["peak_pss_mb"], "unit": "MB",
                         "target": f"<= {RSS_LIMIT_MB:.0f}", "ok": good and nb["peak_pss_mb"] <= RSS_LIMIT_MB, **extra})
            rows.append({"name": f"{tag} peak summed RSS", "value": nb["peak_rss_mb"], "unit": "MB",
                         "target": "-", "ok": None, **extra})
        return rows
    return adapt


def adapt_learnability(stdout: str, scratch: Path) -> list[dict]:
    """Rows from learnability.py's markdown table: AUROC per finding, target 0.80-0.95."""
    rows = []
    for m in re.finditer(r"^\| (\w+) \| (\d+) \| ([0-9.na]+)", stdout, re.M):
        auc = float(m.group(3)) if m.group(3) != "nan" else None
        rows.append({"name": f"learnability AUROC {m.group(1)}", "value": auc, "unit": "",
                     "target": "0.80-0.95", "ok": auc is not None and 0.80 <= auc <= 0.95})
    return rows


def adapt_data_speed(stdout: str, scratch: Path) -> list[dict]:
    """Rows from data_speed.py's markdown table: wall seconds per data step, with its target if any."""
    rows = []
    for m in re.finditer(r"^\| (\S+\(\w+\)) \| \d+ \| ([0-9.]+) \| ([0-9.]+) \| (?:<= ([0-9.]+) s)?", stdout, re.M):
        wall, cpu, target = float(m.group(2)), float(m.group(3)), m.group(4)
        rows.append({"name": f"data: {m.group(1)}", "value": wall, "unit": "s",
                     "target": f"<= {target} s" if target else "(reported)",
                     "ok": wall <= float(target) if target else None, "cpu_s": cpu})
    return rows


def plan(mode: str) -> list[Bench]:
    """Every benchmark, cheapest and most central first; budget-limited runs last."""
    smoke = mode == "smoke"
    benches = [
        Bench("data", "data_speed.py", smoke_args=None, timeout_s=300, adapt=adapt_data_speed),
        Bench("engine", "engine_overhead.py", timeout_s=400),
        Bench("algorithms", "algorithm_cost.py", timeout_s=500),
        Bench("input", "input_pipeline.py", timeout_s=300),
        Bench("umap", "umap_maps.py", timeout_s=600),
        Bench("dashboard", "dashboard_latency.py", ["--config", "smoke"], timeout_s=300),
        Bench("dashboard", "dashboard_latency.py", ["--config", "class"], None, timeout_s=700),
        Bench("dashboard", "dashboard_latency.py", ["--config", "class", "--press", "at-once", "--hospitals", "binder"],
              None, timeout_s=400),
        Bench("flower", "flower_overhead.py", timeout_s=600),
        Bench("memory", "fork_memory.py", timeout_s=300),
    ]
    if smoke:
        return [b for b in benches if b.smoke_args is not None]
    for nb in notebooks():
        benches.append(Bench("notebooks", "notebook_budget.py", ["--smoke", nb], [], 180, 0,
                             adapt_notebook_budget(True)))
    if mode == "full":
        # The deployment's <= 2x target is about the class preset (the tiny run above measures Flower's polling
        # floor): as real sites run it (every part a process) and as notebook 08 runs it (one process but the
        # SuperLink). Minutes each, so budget-limited.
        for extra in ([], ["--in-process"]):
            benches.append(Bench("flower", "flower_overhead.py", ["--preset", "default", "--only", "deployment",
                                                                  "--algorithm", "fedaid", *extra], None, 900, 420))
        for nb in notebooks():
            benches.append(Bench("notebooks-class", "notebook_budget.py", [nb], [], 330, 330,
                                 adapt_notebook_budget(False)))
        benches.append(Bench("learnability", "learnability.py", [], [], 900, 300, adapt_learnability))
    return benches


def child_env() -> dict[str, str]:
    """The Makefile's cache and privacy settings, for runs started without make; PYTHONPATH finds the package."""
    env = dict(os.environ)
    cache = ROOT / ".cache"
    for key, value in {"NUMBA_CACHE_DIR": cache / "numba", "HF_HOME": cache / "huggingface", "HF_HUB_OFFLINE": "1",
                       "MPLCONFIGDIR": cache / "matplotlib", "FLWR_HOME": cache / "flwr",
                       "FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0",
                       "JUPYTER_CONFIG_DIR": cache / "jupyter/config", "JUPYTER_DATA_DIR": cache / "jupyter/data",
                       "JUPYTER_RUNTIME_DIR": cache / "jupyter/runtime", "IPYTHONDIR": cache / "ipython",
                       "PYTHONUNBUFFERED": "1"}.items():
        env.setdefault(key, str(value))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_one(b: Bench, mode: str, env: dict[str, str], timeout_s: float) -> tuple[list[dict], dict]:
    """Run one script in a fresh process, echoing its output; (result rows, run record)."""
    script = BENCH / b.script
    label = f"{b.script} {' '.join((b.smoke_args or []) if mode == 'smoke' else b.args)}".strip()
    if not script.is_file():
        reason = f"skipped: benchmarks/{b.script} is not in this checkout"
        return [{"name": label, "value": None, "unit": "", "target": "", "ok": None, "status": reason}], \
            {"script": label, "status": reason}
    with tempfile.TemporaryDirectory(prefix="fedaid-bench-") as scratch:
        args = list(b.smoke_args or []) if mode == "smoke" else list(b.args)
        if b.script == "notebook_budget.py":
            args += ["--out", scratch]
        print(f"\n== {label}", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(script), *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        killed = threading.Event()
        timer = threading.Timer(timeout_s, lambda: (killed.set(), _kill_tree(proc.pid)))
        lines: list[str] = []
        with PeakRSS(proc.pid) as rss:
            timer.start()
            for line in proc.stdout:                  # type: ignore[union-attr]
                lines.append(line)
                if line.strip():
                    print("   " + line.rstrip()[:300], flush=True)
            proc.wait()
            timer.cancel()
        seconds = time.perf_counter() - start
        out = "".join(lines)
        rows = parse_results(out) or (b.adapt(out, Path(scratch)) if b.adapt else [])
    timed_out = killed.is_set()
    record = {"script": label, "seconds": round(seconds, 1), "peak_rss_mb": round(rss.peak / 2**20),
              "exit": proc.returncode, "timed_out": timed_out,
              "crashed": proc.returncode != 0 and not rows and not timed_out}
    if timed_out:
        rows.append({"name": label, "value": round(seconds), "unit": "s", "target": f"<= {timeout_s:.0f}",
                     "ok": False, "status": f"stopped after {timeout_s:.0f} s"})
    elif proc.returncode != 0 and not rows:
        last = next((x for x in reversed(out.strip().splitlines()) if x.strip()), "?")
        rows.append({"name": label, "value": None, "unit": "", "target": "", "ok": False,
                     "status": f"failed (exit {proc.returncode}): {last[:200]}"})
    elif not rows:
        rows.append({"name": label, "value": round(seconds, 1), "unit": "s", "target": "", "ok": None,
                     "status": "ran, but printed no RESULT lines (see benchmarks/_common.py for the protocol)"})
    for row in rows:
        row.setdefault("script", label)
    return rows, record


def _kill_tree(pid: int) -> None:
    """Stop a timed-out benchmark and everything it started (it runs in its own session)."""
    import psutil

    try:
        procs = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


def verdict(row: dict) -> str:
    status = row.get("status", "")
    if status.startswith("skipped") or (row["ok"] is None and status):
        return status
    if row["ok"] is True:
        return "ok"
    if row["ok"] is False:
        return "SHORT" + (f" ({status})" if status else "")
    return "—"


def table(rows: list[dict]) -> str:
    lines = ["| figure | value | target | ok/short |", "|---|---|---|---|"]
    for r in rows:
        value = f"{fmt(r['value'])} {r['unit']}".strip() if r["value"] is not None else "—"
        lines.append(f"| {r['name']} | {value} | {r['target'] or '—'} | {verdict(r)} |")
    return "\n".join(lines)


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        info["load_avg_1m_at_start"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def save(out: Path, mode: str, command: str, seconds: float, info: dict, runs: list[dict], rows: list[dict],
         partial: bool, keep: dict | None = None) -> None:
    """Write results.json atomically (via results.json.tmp); `partial` while scripts are still to run.

    `keep` (an earlier results.json): for --only runs, its runs and figures from scripts not run now are
    kept, after this run's, so re-measuring one benchmark does not wipe the others; for a full run, its
    figures from the scripts this run skipped for the time budget replace the "skipped" lines (each kept
    figure says when it was measured: `kept_from_run`), so a budgeted run loses nothing measured before.
    """
    doc = {"generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "mode": mode,
           "command": command, "partial": partial, "total_seconds": round(seconds, 1), "machine": info,
           "runs": runs, "results": rows}
    if keep:
        skipped = {r.get("script") for r in rows if _budget_skipped(r)}
        done = {r["script"] for r in runs} | {r.get("script") for r in rows if not _budget_skipped(r)}
        wanted = (lambda script: script not in done) if mode != "full" or "--only" in command else skipped.__contains__
        started = {r.get("script"): r.get("started") for r in keep.get("runs", [])}
        since = (keep.get("kept_from") or {}).get("generated") or keep.get("generated")
        old = [{**r, "kept_from_run": r.get("kept_from_run") or started.get(r.get("script")) or since}
               for r in keep.get("results", []) if wanted(r.get("script")) and not _budget_skipped(r)]
        have = {r.get("script") for r in old}
        doc["runs"] = runs + [r for r in keep.get("runs", []) if r.get("script") in have]
        doc["results"] = [r for r in rows if r.get("script") not in have] + old
        if old:
            doc["kept_from"] = keep.get("kept_from") or {"generated": keep.get("generated"),
                                                         "command": keep.get("command")}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    tmp.replace(out)


def _budget_skipped(row: dict) -> bool:
    return str(row.get("status", "")).startswith("skipped") and "budget" in str(row.get("status", ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode_group = p.add_mutually_exclusive_group()
    mode_group.add_argument("--quick", action="store_true", help="notebooks with SMOKE only; no learnability")
    mode_group.add_argument("--smoke", action="store_true", help="each script's --smoke (seconds; writes no file "
                                                                 "unless --out)")
    p.add_argument("--only", nargs="+", metavar="KEY", help="data engine algorithms input umap dashboard flower memory "
                                                            "notebooks notebooks-class learnability")
    p.add_argument("--budget-min", type=float, default=20.0, help="skip budget-limited runs past this (default 20)")
    p.add_argument("--no-budget", action="store_true", help="run everything, however long it takes")
    p.add_argument("--out", help="results file (default benchmarks/results.json; none with --smoke)")
    args = p.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    benches = [b for b in plan(mode) if not args.only or b.key in args.only]
    env = child_env()
    started, rows, runs = time.perf_counter(), [], []
    out = Path(args.out) if args.out else (None if mode == "smoke" else BENCH / "results.json")
    command = "python benchmarks/run_all.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine()
    keep = None
    if mode != "smoke" and out is not None and out.is_file():
        try:
            keep = json.loads(out.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"note: {out} unreadable ({e}); writing only this run's figures", file=sys.stderr)
    for b in benches:
        left = args.budget_min * 60 - (time.perf_counter() - started)
        if b.estimate_s and not args.no_budget and left < b.estimate_s:
            label = f"{b.script} {' '.join(b.args)}".strip()
            reason = (f"skipped: needs up to {b.estimate_s / 60:.1f} min, {max(left, 0) / 60:.1f} min left of "
                      f"the {args.budget_min:.0f}-min budget (run_all.py --only {b.key} --no-budget)")
            rows.append({"name": label, "value": None, "unit": "", "target": "", "ok": None, "status": reason,
                         "script": label})
            continue
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        got, record = run_one(b, mode, env, b.timeout_s)
        record["started"] = stamp
        rows += got
        runs.append(record)
        if out is not None:   # after every script, so an interrupted run keeps what it measured
            save(out, mode, command, time.perf_counter() - started, info, runs, rows, partial=True, keep=keep)
    total = time.perf_counter() - started
    print("\n" + table(rows))
    short = [r["name"] for r in rows if r["ok"] is False]
    print(f"\n{len(rows)} figures: {sum(r['ok'] is True for r in rows)} ok, {len(short)} short, "
          f"{sum(str(r.get('status', '')).startswith('skipped') for r in rows)} skipped. "
          f"Total time {total / 60:.1f} min ({mode}).")
    if out is not None:
        save(out, mode, command, total, info, runs, rows, partial=False, keep=keep)
        print(f"wrote {out}")
    return 1 if any(r.get("crashed") for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
