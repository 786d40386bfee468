"""Flower's deployment engine on one machine: a SuperLink, one SuperNode per site, `flwr run`.

    with LocalDeployment("runs/deploy", [{"partition-id": k, "num-partitions": 6} for k in range(6)]) as fed:
        fed.run("flower_app", {"fed.rounds": 2, "output-dir": "runs/deploy/out"})

The same commands work across machines (README "Across machines"); here every process listens on
127.0.0.1 on free ports, runs with its own FLWR_HOME, telemetry and update checks off, and is started
in its own process group so `stop()` ends exactly these processes and their children (the
`flwr-serverapp` / `flwr-clientapp` processes they spawn), and nothing else.

`credentials=make_credentials(...)` (fedaid_lite.flower.security) makes it the secure deployment the README
describes: the SuperLink serves TLS only and accepts only SuperNodes whose public key was registered
(`--enable-supernode-auth` + `flwr supernode register`), each SuperNode verifies the SuperLink's
certificate and signs its requests with its own key (tests/test_flower_secure.py).

`run(..., on_round=print)` reports each round as the ServerApp finishes it (it rewrites history.json in
`output-dir` after every round; fedaid_lite.flower.progress follows it), so a notebook shows progress while
`flwr run` works. Starting and stopping the processes is fedaid_lite.flower.processes.

`in_process_clients=True` runs those ClientApp workers as threads of the calling process instead of one
process each (fedaid_lite.flower.local_clients): notebook 08 uses it to fit a small machine.

`isolation="process"` (the default) starts each SuperNode with `--isolation process` plus one
long-lived ClientApp process for it (`python -m fedaid_lite.flower.worker`): torch, the toolkit and the
node's data are loaded once per SuperNode. `isolation="subprocess"` is Flower's default: the SuperNode's
SuperExec starts a fresh `flwr-clientapp` process for every message (≈ 5 CPU-s each before any work).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from .commands import config_string, connection_toml, flower_bin, free_port, superlink_command, supernode_command
from .local_clients import ThreadClients
from .processes import signal_tree, spawn, stop_all, wait_listening
from .progress import OnRound, run_and_follow
from .security import Credentials
from .settings import RUNNER_DEFAULTS, app_pyproject, offline_env

__all__ = ["LocalDeployment", "config_string", "flower_bin", "free_port"]

CONNECTION = "fedaid-local"
ISOLATION_MODES = ("process", "subprocess")


class LocalDeployment:
    """A SuperLink and SuperNodes as subprocesses on 127.0.0.1; use as a context manager."""

    def __init__(self, workdir: str | os.PathLike, node_configs: Sequence[Mapping[str, Any]],
                 startup_timeout: float = 60.0, isolation: str = "process",
                 credentials: Credentials | None = None, in_process_clients: bool = False) -> None:
        if isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {isolation!r}")
        if not node_configs:
            raise ValueError("node_configs is empty: give one node config per site (SuperNode)")
        if in_process_clients and isolation != "process":
            raise ValueError('in_process_clients=True needs isolation="process" (the SuperNodes wait for our workers)')
        if credentials is not None and len(credentials.node_keys) < len(node_configs):
            raise ValueError(f"credentials hold {len(credentials.node_keys)} SuperNode keys for "
                             f"{len(node_configs)} SuperNodes: make_credentials(..., nodes={len(node_configs)})")
        self.workdir = Path(workdir).resolve()
        self.node_configs = [dict(c) for c in node_configs]
        self.startup_timeout = startup_timeout
        self.isolation = isolation
        self.credentials = credentials
        self.env = offline_env(self.workdir / "flwr-home")
        # The SuperLink and SuperNodes spawn `flower-superexec`, `flwr-serverapp` and `flwr-clientapp` by name.
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.env.get("PATH", "")])
        self.port = 0
        self.superlink: subprocess.Popen | None = None
        self.nodes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []     # one long-lived ClientApp per node (isolation="process")
        self._worker_of: dict[int, subprocess.Popen] = {}   # node index -> its worker
        self.in_process_clients = in_process_clients
        self.threads: ThreadClients | None = None     # the workers as threads of this process (in_process_clients)

    def __enter__(self) -> "LocalDeployment":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        """Start the SuperLink, wait until it listens, write the connection, register keys, start the SuperNodes."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "flwr-home").mkdir(exist_ok=True)
        self.port = free_port()
        self.superlink = self._spawn("superlink", superlink_command("127.0.0.1", self.port, self.credentials))
        wait_listening(self.port, self.superlink, self.startup_timeout, lambda: self.log("superlink"))
        (self.workdir / "flwr-home" / "config.toml").write_text(
            connection_toml(CONNECTION, f"127.0.0.1:{self.port}", self.credentials))
        for i, node_config in enumerate(self.node_configs):
            key = self.credentials.node_keys[i] if self.credentials else None
            if key is not None:
                self.register(Credentials.public_key(key))
            self.add_node(node_config, private_key=key)

    def register(self, public_key: str | os.PathLike) -> None:
        """`flwr supernode register <public_key> fedaid-local`: the SuperLink will accept that SuperNode."""
        result = subprocess.run([flower_bin("flwr"), "supernode", "register", str(public_key), CONNECTION],
                                cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-2000:]
            raise RuntimeError(f"flwr supernode register {public_key} failed:\n{output}")

    def add_node(self, node_config: Mapping[str, Any], private_key: str | os.PathLike | None = None, *,
                 insecure: bool | None = None, worker: bool = True, max_wait_time: float | None = None
                 ) -> subprocess.Popen:
        """Start one more SuperNode (and its ClientApp worker); `insecure`/`private_key` default to the deployment's.

        `worker=False` starts the SuperNode alone; `max_wait_time` makes it give up (exit) after that many
        seconds without the SuperLink, e.g. for a node the SuperLink is expected to refuse.
        """
        i = len(self.nodes)
        runtime_port = free_port()
        insecure = self.credentials is None if insecure is None else insecure
        self.nodes.append(self._spawn(f"supernode-{i}", supernode_command(
            f"127.0.0.1:{self.port}", runtime_port, node_config, self.isolation,
            None if insecure else self._ca(), private_key, max_wait_time)))
        if self.isolation == "process" and worker and self.in_process_clients:
            if self.threads is None:
                self.threads = ThreadClients(self.workdir / "flwr-home")
            self.threads.add(i, f"127.0.0.1:{runtime_port}")
        elif self.isolation == "process" and worker:
            self.workers.append(self._spawn(f"worker-{i}", [
                sys.executable, "-m", "fedaid_lite.flower.worker", "--insecure",
                "--runtime-api-address", f"127.0.0.1:{runtime_port}", "--parent-pid", str(self.nodes[-1].pid)]))
            self._worker_of[i] = self.workers[-1]
        return self.nodes[-1]

    def _ca(self) -> Path:
        if self.credentials is None:
            raise ValueError("this deployment has no credentials: a TLS SuperNode needs "
                             "LocalDeployment(credentials=...)")
        return self.credentials.ca_cert

    def run(self, app: str | os.PathLike | None, run_config: Mapping[str, Any], timeout: float = 600.0,
            on_round: OnRound | None = None, poll_s: float = 1.0) -> subprocess.CompletedProcess:
        """`flwr run <app> fedaid-local --run-config ... --stream`: blocks until the run ends (or `timeout`).

        `app=None` runs the toolkit's own app (flower_app/pyproject.toml's text, written to the workdir).

        `on_round(record)` is called in this process with each round's History record as the ServerApp
        saves it (history.json in `output-dir`, relative to the SuperLink's folder), within `poll_s` seconds.
        """
        if app is None:       # the toolkit's app, written here: works where the repo's flower_app/ is absent (pip)
            app = self.workdir / "app"
            app.mkdir(parents=True, exist_ok=True)
            (app / "pyproject.toml").write_text(app_pyproject())
        cmd = [flower_bin("flwr"), "run", str(Path(app).resolve()), CONNECTION, "--stream"]
        if run_config:
            cmd += ["--run-config", config_string(run_config)]
        history = self.workdir / str(run_config.get("output-dir", RUNNER_DEFAULTS["output-dir"])) / "history.json"
        return run_and_follow(cmd, self.workdir, self.env, history, timeout, on_round, poll_s)

    def kill_node(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop SuperNode `index`, its ClientApp worker and their descendants, as a hospital going offline would."""
        if not 0 <= index < len(self.nodes):
            raise IndexError(f"no SuperNode {index}: this deployment started {len(self.nodes)}")
        if self.threads is not None:
            self.threads.stop_one(index, timeout=1.0)
        signal_tree([self.nodes[index], *([self._worker_of[index]] if index in self._worker_of else [])], sig)

    def stop(self) -> None:
        """Stop every process this object started and their descendants (SuperNodes first); nothing else."""
        if self.threads is not None:     # first, while their SuperNodes still answer
            self.threads.stop()
            self.threads = None
        # Flower starts `flower-superexec` in a new session (outside our process groups): `stop_all` also
        # signals the descendants it finds by parent link.
        stop_all([*reversed(self.workers), *reversed(self.nodes), *([self.superlink] if self.superlink else [])])

    def log(self, name: str) -> str:
        """The captured output of `superlink`, `supernode-<i>` or `worker-<i>` ('' if none)."""
        path = self.workdir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        return spawn(cmd, self.workdir / "logs" / f"{name}.log", self.workdir, self.env)
