"""What a `LocalDeployment` watches from outside: the processes it started (to stop exactly those, their children
included, and nothing else) and the history.json its ServerApp rewrites after every round (to report rounds)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable


def descendants(pid: int) -> list[Any]:
    """psutil handles of every descendant of `pid` (empty without psutil or once `pid` is gone)."""
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing (core install) or the process already exited
        return []


def signal_process(process: Any, sig: int) -> None:
    """Signal a psutil handle unless its pid now belongs to another process (psutil checks create time)."""
    try:
        if process.is_running():
            process.send_signal(sig)
    except Exception:  # already gone
        pass


def wait_gone(process: Any, deadline: float) -> None:
    """Wait for a psutil handle's process to exit, at most until `deadline` (time.monotonic)."""
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except Exception:
        pass


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group `proc` leads (started with start_new_session=True), unless it was reaped."""
    if proc.returncode is not None:
        return                       # reaped: its pid may belong to someone else now
    try:
        os.killpg(proc.pid, sig)     # pgid == pid
    except (ProcessLookupError, PermissionError):
        pass


def _records(history: Path) -> list[dict[str, Any]]:
    """history.json's records, or [] while it is missing or half-written by another process."""
    try:
        return list(json.loads(history.read_text()).get("records", []))
    except (OSError, ValueError, AttributeError):
        return []


def _report_rounds(history: Path, seen: int, on_round: Callable[[dict[str, Any]], None] | None,
                   stale: int | None = None) -> int:
    """Call `on_round` for records past the first `seen` (none while the file's mtime is still `stale`)."""
    try:
        if stale is not None and history.stat().st_mtime_ns == stale:
            return seen
    except OSError:
        return seen
    records = _records(history)
    if on_round is not None:
        for record in records[seen:]:
            on_round(record)
    return max(seen, len(records))
