"""Algorithms: invariants of the client objectives and server aggregations (no evaluation needed)."""

import pytest
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.dro import in_ball
from fedaid_lite.federated import _train_round, build_federation
from fedaid_lite.model import build_model, is_alignment_key
from fedaid_lite.protocol import ClientRuntime, ClientUpdate, batch_seed, clone_state, weighted_average
from fedaid_lite.registry import make_algorithm
from fedaid_lite.rounds import RoundState

torch.set_num_threads(1)
HOSPITALS = None   # the conftest's 3-site fake federation, set once for this module by `_hospitals`
BASE = Experiment.tiny().override({"train.local_steps": 3, "fed.stage1_steps": 1})


@pytest.fixture(autouse=True, scope="module")
def _hospitals(fake_hospitals_3x40):
    global HOSPITALS
    HOSPITALS = fake_hospitals_3x40


def _setup(cfg):
    algo = make_algorithm(cfg, HOSPITALS.num_sites)
    fed = build_federation(cfg, HOSPITALS, pooled=algo.pooled)
    model = build_model(cfg.model, len(HOSPITALS.tokenizer), cfg.seed, image_size=32)
    runtime = ClientRuntime(model, torch.device("cpu"), cfg)
    state = clone_state(model)
    memory = algo.init_memory(state, [len(t) for t in fed.train])
    return algo, fed, runtime, state, memory


def _rounds(cfg, rounds=2):
    """Run `rounds` rounds through the protocol (train, aggregate, score, end_round); return the state."""
    algo, fed, runtime, state, memory = _setup(cfg)
    clients = {}
    for r in range(1, rounds + 1):
        new, _ = _train_round(algo, runtime, fed, r, [0, 1, 2], RoundState(state, memory, clients))
        state, memory, clients = new.global_state, new.memory, dict(new.client_states)
        payload = algo.broadcast(state, memory)
        scores = {k: algo.client_score(runtime, payload, fed.holdout[k], clients.get(k)) for k in range(3)}
        memory = algo.end_round(r, state, scores, memory)
    return state, memory


def _assert_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_identical_client_states_aggregate_to_themselves():
    """Σ w_k θ = θ exactly for any weights; otherwise aggregation drifts a model nobody changed."""
    state = clone_state(build_model(BASE.model, 300, 0, image_size=32))
    _assert_equal(weighted_average([state] * 3, [0.2, 0.3, 0.5]), state)
    fedaid = make_algorithm(BASE.override({"fed.algorithm": "fedaid"}), 3)
    memory = fedaid.init_memory(state, [10, 20, 35])
    memory["dro_weights"] = [0.5, 0.1, 0.4]
    updates = [ClientUpdate(k, state, 10, 0.0) for k in range(3)]
    for stage in fedaid.stages(1):
        new, memory = fedaid.aggregate(stage, state, updates, memory)
        _assert_equal(new, state)


def test_fedprox_with_mu_zero_is_fedavg():
    """FedProx(μ=0) gives FedAvg's weights bit for bit; otherwise FedProx changes more than its penalty."""
    a, _ = _rounds(BASE.override({"fed.algorithm": "fedavg"}))
    b, _ = _rounds(BASE.override({"fed.algorithm": "fedprox", "fed.prox_mu": 0.0}))
    _assert_equal(a, b)
    c, _ = _rounds(BASE.override({"fed.algorithm": "fedprox", "fed.prox_mu": 1.0}), rounds=1)
    assert not torch.equal(a["text_proj.2.weight"], c["text_proj.2.weight"])


def test_fedaid_without_binding_dro_and_stage1_is_fedavg():
    """FedAID with λ_bind=0, λ=p and one stage equals FedAvg; otherwise FedAID differs beyond its paper."""
    a, _ = _rounds(BASE.override({"fed.algorithm": "fedavg"}))
    b, _ = _rounds(BASE.override({"fed.algorithm": "fedaid", "fed.bind_lambda": 0.0, "fed.dro": False,
                                  "fed.two_stage": False}))
    _assert_equal(a, b)


def test_bind_is_zero_when_model_equals_anchor():
    """ℓ_bind = 0 at θ = θ̄ (train-mode model vs eval-mode anchor); otherwise binding pulls a model that is on target."""
    algo, fed, runtime, state, memory = _setup(BASE.override({"fed.algorithm": "fedaid"}))
    stage = algo.stages(1)[1]
    payload = algo.broadcast(state, memory)
    runtime.model.load_state_dict(state)
    runtime.model.train()
    _, logs = algo.objective(stage, runtime, payload, None)(runtime.model, fed.train[0].batch(range(8)))
    assert logs["bind"] == pytest.approx(0.0, abs=1e-10)


def test_no_gradient_reaches_anchor_nor_stage1_encoders():
    """Stage 1 leaves encoders untouched and the anchor never gets a gradient; otherwise 'frozen' is not frozen."""
    algo, fed, runtime, state, memory = _setup(BASE.override({"fed.algorithm": "fedaid", "fed.bind_lambda": 5.0}))
    align, adapt = algo.stages(1)
    assert (align.trainable, adapt.trainable) == ("alignment", "all")
    payload = algo.broadcast(state, memory)
    up = algo.client_train(align, runtime, payload, fed.train[0], client_id=0, seed=1)
    for k, v in up.state.items():
        assert torch.equal(v, state[k]) != is_alignment_key(k) or k == "logit_scale", k
    anchor = runtime.frozen("anchor", payload["anchor"])
    algo.client_train(adapt, runtime, payload, fed.train[0], client_id=0, seed=2)
    assert all(p.grad is None and not p.requires_grad for p in anchor.parameters())
    _assert_equal(clone_state(anchor), memory["anchor"])


def test_anchor_refresh_order():
    """After stage 1 the anchor takes the aggregate's g,h; after stage 2 its encoders; otherwise the 'ideal' is stale."""
    algo, fed, runtime, state, memory = _setup(BASE.override({"fed.algorithm": "fedaid"}))
    align, adapt = algo.stages(1)
    ups = [algo.client_train(align, runtime, algo.broadcast(state, memory), fed.train[k], client_id=k, seed=k)
           for k in range(3)]
    s1, m1 = algo.aggregate(align, state, ups, memory)
    for k in state:
        assert torch.equal(m1["anchor"][k], s1[k] if is_alignment_key(k) else state[k])
    ups = [algo.client_train(adapt, runtime, algo.broadcast(s1, m1), fed.train[k], client_id=k, seed=k)
           for k in range(3)]
    s2, m2 = algo.aggregate(adapt, s1, ups, m1)
    for k in state:
        assert torch.equal(m2["anchor"][k], s1[k] if is_alignment_key(k) else s2[k])


def test_dro_weights_persist_and_move_toward_highest_loss():
    """λ gains on the worst client, stays in the χ² ball, and carries over rounds; otherwise the min-max is not played."""
    cfg = BASE.override({"fed.algorithm": "fedaid"})
    algo = make_algorithm(cfg, 3)
    memory = algo.init_memory({}, [10, 20, 30])
    m1 = algo.end_round(1, {}, {0: 1.0, 1: 3.0, 2: 1.0}, memory)
    assert m1["dro_weights"][1] > memory["p"][1] and in_ball(m1["dro_weights"], memory["p"], cfg.fed.dro_rho)
    m2 = algo.end_round(2, {}, {0: 1.0, 1: 3.0, 2: 1.0}, m1)
    assert m2["dro_weights"][1] >= m1["dro_weights"][1]
    partial = algo.end_round(2, {}, {0: 5.0, 2: 1.0}, m1)   # client 1 did not answer: keeps its weight
    assert partial["dro_weights"][1] == pytest.approx(m1["dro_weights"][1])
    _, mem = _rounds(cfg)
    assert mem["dro_weights"] != mem["p"] and in_ball(mem["dro_weights"], mem["p"], cfg.fed.dro_rho)
    off = make_algorithm(cfg.override({"fed.dro": False}), 3)
    assert off.end_round(1, {}, {0: 9.0}, off.init_memory({}, [1, 1, 2]))["p"] == [0.25, 0.25, 0.5]


def test_moon_keeps_the_previous_local_model():
    """MOON stores each client's model and uses it as the negative next round; otherwise its term never acts."""
    algo, fed, runtime, state, memory = _setup(BASE.override({"fed.algorithm": "moon"}))
    stage = algo.stages(1)[0]
    payload = algo.broadcast(state, memory)
    first = algo.client_train(stage, runtime, payload, fed.train[0], client_id=0, seed=1)
    assert "moon" not in first.logs and first.client_state is not None
    second = algo.client_train(stage, runtime, payload, fed.train[0], client_id=0, seed=2,
                               client_state=first.client_state)
    assert second.logs["moon"] > 0


def test_local_and_centralized_shapes():
    """Local never shares and reports every client's model; Centralized takes K·local_steps steps; otherwise comparisons are unfair."""
    local = make_algorithm(BASE.override({"fed.algorithm": "local"}), 3)
    state = {"w": torch.zeros(2)}
    assert local.aggregate(local.stages(1)[0], state, [ClientUpdate(0, {"w": torch.ones(2)}, 5, 0.0)], {})[0] is state
    assert len(local.eval_states(state, {0: state, 2: state})) == 2
    central = make_algorithm(BASE.override({"fed.algorithm": "centralized"}), 3)
    assert central.pooled and central.stages(1)[0].steps == 3 * BASE.train.local_steps
    fedaid = make_algorithm(BASE.override({"fed.algorithm": "fedaid"}), 3)
    assert sum(s.steps for s in fedaid.stages(1)) == BASE.train.local_steps


def test_batch_seed_is_a_pure_function():
    """Seeds depend only on (seed, round, client, stage); otherwise resume could not be exact."""
    assert batch_seed(0, 1, 2, 0) == batch_seed(0, 1, 2, 0)
    seeds = {batch_seed(s, r, k, st) for s in (0, 1) for r in (1, 2) for k in range(3) for st in (0, 1)}
    assert len(seeds) == 24 and all(0 <= s < 2**63 for s in seeds)
