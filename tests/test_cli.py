"""The console script: help everywhere, `info`, and one-line errors for bad overrides."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).parent / "fedaid-lite"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "fedaid_lite.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.parametrize("args", [[], ["run"], ["compare"], ["data", "make"], ["data", "show"], ["data", "check"],
                                  ["info"], ["sweep"]])
def test_help_everywhere(args):
    # Every command must explain itself; a crash here means a broken parser.
    out = _cli(*args, "--help")
    assert out.returncode == 0 and "usage:" in out.stdout


def test_info_prints_versions_device_threads_and_sample(tmp_path):
    out = _cli("info")
    assert out.returncode == 0, out.stderr
    for fragment in ("torch", "device (auto)", "threads", "sample data"):
        assert fragment in out.stdout


@pytest.mark.parametrize("setting,key", [("fed.rounds=-1", "fed.rounds"), ("fed.nonsense=1", "fed.nonsense"),
                                         ("train.lr=abc", "train.lr"), ("fed.rounds", "key=value")])
def test_bad_override_is_one_line_naming_the_key(tmp_path, setting, key):
    # A student's typo must give one readable line, a non-zero exit, and no traceback.
    out = _cli("run", "--algorithm", "fedavg", "--preset", "tiny", "--set", setting, "--out", str(tmp_path / "o"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "o").exists(), "a rejected run must not create its output folder"


def test_missing_manifest_is_a_clear_error(tmp_path):
    out = _cli("compare", "--preset", "tiny", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert out.returncode == 2 and "no manifest" in out.stderr and "Traceback" not in out.stderr
