"""The dual encoder: shapes, masks, deterministic init, parameter groups, save/load safety."""

import json
from pathlib import Path

import pytest
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.model import ModelFileError, build_model, load_model, save_model

CFG = Experiment.tiny().model
VOCAB = 120


def _inputs(b=5, length=9, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(b, 1, size, size, generator=g)
    ids = torch.randint(5, VOCAB, (b, length), generator=g)
    mask = torch.ones(b, length, dtype=torch.long)
    mask[0, 6:] = 0
    ids[mask == 0] = 0
    return images, ids, mask


def test_forward_shapes_and_unit_norm():
    # Both towers must land in the shared embed_dim space, L2-normalised (cosine = dot product).
    model = build_model(CFG, VOCAB, seed=0)
    img, txt = model(*_inputs())
    assert img.shape == txt.shape == (5, CFG.embed_dim)
    assert torch.allclose(img.norm(dim=-1), torch.ones(5), atol=1e-5)
    assert torch.allclose(txt.norm(dim=-1), torch.ones(5), atol=1e-5)


def test_text_padding_is_ignored():
    # More padding, or garbage ids under the padding, must not change a report's embedding.
    model = build_model(CFG, VOCAB, seed=0)
    _, ids, mask = _inputs()
    base = model.encode_text(ids[:1, :6], mask[:1, :6])
    garbage = ids[:1].clone()
    garbage[0, 6:] = 17
    longer = torch.cat([ids[:1], torch.zeros(1, 5, dtype=torch.long)], dim=1)
    longer_mask = torch.cat([mask[:1], torch.zeros(1, 5, dtype=torch.long)], dim=1)
    assert torch.allclose(model.encode_text(garbage, mask[:1]), base, atol=1e-5)
    assert torch.allclose(model.encode_text(longer, longer_mask), base, atol=1e-5)


def test_other_image_sizes_work():
    # The learned token positions are interpolated, so a 96-px image still embeds.
    model = build_model(CFG, VOCAB, seed=0)
    assert model.encode_image(torch.randn(2, 1, 96, 96)).shape == (2, CFG.embed_dim)


def test_same_seed_same_weights_and_global_rng_untouched():
    # Init must be reproducible from `seed` and must not consume the caller's global RNG stream.
    state = torch.random.get_rng_state()
    a, b = build_model(CFG, VOCAB, seed=3), build_model(CFG, VOCAB, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    c = build_model(CFG, VOCAB, seed=4)
    for (n, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), n
    assert any(not torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))


def test_parameter_groups_partition_the_model():
    # FedAID freezes "encoders" and trains "alignment": together they must cover every parameter once.
    model = build_model(CFG, VOCAB, seed=0)
    groups = model.parameter_groups()
    names = [n for n, _ in model.named_parameters()]
    assert sorted(groups["encoders"] + groups["alignment"]) == sorted(names)
    assert all(n.startswith(("image_encoder.", "text_encoder.")) for n in groups["encoders"])
    assert "logit_scale" in groups["alignment"]
    assert {n.split(".")[0] for n in groups["alignment"]} == {
        "image_align", "text_align", "image_proj", "text_proj", "logit_scale"}


def test_no_batchnorm_anywhere():
    # BatchNorm statistics cannot be averaged meaningfully across non-IID hospitals.
    model = build_model(CFG, VOCAB, seed=0)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_train_and_eval_mode_agree():
    # With dropout 0 the anchor (eval mode) and the live model (train mode) must compute the same thing.
    model = build_model(CFG, VOCAB, seed=0)
    x = _inputs()
    with torch.no_grad():
        e = model.eval()(*x)
        t = model.train()(*x)
    assert torch.allclose(e[0], t[0], atol=1e-6) and torch.allclose(e[1], t[1], atol=1e-6)


def test_scale_is_clamped():
    # The temperature must not run away: exp(logit_scale) is capped at exp(logit_scale_max).
    model = build_model(CFG, VOCAB, seed=0)
    with torch.no_grad():
        model.logit_scale.fill_(9.0)
    assert torch.isclose(model.scale(), torch.tensor(CFG.logit_scale_max).exp())
    model.clamp_logit_scale_()
    assert float(model.logit_scale.detach()) == pytest.approx(CFG.logit_scale_max)


def test_frozen_encoders_get_no_gradient():
    # set_trainable("alignment") must stop every gradient at the encoders and still train the rest.
    model = build_model(CFG, VOCAB, seed=0)
    model.set_trainable("alignment")
    img, txt = model(*_inputs())
    (img.sum() + txt.sum() + model.scale()).backward()
    groups = model.parameter_groups()
    params = dict(model.named_parameters())
    assert all(params[n].grad is None for n in groups["encoders"])
    assert all(params[n].grad is not None for n in groups["alignment"])
    with pytest.raises(ValueError, match="trainable"):
        model.set_trainable("heads")


def test_save_load_roundtrip_gives_identical_embeddings(tmp_path):
    # A reloaded model must embed exactly as the saved one did.
    model = build_model(CFG, VOCAB, seed=0)
    with torch.no_grad():
        model.logit_scale.fill_(3.0)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    x = _inputs()
    with torch.no_grad():
        for a, b in zip(model(*x), again(*x)):
            assert torch.equal(a, b)
    assert float(again.logit_scale.detach()) == 3.0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["vocab_size"] == VOCAB


def test_tampered_truncated_or_missing_files_are_refused(tmp_path):
    # Each corruption must give ModelFileError with a message naming the problem, never a crash or pickle.
    save_model(build_model(CFG, VOCAB, seed=0), tmp_path / "m")
    weights, cfg = tmp_path / "m" / "model.safetensors", tmp_path / "m" / "config.json"
    blob = weights.read_bytes()
    weights.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(tmp_path / "m")
    weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(tmp_path / "m")
    weights.write_bytes(blob)
    good = cfg.read_text()
    cfg.write_text(good[:20])
    with pytest.raises(ModelFileError, match="not a valid model config"):
        load_model(tmp_path / "m")
    meta = json.loads(good)
    meta["model"]["hidden_size"] = 48       # shapes no longer fit the weights (hash still matches)
    cfg.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="does not fit"):
        load_model(tmp_path / "m")
    cfg.unlink()
    with pytest.raises(ModelFileError, match="missing"):
        load_model(tmp_path / "m")


def test_model_code_never_unpickles():
    # Loading untrusted files must not go through pickle.
    src = (Path(__file__).parents[1] / "fedaid_lite" / "model.py").read_text()
    assert "torch.load(" not in src and "import pickle" not in src and "pickle.load" not in src
