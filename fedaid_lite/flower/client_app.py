"""The ClientApp: one hospital's side of every algorithm, as three thin Flower handlers.

    query    -> who am I: client id, site name, number of training pairs (the server's p_k)
    train    -> `algo.client_train` for one stage of one round (FedAID: two train messages per round); the
                first stage's message may also ask for `algo.client_score` of the model it carries (the
                previous round's score, computed before training)
    evaluate -> `algo.client_score` alone: the closing score of a run's last round, or of a client that
                trained last round but is not sampled in this one

The Experiment comes from `context.run_config` (dotted kebab keys through `Experiment.override`); the
data from `context.node_config`: `partition-id` (= site index) for the synthetic hospitals, or
`data-path` (a manifest on this machine, with the federation's shared tokenizer.json beside it) and
`site` (its site name) for real data. Per-client memory (MOON, LocalOnly) lives in `context.state`.
The vocabulary comes from the server (`tokenizer` in every message's config): the model's embedding
rows mean what the server's tokenizer says, whatever a site would train or load on its own.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from ..algorithms import Algorithm
from ..config import Experiment
from ..data import load_hospitals, load_manifest, load_tokenizer
from ..data.tensors import PairedTensors
from ..federated import client_tensors
from ..model import build_model
from ..protocol import ClientRuntime, StateDict, batch_seed
from ..registry import make_algorithm
from ..train import configure_threads, resolve_device
from .records import ARRAYS, CLIENT_STATE, CONFIG, METRICS, from_record, payload_from, to_record
from .settings import split_run_config


@dataclass
class Node:
    """One client's tensors and reusable modules (built once per run config and node, then cached)."""

    client_id: int
    site: str
    train: PairedTensors
    holdout: PairedTensors
    algo: Algorithm
    runtime: ClientRuntime
    cfg: Experiment


@dataclass(frozen=True)
class NodeData:
    """What a node's data preparation yields: depends on the data config, its node config and the vocabulary only."""

    client_id: int
    site: str
    num_sites: int
    vocab: int
    image_size: int
    train: PairedTensors
    holdout: PairedTensors


# Module-level caches. A process that serves many messages keeps them: a Ray actor of the simulation
# engine (it receives the ClientApp re-pickled with every message; closures travel by value, module
# functions by reference, so only module state survives), and the long-lived ClientApp process of a
# SuperNode in `--isolation process` mode (`fedaid_lite.flower.worker`). A fresh `flwr-clientapp` per
# message (Flower's default `--isolation subprocess`) starts empty every time.
#   _HOSPITALS: data config -> every site's raw data (a simulation actor serves all nodes: built once)
#   _DATA:      data config + node config + server vocabulary -> this node's tensors (built once per node)
#   _NODES:     the whole run config + the above -> model, optimiser runtime and algorithm (cheap)
_HOSPITALS: OrderedDict[str, Any] = OrderedDict()
_DATA: OrderedDict[str, NodeData] = OrderedDict()
_NODES: OrderedDict[str, Node] = OrderedDict()
_MAX_HOSPITALS, _MAX_DATA, _MAX_NODES = 2, 16, 16


def _remember(cache: OrderedDict, key: str, build: Callable[[], Any], limit: int) -> Any:
    """`cache[key]`, built by `build()` on a miss; least recently used entries beyond `limit` are dropped."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = build()
    while len(cache) > limit:
        cache.popitem(last=False)
    return value


def _hospitals(cfg: Experiment, node_config: Mapping[str, Any]) -> Any:
    """Every site's raw data for this node: its manifest (`data-path`) or the synthetic hospitals of `cfg.data`."""
    if "data-path" in node_config:
        path = str(node_config["data-path"])
        d = cfg.data
        return _remember(_HOSPITALS, f"manifest|{path}|{d.image_size}|{d.vocab_size}|{d.allow_outside_paths}",
                         lambda: load_manifest(path, d.image_size, d.vocab_size, d.allow_outside_paths), _MAX_HOSPITALS)
    return _remember(_HOSPITALS, f"data|{cfg.data!r}", lambda: load_hospitals(cfg.data), _MAX_HOSPITALS)


def node_data(cfg: Experiment, node_config: Mapping[str, Any], tokenizer_json: str | None = None) -> NodeData:
    """This node's client id, site, training and held-out tensors (tokenised with the server's vocabulary)."""
    if "data-path" not in node_config and "partition-id" not in node_config:
        raise ValueError("node-config needs partition-id=<site index> (synthetic hospitals) or "
                         "data-path=<manifest> site=<name> (real data)")
    hospitals = _hospitals(cfg, node_config)
    names = list(hospitals.site_names)
    if "data-path" in node_config:
        site = str(node_config.get("site", names[0] if len(names) == 1 else ""))
        if site not in names:
            raise ValueError(f"node-config site={site!r} is not in {node_config['data-path']} (sites: "
                             f"{', '.join(names)}); set site=<one of them> in --node-config")
        index = names.index(site)
        client_id = int(node_config.get("partition-id", index))
    else:
        index = client_id = int(node_config["partition-id"])
        parts = int(node_config.get("num-partitions", hospitals.num_sites))
        if parts != hospitals.num_sites or not 0 <= index < parts:
            raise ValueError(f"partition-id={index} num-partitions={parts}, but the data has {hospitals.num_sites} "
                             f"sites: run one SuperNode per site (num-supernodes={hospitals.num_sites}; for `flwr run`'s "
                             f"simulation: --federation-config 'num-supernodes={hospitals.num_sites}')")
    tokenizer = hospitals.tokenizer
    if tokenizer_json:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tokenizer.json"
            path.write_text(tokenizer_json, encoding="utf-8")
            tokenizer = load_tokenizer(path, cfg.model.max_text_len)
    data = hospitals.train[index]
    if len(data) < 2:
        raise ValueError(f"site {names[index]!r} has {len(data)} training pairs; "
                         "every client needs at least 2 (raise data.n_per_site)")
    # Only this node's site is tokenised, with the same split as `build_federation` gives site `index`.
    train, holdout = client_tensors(cfg, data, tokenizer, index)
    return NodeData(client_id, names[index], hospitals.num_sites, len(tokenizer), int(data.images.shape[-1]),
                    train, holdout)


def load_node(cfg: Experiment, node_config: Mapping[str, Any], tokenizer_json: str | None = None) -> Node:
    """The `Node` for `cfg` on this node: cached data (`node_data`) plus a fresh model, runtime and algorithm."""
    key = "|".join([repr(cfg.data), str(cfg.model.max_text_len), repr(cfg.fed.dro_holdout), str(cfg.seed),
                    repr(sorted(node_config.items())), hashlib.sha256((tokenizer_json or "").encode()).hexdigest()])
    data = _remember(_DATA, key, lambda: node_data(cfg, node_config, tokenizer_json), _MAX_DATA)
    model = build_model(cfg.model, data.vocab, cfg.seed, image_size=data.image_size)
    runtime = ClientRuntime(model, resolve_device(cfg.train.device), cfg)
    return Node(data.client_id, data.site, data.train, data.holdout, make_algorithm(cfg, data.num_sites), runtime, cfg)


def cached_node(defaults: Mapping[str, Any] | None, msg: Message, context: Context) -> Node:
    """The `Node` for this message's run config, node config and server tokenizer (built on first use)."""
    cfg, _ = split_run_config({**(defaults or {}), **context.run_config})
    configure_threads(cfg.train.threads)
    tokenizer_json = str(msg.content[CONFIG].get("tokenizer", ""))
    key = "|".join([cfg.to_json(), repr(sorted(context.node_config.items())),
                    hashlib.sha256(tokenizer_json.encode()).hexdigest()])
    return _remember(_NODES, key, lambda: load_node(cfg, context.node_config, tokenizer_json or None), _MAX_NODES)


def build_client_app(defaults: Mapping[str, Any] | None = None) -> ClientApp:
    """A ClientApp whose run_config is `defaults` updated by `context.run_config` (simulation passes the cfg here)."""
    app = ClientApp()

    def reply(msg: Message, node: Node, metrics: dict[str, float], **records: Any) -> Message:
        content = RecordDict({**records, METRICS: MetricRecord({"client-id": node.client_id, **metrics})})
        return Message(content=content, reply_to=msg)

    def client_state(context: Context) -> StateDict | None:
        return from_record(context.state[CLIENT_STATE]) if CLIENT_STATE in context.state else None

    @app.query()
    def info(msg: Message, context: Context) -> Message:
        node = cached_node(defaults, msg, context)
        return reply(msg, node, {"num-examples": len(node.train), "num-holdout": len(node.holdout)},
                     **{CONFIG: ConfigRecord({"site": node.site})})

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        node = cached_node(defaults, msg, context)
        conf = msg.content[CONFIG]
        if CLIENT_STATE in msg.content.array_records:    # the server resumed a run: this client's kept state
            context.state[CLIENT_STATE] = msg.content.array_records[CLIENT_STATE]
        payload = payload_from(msg.content)
        scored: dict[str, float] = {}
        if int(conf.get("score", 0)):
            # The previous round's score, on the model just received, before training changes anything.
            scored = {"score": node.algo.client_score(node.runtime, payload, node.holdout, client_state(context)),
                      "num-holdout": len(node.holdout)}
            if not math.isfinite(scored["score"]):
                return reply(msg, node, scored)       # the server stops the run: training on it is pointless
        server_round = int(conf["server-round"])
        stage = node.algo.stages(server_round)[int(conf["stage-index"])]
        update = node.algo.client_train(stage, node.runtime, payload, node.train, client_id=node.client_id,
                                        seed=batch_seed(node.cfg.seed, server_round, node.client_id, stage.index),
                                        client_state=client_state(context))
        if update.client_state is not None:
            context.state[CLIENT_STATE] = to_record(update.client_state)
        return reply(msg, node, {"num-examples": update.num_examples, "loss": update.loss, **scored},
                     **{ARRAYS: to_record(update.state)})

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        node = cached_node(defaults, msg, context)
        score = node.algo.client_score(node.runtime, payload_from(msg.content), node.holdout, client_state(context))
        return reply(msg, node, {"num-examples": len(node.holdout), "loss": score, "score": score})

    return app


app: ClientApp = build_client_app()
"""What `[tool.flwr.app.components] clientapp` points at."""
