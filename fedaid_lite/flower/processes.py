"""Stopping exactly the processes a `LocalDeployment` started, their children included, and nothing else."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any


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
