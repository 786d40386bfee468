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

`in_process=("clients", "nodes", "server")` (any of the three) runs parts of the deployment in the calling
process instead of one process each, to fit a small machine (notebook 08 uses all three): the ClientApp
workers as threads (fedaid_lite.flower.local_clients), the SuperNodes as threads (local_nodes), the ServerApp
in the thread that calls `run()` (local_server, with the SuperLink in `--isolation process`). Only the
SuperLink and `flwr run` stay processes; every message still travels SuperLink -> SuperNode -> ClientApp over
HTTP with the same polls. Threads cannot be made secure this way: `in_process` nodes and server need
`credentials=None`.

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
from typing import Any, Callable, Mapping, Sequence

from ..data.types import Hospitals
from .commands import config_string, connection_toml, flower_bin, free_port, superlink_command, supernode_command
from .local_clients import ThreadClients
from .local_nodes import ThreadNode, quiet_flower_console
from .local_server import serve_run
from .processes import signal_tree, spawn, stop_all, wait_listening
from .progress import OnRound, run_and_follow
from .security import Credentials
from .settings import RUNNER_DEFAULTS, offline_env, write_toolkit_app

__all__ = ["LocalDeployment", "config_string", "flower_bin", "free_port"]

CONNECTION = "fedaid-local"
ISOLATION_MODES = ("process", "subprocess")
IN_PROCESS_PARTS = ("clients", "nodes", "server")


class LocalDeployment:
    """A SuperLink and SuperNodes as subprocesses on 127.0.0.1; use as a context manager."""

    def __init__(self, workdir: str | os.PathLike, node_configs: Sequence[Mapping[str, Any]],
                 startup_timeout: float = 60.0, isolation: str = "process",
                 credentials: Credentials | None = None, in_process: Sequence[str] = ()) -> None:
        check_arguments(node_configs, isolation, in_process, credentials)
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
        self.nodes: list[subprocess.Popen | ThreadNode] = []
        self.workers: list[subprocess.Popen] = []     # one long-lived ClientApp per node (isolation="process")
        self._worker_of: dict[int, subprocess.Popen] = {}   # node index -> its worker
        self.in_process = frozenset(in_process)
        self.threads: ThreadClients | None = None     # the workers as threads of this process ("clients")
        self._loud: Callable[[], None] | None = None  # undoes quiet_flower_console()

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
        if {"nodes", "server"} & self.in_process:    # their per-message INFO lines would fill the notebook
            self._loud = quiet_flower_console()
        self.superlink = self._spawn("superlink", superlink_command(
            "127.0.0.1", self.port, self.credentials, "process" if "server" in self.in_process else "subprocess"))
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
        register_node(public_key, self.workdir, self.env)

    def add_node(self, node_config: Mapping[str, Any], private_key: str | os.PathLike | None = None, *,
                 insecure: bool | None = None, worker: bool = True, max_wait_time: float | None = None
                 ) -> subprocess.Popen | ThreadNode:
        """Start one more SuperNode (and its ClientApp worker); `insecure`/`private_key` default to the deployment's.

        `worker=False` starts the SuperNode alone; `max_wait_time` makes it give up (exit) after that many
        seconds without the SuperLink, e.g. for a node the SuperLink is expected to refuse.
        """
        i = len(self.nodes)
        runtime_port = free_port()
        insecure = self.credentials is None if insecure is None else insecure
        if "nodes" in self.in_process:
            if not insecure or private_key is not None:
                raise ValueError("an in_process SuperNode speaks plain text: no private_key, insecure=True")
            node = ThreadNode(f"127.0.0.1:{self.port}", runtime_port, node_config,
                              60.0 if max_wait_time is None else max_wait_time)
            node.start(self.startup_timeout)
            self.nodes.append(node)
        else:
            self.nodes.append(self._spawn(f"supernode-{i}", supernode_command(
                f"127.0.0.1:{self.port}", runtime_port, node_config, self.isolation,
                None if insecure else ca_cert(self.credentials), private_key, max_wait_time)))
        if self.isolation == "process" and worker and "clients" in self.in_process:
            if self.threads is None:
                self.threads = ThreadClients(self.workdir / "flwr-home")
            self.threads.add(i, f"127.0.0.1:{runtime_port}")
        elif self.isolation == "process" and worker:
            self.workers.append(self._spawn(f"worker-{i}", [
                sys.executable, "-m", "fedaid_lite.flower.worker", "--insecure",
                "--runtime-api-address", f"127.0.0.1:{runtime_port}", "--parent-pid", str(self.nodes[-1].pid)]))
            self._worker_of[i] = self.workers[-1]
        return self.nodes[-1]

    def run(self, app: str | os.PathLike | None, run_config: Mapping[str, Any], timeout: float = 600.0,
            on_round: OnRound | None = None, poll_s: float = 1.0,
            hospitals: Hospitals | None = None) -> subprocess.CompletedProcess:
        """`flwr run <app> fedaid-local --run-config ... --stream`: blocks until the run ends (or `timeout`).

        `app=None` runs the toolkit's own app (flower_app/pyproject.toml's text, written to the workdir).

        `on_round(record)` is called in this process with each round's History record as the ServerApp
        saves it (history.json in `output-dir`, relative to the SuperLink's folder), within `poll_s` seconds.

        With `in_process` "server", `flwr run` only submits the run and the ServerApp runs in this thread
        (`on_round` is then called by the ServerApp itself; `hospitals`, if given, is its data, not loaded
        again; `timeout` bounds the wait for the run, each round-trip is bounded by the run's round-timeout).
        """
        app = write_toolkit_app(self.workdir / "app") if app is None else app
        output_dir = self.workdir / str(run_config.get("output-dir", RUNNER_DEFAULTS["output-dir"]))
        if "server" in self.in_process:
            return submit_and_serve(app, {**run_config, "output-dir": str(output_dir)}, self.workdir, self.env,
                                    f"127.0.0.1:{self.port}", timeout, on_round, hospitals)
        return run_and_follow(flwr_run(app, run_config, stream=True), self.workdir, self.env,
                              output_dir / "history.json", timeout, on_round, poll_s)

    def kill_node(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop SuperNode `index`, its ClientApp worker and their descendants, as a hospital going offline would."""
        if not 0 <= index < len(self.nodes):
            raise IndexError(f"no SuperNode {index}: this deployment started {len(self.nodes)}")
        if self.threads is not None:
            self.threads.stop_one(index, timeout=1.0)
        node = self.nodes[index]
        if isinstance(node, ThreadNode):
            node.stop(timeout=1.0)
        signal_tree([*([node] if isinstance(node, subprocess.Popen) else []),
                     *([self._worker_of[index]] if index in self._worker_of else [])], sig)

    def stop(self) -> None:
        """Stop every process this object started and their descendants (SuperNodes first); nothing else."""
        if self.threads is not None:     # first, while their SuperNodes still answer
            self.threads.stop()
            self.threads = None
        for node in self.nodes:          # then the SuperNode threads, while the SuperLink still answers
            if isinstance(node, ThreadNode):
                node.stop()
        # Flower starts `flower-superexec` in a new session (outside our process groups): `stop_all` also
        # signals the descendants it finds by parent link.
        stop_all([*reversed(self.workers), *[n for n in reversed(self.nodes) if isinstance(n, subprocess.Popen)],
                  *([self.superlink] if self.superlink else [])])
        if self._loud is not None:
            self._loud()
            self._loud = None

    def log(self, name: str) -> str:
        """The captured output of `superlink`, `supernode-<i>` or `worker-<i>` ('' if none)."""
        path = self.workdir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        return spawn(cmd, self.workdir / "logs" / f"{name}.log", self.workdir, self.env)


def check_arguments(node_configs: Sequence[Mapping[str, Any]], isolation: str, in_process: Sequence[str],
                    credentials: Credentials | None) -> None:
    """ValueError naming the fix for a deployment that would start and then hang, or run partly insecure."""
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {isolation!r}")
    if not node_configs:
        raise ValueError("node_configs is empty: give one node config per site (SuperNode)")
    unknown = sorted(set(in_process) - set(IN_PROCESS_PARTS))
    if unknown:
        raise ValueError(f"in_process parts must be among {', '.join(IN_PROCESS_PARTS)}, got {', '.join(unknown)}")
    if {"clients", "nodes"} & set(in_process) and isolation != "process":
        raise ValueError('in_process clients or nodes need isolation="process" (the SuperNodes wait for workers)')
    if {"nodes", "server"} & set(in_process) and credentials is not None:
        raise ValueError("in_process nodes and server speak plain text: leave them out of in_process to "
                         "run the secure deployment (credentials=...)")
    if credentials is not None and len(credentials.node_keys) < len(node_configs):
        raise ValueError(f"credentials hold {len(credentials.node_keys)} SuperNode keys for "
                         f"{len(node_configs)} SuperNodes: make_credentials(..., nodes={len(node_configs)})")


def ca_cert(credentials: Credentials | None) -> Path:
    """The CA certificate a TLS SuperNode verifies the SuperLink with, or ValueError naming the fix."""
    if credentials is None:
        raise ValueError("this deployment has no credentials: a TLS SuperNode needs LocalDeployment(credentials=...)")
    return credentials.ca_cert


def register_node(public_key: str | os.PathLike, cwd: Path, env: Mapping[str, str]) -> None:
    """`flwr supernode register <public_key> fedaid-local`, or RuntimeError with flwr's output."""
    result = subprocess.run([flower_bin("flwr"), "supernode", "register", str(public_key), CONNECTION],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"flwr supernode register {public_key} failed:\n{output}")


def submit_and_serve(app: str | os.PathLike, run_config: Mapping[str, Any], cwd: Path, env: Mapping[str, str],
                     superlink: str, timeout: float, on_round: OnRound | None,
                     hospitals: Hospitals | None) -> subprocess.CompletedProcess:
    """`flwr run` only submits the run (no --stream); then the ServerApp runs in this thread until it ends."""
    submitted = subprocess.run(flwr_run(app, run_config, stream=False), cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=timeout)
    if submitted.returncode == 0:
        serve_run(superlink, timeout, on_round, hospitals)
    return submitted


def flwr_run(app: str | os.PathLike, run_config: Mapping[str, Any], stream: bool) -> list[str]:
    """`flwr run <app> fedaid-local [--stream] [--run-config ...]`."""
    cmd = [flower_bin("flwr"), "run", str(Path(app).resolve()), CONNECTION, *(["--stream"] if stream else [])]
    return cmd + (["--run-config", config_string(run_config)] if run_config else [])
