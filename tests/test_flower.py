"""Flower engine: the same algorithms on Flower's simulation and deployment runtimes.

Slow by nature (Ray starts in ~20 s; the deployment's SuperNode and server poll every 3 s, and each
SuperNode's ClientApp process imports torch), so every test here is marked `flower`. Data: three sites of the tiny synthetic
hospitals written as a manifest (with its tokenizer.json), shared by both engines.
"""

from __future__ import annotations

import json
import math
import threading
import time
import tomllib
from pathlib import Path

import pytest
import torch

pytest.importorskip("flwr")
pytestmark = pytest.mark.flower

from fedaid_lite.checkpoint import load_checkpoint  # noqa: E402
from fedaid_lite.config import Experiment  # noqa: E402
from fedaid_lite.flower.deployment import LocalDeployment  # noqa: E402
from fedaid_lite.flower.settings import APP_DEFAULTS, offline_env, split_run_config, to_run_config  # noqa: E402
from fedaid_lite.history import History  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "flower_app"
SITES = 3


@pytest.fixture(scope="module")
def manifest(tiny_manifest) -> Path:
    """A 3-site manifest cut from the tiny synthetic hospitals (images shared, tokenizer.json beside it)."""
    return tiny_manifest(SITES)[0]


def tiny(manifest: Path, algorithm: str, **extra) -> Experiment:
    return Experiment.tiny().override({"data.manifest": str(manifest), "fed.algorithm": algorithm, **extra})


def final_state(folder: Path) -> dict[str, torch.Tensor]:
    from fedaid_lite.model import load_model

    return load_model(folder / "model").state_dict()


def is_distribution(weights: dict[str, float]) -> bool:
    values = list(weights.values())
    return all(v >= -1e-12 for v in values) and math.isclose(sum(values), 1.0, abs_tol=1e-9)


# --- configuration (fast) ---------------------------------------------------------------------------

def test_app_config_lists_every_experiment_key_and_no_dependencies():
    """flower_app/pyproject.toml holds every Experiment key (else `--run-config k=v` is rejected by Flower
    for the missing ones), round-trips to the documented preset, and declares no dependencies (else
    `flwr run` would `uv sync` a multi-GB CUDA torch)."""
    project = tomllib.loads((APP / "pyproject.toml").read_text())
    config = project["tool"]["flwr"]["app"]["config"]
    expected = to_run_config(Experiment.tiny().override(APP_DEFAULTS))
    assert config == expected, "run `python -m fedaid_lite.flower.settings` to regenerate flower_app/pyproject.toml"
    cfg, settings = split_run_config(config)
    assert cfg == Experiment.tiny().override(APP_DEFAULTS)
    assert settings.output_dir == "runs/flower"
    assert project["project"]["dependencies"] == []
    components = project["tool"]["flwr"]["app"]["components"]
    assert components == {"serverapp": "fedaid_lite.flower.server_app:app",
                          "clientapp": "fedaid_lite.flower.client_app:app"}


def test_run_config_rejects_unknown_keys():
    """A typo in --run-config must fail loudly, not silently train something else."""
    with pytest.raises(ValueError, match="fed.round"):
        split_run_config({"fed.round": 3})


def test_subprocess_environment_is_offline(tmp_path):
    """Telemetry, the update check and Ray usage stats are off, and FLWR_HOME is private: nothing phones home."""
    env = offline_env(tmp_path)
    assert env["FLWR_TELEMETRY_ENABLED"] == "0" and env["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0" and env["FLWR_HOME"] == str(tmp_path)


def test_scores_can_ride_on_the_next_message_only_if_end_round_keeps_the_broadcast():
    """Round r's scores come back with round r+1's first message, built before round r's DRO step: exact only
    while `end_round` leaves the broadcast (global model, FedAID's anchor) untouched. FedAID's DRO step must
    pass; an algorithm whose end_round changes the anchor must be refused, not silently drift from in-process."""
    from fedaid_lite.flower.strategy import FlowerRunError, same_broadcast
    from fedaid_lite.registry import make_algorithm

    algo = make_algorithm(Experiment.tiny().override({"fed.algorithm": "fedaid"}), 3)
    state = {"w": torch.zeros(2)}
    memory = algo.init_memory(state, [4, 5, 6])
    before = algo.broadcast(state, memory)
    stepped = algo.end_round(1, state, {0: 1.0, 1: 2.0, 2: 3.0}, memory)
    assert stepped["dro_weights"] != memory["dro_weights"]          # the step did happen
    same_broadcast(algo, before, algo.broadcast(state, stepped))
    with pytest.raises(FlowerRunError, match="end_round changes what the server broadcasts"):
        same_broadcast(algo, before, algo.broadcast(state, {**stepped, "anchor": {"w": torch.ones(2)}}))


# --- simulation engine: equivalence -------------------------------------------------------------------

# FedAvg (one stage) and FedAID with client sampling (two stages, piggybacked scores, score-only messages);
# FedAID at fraction 1 takes the same path as the sampled case and is left out to keep `make test` short.
@pytest.mark.parametrize("algorithm, fraction", [("fedavg", 1.0), ("fedaid", 0.67)])
def test_simulation_matches_in_process_engine(manifest, tmp_path, algorithm, fraction):
    """Same config and seed on both engines -> the same final model, checkpoint and History records.

    Round r's scores ride on round r+1's first train message; with `fed.fraction` < 1 (2 of 3 sites a
    round) a site scored but not sampled next gets an evaluate message in the same batch instead.

    Expected bit-identical: clients are addressed by partition id (not Flower's random node ids),
    sampled with the same seeded `sample_clients`, trained with the same `batch_seed`, aggregated in
    client-id order in float64, and the arrays travel as exact float32 bytes. The tolerance (1e-6) only
    allows for a BLAS that reorders sums across processes. If it fails, the Flower path is not the same
    computation as the in-process one (e.g. the server's tokenizer did not reach the clients).
    """
    from fedaid_lite.federated import run_federated
    from fedaid_lite.flower.simulation import run_flower_simulation

    cfg = tiny(manifest, algorithm, **{"fed.fraction": fraction})
    if fraction < 1:   # the case exists: some site trains in one round and not in the next
        from fedaid_lite.rounds import sample_clients

        sampled = [set(sample_clients(cfg, r, SITES)) for r in range(1, cfg.fed.rounds + 1)]
        assert any(a - b for a, b in zip(sampled, sampled[1:]))
    flower = run_flower_simulation(cfg, tmp_path / "flower", progress=False)
    local = run_federated(cfg, checkpoint_dir=tmp_path / "inprocess")
    assert len(flower.records) == len(local.records) == cfg.fed.rounds
    for a, b in zip(flower.records, local.records):
        # One record builder (rounds.RoundCore): the same keys, plus Flower's failure report.
        assert a["failed_clients"] == [] and a["errors"] == {}
        assert set(a) - {"failed_clients", "errors"} == set(b)
        for key in sorted(set(b) - {"time", "round_seconds"}):   # every number, metrics included
            assert_close(a[key], b[key], key)
        assert a["time"] >= a["round_seconds"] > 0
    sa, sb = final_state(tmp_path / "flower"), final_state(tmp_path / "inprocess")
    assert max(float((sa[k] - sb[k]).abs().max()) for k in sa) <= 1e-6
    assert History.load(tmp_path / "flower" / "history.json").records == flower.records
    ca, cb = load_checkpoint(tmp_path / "flower"), load_checkpoint(tmp_path / "inprocess")   # same checkpoint too
    assert ca.server_round == cb.server_round == cfg.fed.rounds
    assert_close(ca.memory.get("dro_weights"), cb.memory.get("dro_weights"), "dro_weights")


# MOON (per-client models sent back once after a restart) passed too; it costs ~45 s and stays out of `make test`:
# `pytest tests/test_flower.py -k resumes` with "moon" added here checks it.
@pytest.mark.parametrize("algorithm", ["fedaid"])
def test_server_resumes_from_its_checkpoint(manifest, tmp_path, algorithm):
    """A ServerApp stopped after round 2 of 4 and started again on its output folder continues from the
    checkpoint it wrote (model, DRO weights, anchor, kept client models, History) and ends exactly where an
    uninterrupted run ends; a changed config is refused before anything is written. A failure means a server
    restart loses or alters the run (e.g. the DRO weights or the anchor restart from round 0, or MOON's
    clients, whose new run starts with an empty context.state, do not get their previous models back)."""
    from fedaid_lite.checkpoint import CheckpointError
    from fedaid_lite.federated import run_federated
    from fedaid_lite.flower.server_app import run_server
    from fedaid_lite.flower.settings import RunnerSettings
    from fedaid_lite.flower.simulation import run_flower_simulation

    cfg = tiny(manifest, algorithm, **{"fed.rounds": 4})
    out = tmp_path / "flower"
    first = run_flower_simulation(cfg.override({"fed.rounds": 2}), out, progress=False)   # the "killed" server
    assert [r["round"] for r in first.records] == [1, 2] and load_checkpoint(out).server_round == 2
    config_before = (out / "config.json").read_text()
    with pytest.raises(CheckpointError, match="train.lr"):      # refused before the grid is even touched
        run_server(None, cfg.override({"train.lr": cfg.train.lr * 2}), RunnerSettings(output_dir=str(out)))
    assert (out / "config.json").read_text() == config_before
    resumed = run_flower_simulation(cfg, out, progress=False)                             # the restart
    local = run_federated(cfg, checkpoint_dir=tmp_path / "inprocess")                     # uninterrupted
    assert [r["round"] for r in resumed.records] == [1, 2, 3, 4]
    # Rounds 1-2 are the first server's records, times included: a restart from scratch would retime them.
    assert resumed.records[:2] == first.records
    for a, b in zip(resumed.records, local.records):
        for key in sorted(set(b) - {"time", "round_seconds"}):
            assert_close(a[key], b[key], key)
    assert resumed.records[1]["time"] < resumed.records[2]["time"]     # the clock continued, not restarted
    sa, sb = final_state(out), final_state(tmp_path / "inprocess")
    assert max(float((sa[k] - sb[k]).abs().max()) for k in sa) <= 1e-6
    ca, cb = load_checkpoint(out), load_checkpoint(tmp_path / "inprocess")
    assert ca.server_round == 4
    assert_close(ca.memory.get("dro_weights"), cb.memory.get("dro_weights"), "dro_weights")
    assert ("anchor" in ca.memory) == ("anchor" in cb.memory) == (algorithm == "fedaid")
    for k in cb.memory.get("anchor", {}):
        assert float((ca.memory["anchor"][k] - cb.memory["anchor"][k]).abs().max()) <= 1e-6, k
    assert sorted(ca.client_states) == sorted(cb.client_states)           # MOON's kept models


def assert_close(a, b, where: str) -> None:
    """`a` equals `b`: the same structure and strings, numbers within 1e-6 (see the test above for why)."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys(), where
        for k in b:
            assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-6), where
    else:
        assert a == b, where


# --- deployment engine on localhost -----------------------------------------------------------------

def node_configs(manifest: Path) -> list[dict]:
    from fedaid_lite.data import load_manifest

    sites = load_manifest(manifest).site_names
    return [{"data-path": str(manifest), "site": s, "partition-id": i} for i, s in enumerate(sites)]


def run_config(manifest: Path, out: Path, **extra) -> dict:
    return {"data.manifest": str(manifest), "fed.algorithm": "fedaid", "fed.rounds": 2, "output-dir": str(out),
            "min-nodes": SITES, **extra}


def test_deployment_runs_fedaid_on_localhost(manifest, tmp_path):
    """SuperLink + three SuperNodes as subprocesses run two FedAID rounds via `flwr run`; the History lands in
    the output folder with valid DRO weights; only loopback sockets are used; every process is gone after."""
    import psutil

    out = tmp_path / "out"
    fed = LocalDeployment(tmp_path / "deploy", node_configs(manifest))
    started: list[int] = []
    try:
        fed.start()
        assert len(fed.workers) == SITES     # isolation="process": one long-lived ClientApp per SuperNode
        started = [p.pid for p in [fed.superlink, *fed.nodes, *fed.workers]]
        result = fed.run(APP, run_config(manifest, out), timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        for pid in started:   # the environment the processes really got: telemetry and update check off
            environ = psutil.Process(pid).environ()
            assert environ["FLWR_TELEMETRY_ENABLED"] == "0" and environ["FLWR_DISABLE_UPDATE_CHECK"] == "1"
        for pid in started:   # nothing talks to anything but 127.0.0.1
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                assert conn.laddr.ip == "127.0.0.1" and (not conn.raddr or conn.raddr.ip == "127.0.0.1"), conn
        started += [c.pid for pid in started for c in psutil.Process(pid).children(recursive=True)]
    finally:
        fed.stop()
    history = History.load(out / "history.json")
    assert [r["round"] for r in history.records] == [1, 2]
    for record in history.records:
        assert record["failed_clients"] == [] and len(record["clients"]) == SITES
        assert is_distribution(record["dro_weights"])
        assert record["metrics"]
    assert (out / "model" / "config.json").exists()
    assert not [pid for pid in started if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    # Each node's messages ran in its worker: query, 2 rounds x 2 train stages (round 1's scores ride on round
    # 2's first one), 1 closing evaluate. 7 would mean scoring still costs its own round-trip per round.
    for i in range(SITES):
        assert fed.log(f"worker-{i}").count(") done in ") == 6, fed.log(f"worker-{i}")[-2000:]


def test_deployment_in_one_process_matches_in_process_engine(manifest, tmp_path):
    """`in_process=("clients", "nodes", "server")` (notebook 08's small-machine deployment: only the SuperLink
    and `flwr run` are processes) runs FedAvg to the in-process engine's exact History and model, reports each
    round as it lands, and leaves no thread or process behind.

    Two traps it guards: flwr stamps a new message's sender from a process-wide `TaskIdentity`, so worker
    threads must not claim it (else the SuperLink refuses the server's messages as not its own); and every
    thread a run starts must end with `stop()` (else a notebook kernel keeps polling a dead SuperLink)."""
    import psutil

    from fedaid_lite.federated import run_federated

    cfg = tiny(manifest, "fedavg", **{"fed.rounds": 2})
    local = run_federated(cfg, checkpoint_dir=tmp_path / "inprocess")
    before = {t.ident for t in threading.enumerate()}
    seen: list[int] = []
    with LocalDeployment(tmp_path / "deploy", node_configs(manifest), in_process=("clients", "nodes", "server")) as fed:
        children = psutil.Process().children(recursive=True)
        assert [Path(c.cmdline()[1]).name for c in children] == ["flower-superlink"]
        result = fed.run(APP, to_run_config(cfg, output_dir="out", min_nodes=SITES), timeout=600,
                         on_round=lambda record: seen.append(record["round"]))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert seen == [1, 2]
    flower = History.load(tmp_path / "deploy" / "out" / "history.json")   # relative: the SuperLink's folder
    assert [r["failed_clients"] for r in flower.records] == [[], []]
    for a, b in zip(flower.records, local.records, strict=True):
        for key in sorted(set(b) - {"time", "round_seconds"}):
            assert a[key] == b[key], key
    sa, sb = final_state(tmp_path / "deploy" / "out"), final_state(tmp_path / "inprocess")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    deadline = time.monotonic() + 10       # daemon threads wind down within their poll interval
    while time.monotonic() < deadline and {t.ident for t in threading.enumerate()} - before:
        time.sleep(0.2)
    assert not [t.name for t in threading.enumerate() if t.ident not in before]


def test_deployment_rejects_bad_arguments(tmp_path):
    """Bad inputs fail at once with a message naming the fix, before any process starts."""
    from fedaid_lite.flower.worker import Worker, main

    with pytest.raises(ValueError, match="isolation must be one of"):
        LocalDeployment(tmp_path, [{"partition-id": 0}], isolation="thread")
    with pytest.raises(ValueError, match="one node config per site"):
        LocalDeployment(tmp_path, [])
    with pytest.raises(ValueError, match="host:port"):
        Worker("9094")
    with pytest.raises(ValueError, match="--insecure"):
        Worker("127.0.0.1:9094", insecure=False)
    with pytest.raises(SystemExit):
        main(["--runtime-api-address", "127.0.0.1:9094"])       # neither --insecure nor --root-certificates


def test_deployment_survives_a_supernode_killed_mid_run(manifest, tmp_path):
    """One SuperNode dies after round 1: round 2 completes with the other two, the History names the failed
    site, and the DRO weights stay a distribution. A failure here means one dead hospital stalls or crashes
    the whole federation."""
    out = tmp_path / "out"
    with LocalDeployment(tmp_path / "deploy", node_configs(manifest)) as fed:
        outcome: dict = {}
        runner = threading.Thread(target=lambda: outcome.update(
            result=fed.run(APP, run_config(manifest, out, **{"round-timeout": 120.0}), timeout=900)))
        runner.start()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and runner.is_alive():
            if (out / "history.json").exists() and json.loads((out / "history.json").read_text())["records"]:
                break
            time.sleep(0.5)
        fed.kill_node(SITES - 1)
        runner.join(timeout=900)
        result = outcome["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    history = History.load(out / "history.json")
    sites = history.site_names
    assert [r["round"] for r in history.records] == [1, 2]
    last = history.records[-1]
    assert last["failed_clients"] == [sites[-1]] and sites[-1] in last["errors"]
    assert last["clients"] == sites[:-1] and set(last["client_losses"]) == set(sites[:-1])
    assert is_distribution(last["dro_weights"])
