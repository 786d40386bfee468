"""train_local / embed: it learns, counts steps exactly, freezes what it is told, fails loudly on NaN."""

import numpy as np
import pytest
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.data.tensors import to_tensors
from fedaid_lite.losses import clip_loss
from fedaid_lite.model import build_model
from fedaid_lite.train import (NonFiniteLossError, batch_indices, clip_objective, configure_threads, embed,
                               resolve_device, train_local)

CFG = Experiment.tiny()
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup(fake_hospitals):
    torch.set_num_threads(1)
    h = fake_hospitals(n_train=32)
    data = to_tensors(h.pooled("train"), h.tokenizer, CFG.model.max_text_len)
    return h, data


def _model(h, seed=0):
    return build_model(CFG.model, len(h.tokenizer), seed=seed, image_size=32)


def _eval_loss(model, data):
    with torch.no_grad():
        b = data.batch(range(len(data)))
        return float(clip_loss(*model(b.images, b.input_ids, b.attention_mask), model.scale(), b.text_ids))


def test_a_tiny_run_lowers_the_loss(setup):
    # If the loss on the training pairs does not drop, the model, loss or optimizer is broken.
    h, data = setup
    model = _model(h)
    before = _eval_loss(model, data)
    result = train_local(model, data, 40, CFG.train, CPU, seed=0)
    assert len(result.losses) == 40
    assert _eval_loss(model, data) < before - 0.5
    assert set(result.logs) == {"clip", "scale"}
    assert not model.training


def test_alignment_only_training_leaves_encoders_untouched(setup):
    # FedAID stage 1: encoder weights must not move; alignment weights must; flags restored afterwards.
    h, data = setup
    model = _model(h)
    groups = model.parameter_groups()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_local(model, data, 3, CFG.train, CPU, seed=0, trainable="alignment")
    now = dict(model.named_parameters())
    assert all(torch.equal(now[n], start[n]) for n in groups["encoders"])
    assert any(not torch.equal(now[n], start[n]) for n in groups["alignment"])
    assert all(p.requires_grad for p in model.parameters())


def test_tower_lr_scale_slows_or_freezes_only_the_towers(setup):
    # If this fails, train.tower_lr_scale moves the wrong parameters (or the alignment layers stop learning).
    h, data = setup
    start = {n: p.detach().clone() for n, p in _model(h).named_parameters()}
    moved = {}
    for scale in (1.0, 0.1, 0.0):
        model = _model(h)
        train_local(model, data, 3, CFG.override({"train.tower_lr_scale": scale}).train, CPU, seed=0)
        groups = model.parameter_groups()
        now = dict(model.named_parameters())
        moved[scale] = {g: sum(float((now[n].detach() - start[n]).abs().sum()) for n in names)
                        for g, names in groups.items()}
    assert moved[0.0]["encoders"] == 0.0 and moved[0.0]["alignment"] > 0
    assert 0 < moved[0.1]["encoders"] < moved[1.0]["encoders"]


def test_same_seed_same_model_different_seed_different_model(setup):
    # Runs must be reproducible from (init seed, batch seed) and the batch seed must matter.
    h, data = setup
    a, b, c = _model(h), _model(h), _model(h)
    train_local(a, data, 3, CFG.train, CPU, seed=5)
    train_local(b, data, 3, CFG.train, CPU, seed=5)
    train_local(c, data, 3, CFG.train, CPU, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_batches_are_drawn_without_replacement_within_a_pass():
    # Each pass is a permutation cut into full batches; fewer rows than a batch means all rows.
    batches = batch_indices(10, 4, 5, seed=0)
    assert [len(b) for b in batches] == [4] * 5
    first_pass = torch.cat(batches[:2])
    assert len(set(first_pass.tolist())) == 8
    assert [sorted(b.tolist()) for b in batch_indices(3, 8, 2, seed=1)] == [[0, 1, 2], [0, 1, 2]]
    assert [b.tolist() for b in batch_indices(10, 4, 5, seed=0)] == [b.tolist() for b in batches]
    with pytest.raises(ValueError, match="empty"):
        batch_indices(0, 4, 1, seed=0)


def test_nan_loss_names_the_step_and_keeps_the_weights(setup):
    # A NaN at step 3 must raise before step 3 changes anything: the model holds step-2 weights.
    h, data = setup
    model, twin = _model(h), _model(h)
    calls = {"n": 0}

    def flaky(m, batch):
        calls["n"] += 1
        loss, logs = clip_objective(m, batch)
        return (loss * float("nan") if calls["n"] == 3 else loss), logs

    with pytest.raises(NonFiniteLossError, match="step 3 of 5") as err:
        train_local(model, data, 5, CFG.train, CPU, flaky, seed=0)
    assert isinstance(err.value, ValueError) and err.value.step == 3
    train_local(twin, data, 2, CFG.train, CPU, seed=0)   # same batches for steps 1-2
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), twin.parameters()))
    assert not model.training


def test_embed_returns_float32_unit_rows(setup):
    # Metrics expect numpy float32 (N, D), L2-normalised, in data order.
    h, data = setup
    model = _model(h)
    img, txt = embed(model, data, CPU, batch_size=7)
    assert img.dtype == txt.dtype == np.float32 and img.shape == txt.shape == (len(data), CFG.model.embed_dim)
    assert np.allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    one, _ = embed(model, data.subset([3]), CPU)
    assert np.allclose(one[0], img[3], atol=1e-5)


def test_devices_and_threads():
    # "auto" always resolves; asking for a missing accelerator is a clear error; threads are applied.
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    before = torch.get_num_threads()
    configure_threads(1)
    assert torch.get_num_threads() == 1
    configure_threads(before)
