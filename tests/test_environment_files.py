"""The lock, environment.yml and binder/ agree on package names and versions (no silent drift)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower().strip()


def _env_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*-\s*([A-Za-z0-9_.\-\[\]]+)\s*(==|=)\s*([0-9][^\s#]*)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(3)
    return pins


def test_lock_pins_cpu_torch_and_everything_exactly():
    # torch must be pinned to the CPU build on disk; a looser pin pulls a multi-GB CUDA build.
    lock = _lock()
    assert lock["torch"] == "2.13.0"
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or "==" in line, f"unpinned line in lock: {line!r}"


def test_environment_files_match_the_lock():
    # If these drift, Binder/conda users get different versions from CI and the tables differ.
    lock = _lock()
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        pins = _env_pins(path)
        assert pins.pop("python") == "3.11"
        assert pins.pop("pytorch-cpu") == lock["torch"], f"{path}: pytorch-cpu differs from the lock's torch"
        assert pins, f"{path} pins nothing"
        for name, version in pins.items():
            assert lock.get(name) == version, f"{path}: {name}=={version} but the lock has {lock.get(name)}"
    assert _env_pins(ROOT / "environment.yml") == _env_pins(ROOT / "binder" / "environment.yml")


def test_binder_sets_offline_and_cache_variables():
    # Binder has no network to model hubs and a cold numba cache costs ~10 s per kernel.
    start = (ROOT / "binder" / "start").read_text()
    for var in ("HF_HUB_OFFLINE=1", "FLWR_TELEMETRY_ENABLED=0", "NUMBA_CACHE_DIR="):
        assert var in start
    assert "warm_numba_cache" in (ROOT / "binder" / "postBuild").read_text()
    assert "python -m fedaid_lite.dashboard.warm" in (ROOT / "binder" / "postBuild").read_text()
