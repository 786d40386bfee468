"""The ServerApp as part of the calling process: what `flwr-serverapp` does, without a process of its own.

`LocalDeployment(..., in_process=("server", ...))` uses this. The SuperLink then runs with `--isolation
process`: it starts no SuperExec and no `flwr-serverapp`, and waits for an executor to claim the run's
ServerApp task over its Runtime API (the same port as everything else in flwr 1.42). `run_server_task` is
that executor: it claims the task, pulls the run, its FAB and context, and calls the toolkit's ServerApp in
this thread against an `HttpGrid`, so every message still goes through the SuperLink. A separate
`flwr-serverapp` process would import torch and the toolkit again (≈ 700 MB at the class preset, measured);
here it shares the caller's.

Only the toolkit's own app runs this way (the FAB must name `fedaid_lite.flower.server_app:app`): the
ServerApp object is built here (with the caller's hospitals and round callback), not loaded from the FAB.
"""

from __future__ import annotations

import time
from typing import Any

from flwr.app import Context, RecordDict
from flwr.common.config import get_fab_config, get_fused_config_from_fab
from flwr.common.constant import SubStatus
from flwr.common.serde import context_from_proto, context_to_proto, fab_from_proto, run_from_proto
from flwr.proto.runtime_pb2 import (AcquireTaskRequest, PullTaskInputRequest,  # pylint: disable=E0611
                                    PushTaskOutputRequest, SendTaskHeartbeatRequest)
from flwr.serverapp import ServerApp
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender
from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supercore.task_identity import TaskIdentity
from flwr.superlink.grid import HttpGrid

from ..data.types import Hospitals
from .progress import OnRound
from .server_app import build_server_app

SERVER_APP_REF = "fedaid_lite.flower.server_app:app"


def serve_run(address: str, timeout: float, on_round: OnRound | None, hospitals: Hospitals | None) -> None:
    """Claim the run just submitted to the SuperLink at `address` and run the toolkit's ServerApp for it here.

    `on_round(record)` hears each round as the ServerApp ends it; `hospitals`, if given, is the server's data
    (not loaded again); `timeout` bounds the wait for the task.
    """
    token = acquire_server_task(address, timeout)
    report = None if on_round is None else (lambda record, trained: on_round(record))
    run_server_task(address, token, build_server_app(hospitals=hospitals, on_round=report))


def acquire_server_task(address: str, timeout: float, poll_s: float = 0.2) -> str:
    """Claim the next ServerApp task from the SuperLink's Runtime API at `address`; its token."""
    client = RuntimeHttpClient.from_server_address(
        server_address=address, insecure=True, root_certificates=None,
        interceptors=[RuntimeVersionHttpInterceptor(component_name="SuperExec")],
        retry_invoker=make_simple_http_retry_invoker())
    deadline = time.monotonic() + timeout
    try:
        while True:
            res = client.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.SERVER_APP]))
            if res.HasField("task") and res.token:
                return str(res.token)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ServerApp task on the SuperLink at {address} within {timeout:.0f} s "
                                   "(did `flwr run` submit the run?)")
            time.sleep(poll_s)
    finally:
        client.close()


def run_server_task(address: str, token: str, app: ServerApp) -> Context:
    """Run the claimed task's ServerApp (`app`, the toolkit's) in this thread; report its outcome to the SuperLink."""
    grid = HttpGrid(runtime_api_address=address, insecure=True, token=token)
    client: Any = grid._runtime_client        # pylint: disable=protected-access  (as flwr-serverapp uses it)
    heartbeat = HeartbeatSender(_heartbeat_fn(client))
    context: Context | None = None
    status, details = SubStatus.FAILED, "ServerApp failed"
    try:
        heartbeat.start()
        res = client.PullTaskInput(PullTaskInputRequest())
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = res.task_id, res.run.run_id, \
            res.context.node_id
        context, run, fab = context_from_proto(res.context), run_from_proto(res.run), fab_from_proto(res.fab)
        grid.set_run(run)
        ref = get_fab_config(fab.content)["tool"]["flwr"]["app"]["components"]["serverapp"]
        if ref != SERVER_APP_REF:
            raise ValueError(f"the in-process server runs only the toolkit's app ({SERVER_APP_REF}), this run's "
                             f"FAB names {ref!r}: run it without in_process=('server', ...)")
        context.run_config = get_fused_config_from_fab(fab.content, run)
        app(grid=grid, context=context)
        status, details = SubStatus.COMPLETED, ""
        context.state = RecordDict()        # as flwr-serverapp: the final context travels without its state
        return context
    except Exception as ex:
        details = f"ServerApp failed with exception: {ex}"
        raise
    finally:
        grid._retry_invoker.max_tries = 1   # pylint: disable=protected-access  (do not block on the way out)
        try:
            client.PushTaskOutput(PushTaskOutputRequest(
                context=context_to_proto(context) if context else None, sub_status=status, details=details))
        except Exception:  # noqa: BLE001 - the SuperLink is gone or timed the task out: nothing left to report to
            pass
        if heartbeat.is_running:
            heartbeat.stop()
        grid.close()


def _heartbeat_fn(client: Any) -> Any:
    """Task heartbeat that never signals: flwr's sends SIGINT to its process when the SuperLink rejects one, which
    here would interrupt the user's kernel (the run's replies then fail on their own)."""
    request = SendTaskHeartbeatRequest()

    def beat() -> bool:
        try:
            client.SendTaskHeartbeat(request)
        except Exception:  # noqa: BLE001 - transport errors: the sender retries sooner
            return False
        return True

    return beat
