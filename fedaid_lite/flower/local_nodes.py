"""SuperNodes as threads of the calling process: the deployment engine within a small memory budget.

`LocalDeployment(..., in_process=("nodes", ...))` uses this. A `flower-supernode` process costs ≈ 140 MB of
resident memory before it does anything (flwr's imports: FastAPI, uvicorn, SQLAlchemy, gRPC, cryptography),
so six hospitals cost ≈ 830 MB in processes alone (measured at the class preset). A `ThreadNode` is the same
SuperNode, built from flwr's own pieces, in threads of a process that already imported them:

- its Runtime API: flwr's FastAPI app (`flwr.supernode.main.create_app`) on its own uvicorn server and port,
  which the node's ClientApp worker talks to over HTTP, as a worker process would;
- its Fleet loop: flwr's `start_client_internal` loop (register with the SuperLink, pull a message every 3 s,
  store it for the worker, push the worker's reply), minus what belongs to a process of its own (signal
  handlers, exit on error) and with a stop event.

The SuperLink stays a separate process and every message still goes SuperLink -> Fleet API (HTTP) ->
SuperNode -> Runtime API (HTTP) -> ClientApp and back, with the same 3 s polls. Plain text only (the secure
deployment, with TLS and node keys, runs real `flower-supernode` processes: tests/test_flower_secure.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

import uvicorn
from flwr.supercore.logger import console_handler
from flwr.supercore.object_store import ObjectStoreFactory
from flwr.supernode.fleet_http_connection import http_request_response
from flwr.supernode.main import create_app
from flwr.supernode.nodestate import NodeState, NodeStateFactory
from flwr.supernode.start_client_internal import _pull_and_store_message, _push_messages

POLL_S = 3.0    # flwr 1.42's SuperNode waits this long after an empty pull (fixed in flwr: kept, so the
                # in-process nodes cost the round-trips a real deployment costs)


class ThreadNode:
    """One SuperNode (Runtime API + Fleet loop) as two threads of this process; `stop()` ends both."""

    def __init__(self, superlink: str, runtime_port: int, node_config: Mapping[str, Any],
                 max_wait_time: float = 60.0) -> None:
        self.superlink, self.runtime_port = superlink, runtime_port
        self.node_config = dict(node_config)
        self.max_wait_time = max_wait_time        # give up on a SuperLink that is gone for this long
        self.state_factory = NodeStateFactory(objectstore_factory=ObjectStoreFactory())
        # log_config=None: uvicorn must not reconfigure the caller's logging (a notebook kernel's)
        self.server = uvicorn.Server(uvicorn.Config(
            app=create_app(state_factory=self.state_factory), host="127.0.0.1", port=runtime_port, reload=False,
            access_log=False, log_config=None, log_level="warning", workers=1))
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._http: threading.Thread | None = None
        self._loop: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Serve the Runtime API (wait until it listens), then join the federation."""
        self._http = threading.Thread(target=self.server.run, name=f"supernode-runtime-{self.runtime_port}",
                                      daemon=True)
        self._http.start()
        deadline = time.monotonic() + timeout
        while self._http.is_alive() and not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.server.started:
            self.server.should_exit = True
            raise RuntimeError(f"the SuperNode's Runtime API did not start on 127.0.0.1:{self.runtime_port}")
        self._loop = threading.Thread(target=self._serve, name=f"supernode-fleet-{self.runtime_port}", daemon=True)
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the federation (after the message in hand, if any) and close the Runtime API."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout)
        self.server.should_exit = True
        if self._http is not None:
            self._http.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the Fleet loop still runs (False once stopped, or after it gave up on the SuperLink)."""
        return self._loop is not None and self._loop.is_alive()

    def _serve(self) -> None:
        state = self.state_factory.state()
        store = self.state_factory.objectstore_factory.store()
        try:
            with http_request_response(self.superlink, insecure=True, max_wait_time=self.max_wait_time) as conn:
                node_id, receive, send, get_run, get_fab, pull_object, push_object, confirm = conn
                state.set_node_id(node_id)
                while not self._stop.is_set():
                    run_id = _pull_and_store_message(
                        state=state, object_store=store, node_config=self.node_config, receive=receive,
                        get_run=get_run, get_fab=get_fab, pull_object=pull_object,
                        confirm_message_received=confirm, trusted_entities=None)
                    if run_id is None:
                        self._stop.wait(POLL_S)
                    elif self._reply_ready(state):      # flwr's _push_messages would wait for it forever
                        _push_messages(state=state, object_store=store, send=send, push_object=push_object)
        except BaseException as err:  # noqa: BLE001 - flwr exits (SystemExit) on a refused connection: keep it
            self.error = err

    def _reply_ready(self, state: NodeState) -> bool:
        """Wait until the worker stored a reply (True) or `stop()` was called (False)."""
        while not self._stop.is_set():
            with state.lock_msg_store:   # type: ignore[attr-defined]  (InMemoryNodeState: the only one in 1.42)
                if any(entry.message.metadata.reply_to_message_id and not entry.is_retrieved
                       for entry in state.msg_store.values()):   # type: ignore[attr-defined]
                    return True
            self._stop.wait(0.2)
        return False


def quiet_flower_console() -> Callable[[], None]:
    """Show only flwr's warnings on the console (not every node's per-message INFO lines); returns the undo."""
    level = console_handler.level
    console_handler.setLevel(max(level, logging.WARNING))
    return lambda: console_handler.setLevel(level)
