"""The strategy's mail: the messages it sends and what it reads from the replies.

`AlgorithmStrategy` decides who gets which message and hands what comes back to the algorithm and the
round core; this module builds the messages (one per client: train the current stage, first scoring the
model it receives if asked, or only score) and turns replies into client updates, scores and the reason
each missing client dropped out. It also holds the one `query` round-trip that maps Flower node ids to
client ids before round 1.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from ..protocol import ClientUpdate, StateDict
from .records import ARRAYS, CLIENT_STATE, CONFIG, METRICS, from_record, to_record


class FlowerRunError(RuntimeError):
    """The federation could not run (no nodes, inconsistent node configs, or nobody answered)."""


def stage_messages(nodes: Mapping[int, int], payload: Mapping[str, StateDict], config: Mapping[str, Any],
                   train: Iterable[int], score: Iterable[int],
                   handed_back: Mapping[int, StateDict]) -> list[Message]:
    """One message per client, by client id: train (scoring the received model first if in `score`) or only score.

    Every message carries the same `payload` (the previous round's broadcast is this stage's); a client in
    `handed_back` also gets its kept state back in its train message (once, after a resume).
    """
    train, score = set(train), set(score)
    arrays = {name: to_record(state) for name, state in payload.items()}
    messages = []
    for k in sorted(train | score):
        content = RecordDict({**arrays, CONFIG: ConfigRecord({**config, "score": int(k in score)})})
        if k in handed_back and k in train:
            content[CLIENT_STATE] = to_record(handed_back[k])
        kind = MessageType.TRAIN if k in train else MessageType.EVALUATE
        messages.append(Message(content=content, message_type=kind, dst_node_id=nodes[k]))
    return messages


def collect_replies(replies: Iterable[Message], nodes: Mapping[int, int], expected: Iterable[int],
                    timeout: float) -> tuple[dict[int, Message], dict[int, str]]:
    """(valid replies by client id, client id -> why it failed) for the clients `expected` to answer."""
    expected = set(expected)
    by_node = {n: k for k, n in nodes.items()}
    answered: dict[int, Message] = {}
    failed: dict[int, str] = {}
    for m in replies:
        k = by_node.get(m.metadata.src_node_id)
        if k is None or k not in expected:
            continue
        if m.has_error():
            failed[k] = m.error.reason
        else:
            answered[k] = m
    for k in sorted(expected - set(answered)):
        failed.setdefault(k, f"no reply within {timeout:.0f} s (node down or too slow)")
    return answered, failed


def train_updates(replies: Iterable[Message], nodes: Mapping[int, int], expected: Iterable[int],
                  timeout: float) -> tuple[list[ClientUpdate], dict[int, str]]:
    """(the updates of the `expected` clients that sent a model, by client id; client id -> why the others not)."""
    answered, failed = collect_replies(replies, nodes, expected, timeout)
    failed.update({k: "the reply held no model" for k, m in answered.items() if ARRAYS not in m.content})
    updates = [ClientUpdate(k, from_record(m.content[ARRAYS]), int(m.content[METRICS]["num-examples"]),
                            float(m.content[METRICS]["loss"])) for k, m in sorted(answered.items()) if k not in failed]
    return updates, failed


def round_scores(replies: Iterable[Message], nodes: Mapping[int, int], expected: Iterable[int],
                 timeout: float) -> tuple[dict[int, float], dict[int, str]]:
    """(the scores of the `expected` clients that sent one, by client id; client id -> why the others not)."""
    answered, failed = collect_replies(replies, nodes, expected, timeout)
    scores = {k: float(m.content[METRICS]["score"]) for k, m in sorted(answered.items())
              if "score" in m.content[METRICS]}
    failed.update({k: "the reply held no score" for k in answered if k not in scores})
    return scores, failed


def query_nodes(grid: Grid, min_nodes: int, timeout: float,
                shared_config: Mapping[str, Any]) -> dict[int, tuple[int, str, int]]:
    """client id -> (Flower node id, site, n_k), from one query round-trip once `min_nodes` nodes are connected."""
    deadline = time.monotonic() + timeout
    while len(node_ids := list(grid.get_node_ids())) < min_nodes:
        if time.monotonic() > deadline:
            raise FlowerRunError(f"only {len(node_ids)} of min-nodes={min_nodes} SuperNodes "
                                 f"connected within {timeout:.0f} s; start one per site")
        time.sleep(0.5)
    messages = [Message(content=RecordDict({CONFIG: ConfigRecord({**shared_config, "server-round": 0})}),
                        message_type=MessageType.QUERY, dst_node_id=n) for n in sorted(node_ids)]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    errors = [f"node {m.metadata.src_node_id}: {m.error.reason}" for m in replies if m.has_error()]
    if errors or len(replies) != len(node_ids):
        raise FlowerRunError("SuperNodes failed to load their data: " + ("; ".join(errors) or "no reply"))
    info = {}
    for m in replies:
        metrics = m.content[METRICS]
        info[int(metrics["client-id"])] = (m.metadata.src_node_id, str(m.content[CONFIG]["site"]),
                                           int(metrics["num-examples"]))
    if sorted(info) != list(range(len(node_ids))):
        raise FlowerRunError(f"client ids (partition-id) {sorted(info)} from {len(node_ids)} SuperNodes must be "
                             f"0..{len(node_ids) - 1}, one per node; fix their --node-config")
    return info
