"""A long-lived ClientApp process for a SuperNode started with `--isolation process`.

    flower-supernode --insecure --superlink <server>:8000 --isolation process --port 9094 --node-config '...'
    python -m fedaid_lite.flower.worker --runtime-api-address 127.0.0.1:9094 --insecure

Why: with the default `--isolation subprocess`, the SuperNode's `flower-superexec` starts a fresh
`flwr-clientapp` process for *every message* (flwr 1.42 has no other executor outside Kubernetes, and
`flwr-clientapp` handles exactly one task token, then exits). Each of those imports torch and the
toolkit (≈ 4 CPU-s) and rebuilds its node's data before doing a second of work. With `--isolation
process` the SuperNode starts nothing and waits for an executor to claim its tasks over its Runtime
API; this module is that executor, and it runs each task *in its own process*: imports, the FAB
install, the loaded ClientApp and `client_app`'s per-node cache are paid once per SuperNode, not once
per message. Per task it does what `flwr-clientapp` does (flwr.supernode.runtime.run_clientapp): pull
the message, context, run and FAB; call the ClientApp; push the reply and the updated context (so
`context.state`, e.g. MOON's memory, persists across rounds as usual); a ClientApp that raises sends
an error reply, and the worker carries on with the next task.

What it gives up: a crash inside the ClientApp (not an exception: a segfault, running out of memory)
ends the worker, where the subprocess mode would lose only that message. Start it under a supervisor
(systemd `Restart=always`, or a shell loop) on a real site. It trusts the FAB it is given as much as
`flwr-clientapp` does, and it never installs the app's dependencies (the app declares none).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

import httpx
from flwr.app import Message
from flwr.app.error import Error
from flwr.cli.install import install_from_fab
from flwr.clientapp.client_app import ClientApp, LoadClientAppError
from flwr.clientapp.utils import get_load_client_app_fn
from flwr.common.constant import MAX_RETRY_DELAY, ErrorCode, SubStatus
from flwr.common.serde import context_from_proto, fab_from_proto, run_from_proto
from flwr.proto.node_pb2 import Node as NodeProto  # pylint: disable=E0611
from flwr.proto.runtime_pb2 import (AcquireTaskRequest, PullAppMessagesRequest,  # pylint: disable=E0611
                                    PullTaskInputRequest, SendTaskHeartbeatRequest)
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender
from flwr.supercore.inflatable.inflatable_protobuf_utils import (make_confirm_message_received_fn_protobuf,
                                                                 make_pull_object_fn_protobuf)
from flwr.supercore.inflatable.inflatable_utils import pull_and_inflate_object_from_tree
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
from flwr.supercore.retry.retry_invoker import RetryInvoker, exponential
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supercore.task_identity import TaskIdentity
from flwr.supernode.runtime.run_clientapp import push_message, push_task_output

log = logging.getLogger("fedaid_lite.flower.worker")

_RETRYABLE_STATUS = {502, 503, 504}
_TRANSPORT_ERRORS = (httpx.TransportError,)


def _retry(max_time: float | None, max_delay: float = MAX_RETRY_DELAY) -> RetryInvoker:
    """Retry transport errors and 502/503/504 with backoff; give up at once on any other HTTP error.

    (flwr's own invoker signals SIGINT to its process on a 401: right for a one-task `flwr-clientapp`,
    fatal for a worker that should only drop that task.)
    """
    def giveup(exc: Exception) -> bool:
        if isinstance(exc, httpx.HTTPStatusError):
            return exc.response.status_code not in _RETRYABLE_STATUS
        return any(term in str(exc).lower() for term in ("certificate", "ssl", "tls"))

    return RetryInvoker(lambda: exponential(base_delay=0.25, max_delay=max_delay), (*_TRANSPORT_ERRORS, httpx.HTTPStatusError),
                        max_tries=None, max_time=max_time, should_giveup=giveup)


class Worker:
    """Claims ClientApp tasks from one SuperNode's Runtime API and runs them in this process."""

    def __init__(self, runtime_api_address: str, insecure: bool = True, root_certificates: str | None = None,
                 poll_interval: float = 0.2, task_retry_s: float = 60.0) -> None:
        if not runtime_api_address or ":" not in runtime_api_address:
            raise ValueError(f"--runtime-api-address must be host:port (the SuperNode's --port), "
                             f"got {runtime_api_address!r}")
        if not insecure and not root_certificates:
            raise ValueError("give --insecure (no TLS on the Runtime API) or --root-certificates <CA file>")
        if insecure and root_certificates:
            raise ValueError("--insecure and --root-certificates exclude each other")
        if not 0.0 < poll_interval <= 60.0:
            raise ValueError(f"poll interval must be in (0, 60] seconds, got {poll_interval}")
        self.address, self.insecure, self.poll_interval = runtime_api_address, insecure, poll_interval
        self.certificates: bytes | None = None
        if root_certificates:
            with open(root_certificates, "rb") as f:
                self.certificates = f.read()
        self.task_retry_s = task_retry_s
        self.tasks = 0
        self.claim_identity = True        # False for a worker thread (local_clients): see pull_task_input
        self._apps: dict[str, ClientApp] = {}           # FAB hash -> loaded ClientApp
        self._load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
        self._stop = threading.Event()

    def _client(self, interceptors: list[Any], max_time: float | None, max_delay: float = MAX_RETRY_DELAY
                ) -> RuntimeHttpClient:
        return RuntimeHttpClient.from_server_address(
            server_address=self.address, insecure=self.insecure, root_certificates=self.certificates,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"), *interceptors],
            retry_invoker=_retry(max_time, max_delay))

    def stop(self) -> None:
        """Finish the task in progress (if any), then return from `serve`."""
        self._stop.set()

    def serve(self, max_tasks: int | None = None) -> None:
        """Claim and run tasks until `stop()` (or `max_tasks` tasks); waits for the SuperNode if it is down."""
        client = self._client([], max_time=None, max_delay=5.0)    # waits for a SuperNode that is (re)starting
        request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP])
        try:
            while not self._stop.is_set() and (max_tasks is None or self.tasks < max_tasks):
                res = client.AcquireTask(request)
                if res.HasField("task") and res.token:
                    self.run_task(res.token)
                    self.tasks += 1
                else:
                    self._stop.wait(self.poll_interval)
        finally:
            client.close()

    def run_task(self, token: str) -> None:
        """One task, as `flwr-clientapp --token <token>` would run it, minus the process start."""
        client = self._client([RuntimeTokenHttpInterceptor(token)], max_time=self.task_retry_s)
        expired = threading.Event()
        heartbeat = HeartbeatSender(_heartbeat_fn(client, expired))
        message = context = reply = None
        status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
        started = pulled = ran = time.perf_counter()
        try:
            heartbeat.start()
            message, context, run, fab = pull_task_input(client, self.claim_identity)
            pulled = time.perf_counter()
            app = self._app(run, fab)
            reply = app(message=message, context=context)
            status, details = SubStatus.COMPLETED, ""
            ran = time.perf_counter()
        except Exception as ex:  # noqa: BLE001 - reported to the server as this message's error, like flwr-clientapp
            code = ErrorCode.LOAD_CLIENT_APP_EXCEPTION if isinstance(ex, LoadClientAppError) \
                else ErrorCode.CLIENT_APP_RAISED_EXCEPTION
            reason = str(type(ex)) + ":<'" + str(ex) + "'>"
            log.error("ClientApp raised an exception", exc_info=ex)
            details = reason
            if message is not None:
                reply = Message(Error(code=code, reason=reason), reply_to=message)
        finally:
            try:
                if reply is not None and context is not None and not expired.is_set():
                    push_message(client, reply, context)
            except Exception as ex:  # noqa: BLE001 - the SuperNode will time the task out
                log.error("failed to push the reply: %s", ex)
            if not expired.is_set():
                push_task_output(client=client, context=context, sub_status=status, details=details)
            if heartbeat.is_running:
                heartbeat.stop()
            client.close()
            kind = message.metadata.message_type if message is not None else "?"
            end = time.perf_counter()
            log.info("task %d (%s) %s in %.2f s (pull %.2f, run %.2f, push %.2f)", self.tasks + 1, kind,
                     "done" if status == SubStatus.COMPLETED else "failed", end - started, pulled - started,
                     ran - pulled, end - ran if status == SubStatus.COMPLETED else 0.0)

    def _app(self, run: Any, fab: Any) -> ClientApp:
        """The run's ClientApp, loaded once per FAB (the FAB is installed under FLWR_HOME as flwr-clientapp does)."""
        if fab.hash_str not in self._apps:
            install_from_fab(fab.content, skip_prompt=True)
            self._apps[fab.hash_str] = self._load(run.fab_id, run.fab_version, fab.hash_str)
        return self._apps[fab.hash_str]


def pull_task_input(client: RuntimeHttpClient, claim_identity: bool = True) -> tuple[Message, Any, Any, Any]:
    """flwr's `run_clientapp.pull_task_input`, polling for the message's objects every 0.05-0.5 s, not 1-10 s.

    A worker claims a task the moment the SuperNode creates it, often before the SuperNode has finished
    pulling the message's arrays from the SuperLink; Flower's default backoff (1 s, doubling to 10 s)
    then adds up to ~15 s per message. (`flwr-clientapp` rarely meets this: its own start-up takes longer.)

    `claim_identity=False` leaves flwr's process-wide `TaskIdentity` alone: a worker thread shares its process
    with the ServerApp (local_clients), whose new messages take their sender from it (replies do not).
    """
    res = client.PullTaskInput(PullTaskInputRequest())
    if claim_identity:
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = res.task_id, res.run.run_id, \
            res.context.node_id
    context, run, fab = context_from_proto(res.context), run_from_proto(res.run), fab_from_proto(res.fab)
    pulled = client.PullMessages(PullAppMessagesRequest())
    if not pulled.messages_list:
        raise RuntimeError("no message received from the SuperNode's Runtime API")
    node, tree = NodeProto(node_id=context.node_id), pulled.message_object_trees[0]
    message = pull_and_inflate_object_from_tree(
        tree, make_pull_object_fn_protobuf(client.PullObject, node, context.run_id),
        make_confirm_message_received_fn_protobuf(client.ConfirmMessageReceived, node, context.run_id),
        return_type=Message, max_time=600.0, max_tries_per_object=None, initial_backoff=0.05, backoff_cap=0.5)
    message.metadata.__dict__["_message_id"] = tree.object_id
    return message, context, run, fab


def _heartbeat_fn(client: RuntimeHttpClient, expired: threading.Event) -> Callable[[], bool]:
    """Task heartbeat; a rejected one marks the task expired (flwr's would SIGINT the whole process)."""
    request = SendTaskHeartbeatRequest()

    def beat() -> bool:
        try:
            ok = client.SendTaskHeartbeat(request).success
        except httpx.TransportError:
            return False
        except httpx.HTTPStatusError as err:
            if err.response.status_code in (503, 504):
                return False
            ok = False
        if not ok and not expired.is_set():
            log.warning("the SuperNode no longer accepts this task (expired); its reply will be dropped")
            expired.set()
        return True

    return beat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fedaid_lite.flower.worker",
                                     description="A long-lived ClientApp process for `flower-supernode "
                                                 "--isolation process` (imports and data once per SuperNode).")
    parser.add_argument("--runtime-api-address", required=True,
                        help="the SuperNode's Runtime API, host:port (its --host/--port, default port 9094)")
    tls = parser.add_mutually_exclusive_group(required=True)
    tls.add_argument("--insecure", action="store_true", help="no TLS on the Runtime API (localhost only)")
    tls.add_argument("--root-certificates", metavar="CA_FILE",
                     help="CA file to verify the Runtime API's TLS certificate (SuperNode --ssl-* options)")
    parser.add_argument("--poll-interval", type=float, default=0.2,
                        help="seconds between task polls when idle (default 0.2; the SuperNode itself pulls "
                             "messages from the SuperLink every 3 s)")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process exits")
    parser.add_argument("--max-tasks", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)      # one line per poll otherwise
    try:
        worker = Worker(args.runtime_api_address, args.insecure, args.root_certificates, args.poll_interval)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid, worker)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _preload()
        log.info("serving ClientApp tasks of %s", args.runtime_api_address)
        worker.serve(args.max_tasks)
    except KeyboardInterrupt:
        pass
    log.info("stopped after %d tasks", worker.tasks)
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _preload() -> None:
    """Import the client side now, while the SuperNode waits for the first message."""
    from . import client_app  # noqa: F401  (torch, the model, the algorithms)


def _exit_with_parent(pid: int, worker: Worker) -> None:
    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                worker.stop()
                time.sleep(30)
                os._exit(0)                # a task still running after 30 s: its SuperNode is gone anyway
            except PermissionError:
                pass
            time.sleep(1.0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
