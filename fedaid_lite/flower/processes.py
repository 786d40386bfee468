"""The processes of a local deployment: start each in its own group, stop exactly those and their descendants.

Every SuperLink, SuperNode and ClientApp worker is started with `start_new_session=True`, so it leads a
process group of its own and a signal to that group reaches the `flwr-serverapp` / `flwr-clientapp`
children it spawns. Flower starts `flower-superexec` in a new session (outside those groups), so the
descendants are also collected by parent link (psutil) before anything is signalled, and signalled one
by one. Nothing that this deployment did not start is touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Sequence


def spawn(cmd: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `cmd` leading its own process group, its output (stdout and stderr) going to `log`."""
    log.parent.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        # start_new_session: the process leads its own group, so stopping it reaches its children too
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_listening(port: int, proc: subprocess.Popen, timeout: float, log: Callable[[], str]) -> None:
    """Block until something listens on 127.0.0.1:`port`; RuntimeError (with `log()`'s tail) if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flower-superlink exited with {proc.returncode}:\n{log()[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"flower-superlink did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def signal_tree(procs: Sequence[subprocess.Popen], sig: int) -> list[Any]:
    """Send `sig` to each process's group and to every descendant (a SuperNode going offline); -> the descendants."""
    # Collect the descendants first, while the parent links still exist.
    descendants = [d for proc in procs for d in _descendants(proc.pid)]
    for proc in procs:
        _kill_group(proc, sig)
    for child in descendants:
        _signal(child, sig)
    return descendants


def stop_all(started: Sequence[subprocess.Popen]) -> None:
    """SIGTERM `started` (in that order) and their descendants, wait, then SIGKILL whatever is left."""
    descendants = signal_tree(started, signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    for child in descendants:
        _wait_gone(child, deadline)
        _signal(child, signal.SIGKILL)


def _descendants(pid: int) -> list[Any]:
    """psutil handles of every descendant of `pid` (empty without psutil or once `pid` is gone)."""
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing (core install) or the process already exited
        return []


def _signal(process: Any, sig: int) -> None:
    """Signal a psutil handle unless its pid now belongs to another process (psutil checks create time)."""
    try:
        if process.is_running():
            process.send_signal(sig)
    except Exception:  # already gone
        pass


def _wait_gone(process: Any, deadline: float) -> None:
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except Exception:
        pass


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.returncode is not None:
        return                       # reaped: its pid may belong to someone else now
    try:
        os.killpg(proc.pid, sig)     # the group this Popen leads (start_new_session=True): pgid == pid
    except (ProcessLookupError, PermissionError):
        pass
