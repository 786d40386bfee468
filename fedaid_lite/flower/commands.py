"""The command lines of a Flower deployment: SuperLink, SuperNode, and the `flwr` connection they share.

One place for them, so `LocalDeployment` (127.0.0.1) and the README's recipe across machines are the same
commands: plain text (`--insecure`, for trying), or TLS with SuperNode authentication (`Credentials` from
fedaid_lite.flower.security).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any, Mapping

from .security import Credentials
from .settings import _toml_value


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_string(values: Mapping[str, Any]) -> str:
    """`{"fed.rounds": 2, "site": "a b"}` -> `fed.rounds=2 site="a b"` (Flower's --run-config/--node-config)."""
    return " ".join(f"{k}={_toml_value(v)}" for k, v in values.items())


def flower_bin(name: str) -> str:
    """Path of a Flower console script next to this Python (the venv's), else the bare name."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def superlink_command(host: str, port: int, credentials: Credentials | None = None,
                      isolation: str = "subprocess") -> list[str]:
    """The `flower-superlink` command line: plain text, or TLS with SuperNode authentication.

    `isolation="process"`: the SuperLink starts no ServerApp process; an executor claims the run's ServerApp
    task over its Runtime API (`fedaid_lite.flower.local_server`).
    """
    security = ["--insecure"] if credentials is None else [
        "--ssl-ca-certfile", str(credentials.ca_cert), "--ssl-certfile", str(credentials.server_cert),
        "--ssl-keyfile", str(credentials.server_key), "--enable-supernode-auth"]
    if isolation != "subprocess":          # flwr's default: the README's recipe leaves it out
        security += ["--isolation", isolation]
    return [flower_bin("flower-superlink"), *security, "--disable-runtime-dependency-installation",
            "--host", host, "--port", str(port)]


def supernode_command(superlink: str, runtime_port: int, node_config: Mapping[str, Any], isolation: str = "process",
                      root_certificates: str | os.PathLike | None = None,
                      private_key: str | os.PathLike | None = None, max_wait_time: float | None = None) -> list[str]:
    """The `flower-supernode` command line; TLS when `root_certificates` (the CA) is given, signed by `private_key`."""
    security = ["--insecure"] if root_certificates is None else ["--root-certificates", str(root_certificates)]
    if private_key is not None:
        security += ["--auth-supernode-private-key", str(private_key)]
    if max_wait_time is not None:
        security += ["--max-wait-time", str(max_wait_time)]
    # The Runtime API (SuperNode <-> its ClientApp worker) stays on 127.0.0.1 of the hospital's machine.
    return [flower_bin("flower-supernode"), *security, "--superlink", superlink, "--isolation", isolation,
            "--host", "127.0.0.1", "--port", str(runtime_port), "--node-config", config_string(node_config)]


def connection_toml(name: str, address: str, credentials: Credentials | None = None) -> str:
    """The `[superlink.<name>]` table of FLWR_HOME/config.toml that `flwr run` and `flwr supernode` use."""
    security = "insecure = true\n" if credentials is None else \
        f"insecure = false\nroot-certificates = {_toml_value(str(credentials.ca_cert))}\n"
    return f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\naddress = "{address}"\n{security}'
