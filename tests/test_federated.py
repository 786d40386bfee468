"""The in-process engine: records, checkpoint/resume, stop, divergence, sampling (overhead: benchmarks/)."""

import threading

import numpy as np
import pytest
import torch

import fedaid_lite.train as train_mod
from fedaid_lite.checkpoint import CheckpointError, load_checkpoint
from fedaid_lite.config import Experiment
from fedaid_lite.federated import run_federated, split_holdout
from fedaid_lite.history import History
from fedaid_lite.model import load_model
from fedaid_lite.names import label
from fedaid_lite.rounds import TrainedState, TrainingDiverged, sample_clients

torch.set_num_threads(1)
HOSPITALS = EVALSET = None   # the conftest's 3-site fake federation and its eval set, set once by `_data`
BASE = Experiment.tiny().override({"fed.rounds": 3, "train.local_steps": 3, "fed.stage1_steps": 1,
                                   "train.device": "cpu", "fed.algorithm": "fedaid"})


@pytest.fixture(autouse=True, scope="module")
def _data(fake_hospitals_3x40, fake_evalset):
    global HOSPITALS, EVALSET
    HOSPITALS, EVALSET = fake_hospitals_3x40, fake_evalset


def _run(cfg, **kw):
    return run_federated(cfg, hospitals=HOSPITALS, evalset=EVALSET, **kw)


def _numbers(history: History):
    return [(r["round"], r["client_losses"], r["train_losses"], r["dro_weights"], r["metrics"])
            for r in history.records]


def test_records_and_files(tmp_path):
    """Each round records losses, DRO weights, metrics and time, and the model is saved; otherwise curves and reports break."""
    seen = []
    h = _run(BASE, on_round=lambda record, trained: seen.append((record, trained)), checkpoint_dir=tmp_path)
    assert [r["round"] for r in h.records] == [1, 2, 3] and len(seen) == 3
    rec = h.records[-1]
    assert set(rec["client_losses"]) == set(HOSPITALS.site_names) and rec["metrics"]
    assert sum(rec["dro_weights"].values()) == pytest.approx(1.0) and rec["time"] > 0
    assert load_model(tmp_path / "model") is not None and History.load(tmp_path / "history.json").records == h.records
    assert len(list(tmp_path.glob("checkpoint-r*.safetensors"))) == 1


def test_progress_bar_stays_with_the_last_score(capsys):
    """The bar is left in place with the last semantic P@5; otherwise a finished cell shows nothing of its runs."""
    h = _run(BASE.override({"fed.rounds": 1}), progress=True)
    err = capsys.readouterr().err
    assert err.endswith("\n")                       # a bar that is cleared on close ends on "\r", not a new line
    last = err.rstrip("\n").split("\r")[-1]
    assert "1/1" in last and f"semantic P@5 {h.records[-1]['metrics']['sem_p5']:.3f}" in last
    assert last.startswith(f"{label(BASE.fed.algorithm)}:")   # named as a student reads it ("FedAID", not "fedaid")


def test_on_round_and_the_result_hold_the_trained_state(tmp_path):
    """`on_round` gets each round's state and the run returns the final model, equal to what is on disk;
    otherwise callers (dashboard, ideal, compare) must reload from disk what was just trained."""
    states = []
    run = _run(BASE, on_round=lambda record, trained: states.append(trained), checkpoint_dir=tmp_path)
    assert all(isinstance(t, TrainedState) for t in states) and [t.server_round for t in states] == [1, 2, 3]
    final = load_checkpoint(tmp_path)
    for key, value in final.global_state.items():
        assert torch.equal(states[-1].global_state[key], value), key
        assert torch.equal(run.trained.global_state[key], value), key
    saved = load_model(tmp_path / "model").state_dict()
    assert all(torch.equal(run.model.state_dict()[k], v) for k, v in saved.items())
    assert states[0].state.memory["dro_weights"] != states[-1].state.memory["dro_weights"]


def test_resume_after_round_2_equals_uninterrupted(tmp_path):
    """Stopping after round 2 and resuming gives exactly the uninterrupted numbers and weights; otherwise resume is lossy."""
    full = _run(BASE, checkpoint_dir=tmp_path / "full")
    _run(BASE.override({"fed.rounds": 2}), checkpoint_dir=tmp_path / "part")
    resumed = _run(BASE, checkpoint_dir=tmp_path / "part")
    assert _numbers(resumed) == _numbers(full)
    times = [r["time"] for r in resumed.records]
    assert times == sorted(times), "a resumed run's clock continues from its last record"
    a, b = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "part")
    assert a.memory["dro_weights"] == b.memory["dro_weights"] != a.memory["p"]
    for k in a.global_state:
        assert torch.equal(a.global_state[k], b.global_state[k]), k
        assert torch.equal(a.memory["anchor"][k], b.memory["anchor"][k]), k


def test_resume_refuses_a_different_config(tmp_path):
    """A checkpoint made with another config is refused by name; otherwise two runs would be silently mixed."""
    _run(BASE.override({"fed.rounds": 1}), checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="fed.bind_lambda"):
        _run(BASE.override({"fed.bind_lambda": 2.0}), checkpoint_dir=tmp_path)


def test_stop_event_ends_the_run_cleanly(tmp_path):
    """Setting stop mid-round returns the completed rounds only; otherwise the dashboard's Stop would hang or corrupt."""
    stop = threading.Event()
    h = _run(BASE.override({"fed.rounds": 5}), stop=stop, checkpoint_dir=tmp_path,
             on_round=lambda rec, _trained: stop.set() if rec["round"] == 1 else None)
    assert h.last_round == 1 and load_checkpoint(tmp_path).server_round == 1
    stop.set()
    assert _run(BASE, stop=stop).records == []


def test_nan_stops_and_keeps_the_last_good_round(tmp_path, monkeypatch):
    """A NaN loss in round 2 raises TrainingDiverged with round 1 kept on disk; otherwise a blow-up destroys the run."""
    real = train_mod.clip_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 3 * BASE.train.local_steps + 3 else loss

    cfg = BASE.override({"fed.algorithm": "fedavg"})
    monkeypatch.setattr(train_mod, "clip_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="round 2") as info:
        _run(cfg, checkpoint_dir=tmp_path)
    assert info.value.history.last_round == 1 and load_checkpoint(tmp_path).server_round == 1
    assert (tmp_path / "model" / "model.safetensors").is_file()
    with pytest.raises(TrainingDiverged):
        _run(cfg.override({"train.lr": 1.0, "train.grad_clip": 0.0}))


def test_sampling_and_holdout_are_seeded():
    """Client sampling and held-out splits depend only on the config; otherwise reruns and resumes differ."""
    cfg = BASE.override({"fed.fraction": 0.5})
    assert sample_clients(cfg, 3, 10) == sample_clients(cfg, 3, 10) and len(sample_clients(cfg, 3, 10)) == 5
    assert sample_clients(BASE, 3, 4) == [0, 1, 2, 3]
    tr, ho = split_holdout(40, 0.1, 0, 1)
    assert len(ho) == 4 and not set(tr) & set(ho) and len(tr) + len(ho) == 40
    h = _run(cfg.override({"fed.rounds": 2}))
    assert all(len(r["clients"]) == 2 for r in h.records)


def test_all_algorithms_run():
    """Every algorithm completes a round with finite losses; otherwise `compare` fails mid-grid."""
    for name in ("centralized", "local", "fedprox", "moon"):
        h = _run(BASE.override({"fed.algorithm": name, "fed.rounds": 2}))
        assert h.last_round == 2 and all(np.isfinite(v) for v in h.records[-1]["client_losses"].values())
        assert h.records[-1]["metrics"]


def test_stop_mid_round_discards_the_partial_round(monkeypatch):
    """Stop set during a local step ends the run at that step, keeping only whole rounds; otherwise Stop waits a round or keeps half a round."""
    stop = threading.Event()
    real = train_mod.clip_loss
    calls = {"n": 0}

    def counting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 * BASE.train.local_steps + 3 + 2:    # round 2, second step of client 0
            stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "clip_loss", counting)
    h = _run(BASE.override({"fed.algorithm": "fedavg", "fed.eval_every": 100}), stop=stop)
    assert h.last_round == 1 and calls["n"] == 3 * BASE.train.local_steps + 3 + 2


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    """A modified tensor file is refused with the folder named; otherwise a corrupt checkpoint would resume silently."""
    _run(BASE.override({"fed.rounds": 1, "fed.algorithm": "fedavg"}), checkpoint_dir=tmp_path)
    tensors = next(tmp_path.glob("checkpoint-r*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path)
