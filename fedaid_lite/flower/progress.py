"""A `flwr run` followed round by round: the ServerApp rewrites history.json after every round; we read it.

`run_and_follow` runs the command to its end (or a timeout) and, every `poll_s` seconds meanwhile, hands
each new round's History record to `on_round` in this process, so a notebook shows progress while
`flwr run` works. A history.json left by an earlier run in the same folder is not news: it is read only
once the server has rewritten it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

OnRound = Callable[[dict[str, Any]], None]


def run_and_follow(cmd: list[str], cwd: Path, env: dict[str, str], history: Path, timeout: float,
                   on_round: OnRound | None = None, poll_s: float = 1.0) -> subprocess.CompletedProcess:
    """Run `cmd` to its end, calling `on_round` with each record `history` gains; TimeoutExpired after `timeout` s."""
    # A history left by an earlier run in the same folder is not news: read the file once it was rewritten.
    stale = history.stat().st_mtime_ns if history.exists() else None
    seen = 0
    deadline = time.monotonic() + timeout
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        while True:
            try:   # communicate() keeps what it read so far when it times out: no output is lost
                out, err = proc.communicate(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                seen = report_rounds(history, seen, on_round, stale)
                if time.monotonic() > deadline:
                    proc.kill()
                    out, err = proc.communicate()
                    raise subprocess.TimeoutExpired(cmd, timeout, out, err) from None
    report_rounds(history, seen, on_round, stale)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def report_rounds(history: Path, seen: int, on_round: OnRound | None, stale: int | None = None) -> int:
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


def _records(history: Path) -> list[dict[str, Any]]:
    """history.json's records, or [] while it is missing or half-written by another process."""
    try:
        return list(json.loads(history.read_text()).get("records", []))
    except (OSError, ValueError, AttributeError):
        return []
