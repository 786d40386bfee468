"""Pretrained towers: the shipped checkpoints, loading by token, the public corpus's isolation, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fedaid_lite.cli import main
from fedaid_lite.config import DataConfig, Experiment
from fedaid_lite.data import make_hospitals
from fedaid_lite.data.manifest import verify_sums
from fedaid_lite.data.tokenizer import train_tokenizer
from fedaid_lite.model import build_model
from fedaid_lite.pretrain import (SAMPLE_DIR, WEIGHTS_FILE, PretrainConfig, PretrainedError, checkpoint_path,
                                  init_model, load_pretrained, pretrain, public_data_config)
from safetensors.torch import load_file

TINY = Experiment.tiny()
QUICK = PretrainConfig(n_per_site=12, image_steps=4, text_steps=4, batch_size=8)


def _tokenizer():
    return train_tokenizer(["no pleural effusion. heart size is normal.", "large left pleural effusion."], 200)


def test_shipped_checkpoints_match_their_checksums():
    """If this fails, a shipped checkpoint was edited without re-running `make pretrained`."""
    assert (SAMPLE_DIR / "SHA256SUMS").is_file()
    assert verify_sums(SAMPLE_DIR) == []
    listed = (SAMPLE_DIR / "SHA256SUMS").read_text()
    for preset in ("default", "tiny"):
        assert f"{preset}/{WEIGHTS_FILE}" in listed


@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_presets_start_from_the_shipped_towers(preset):
    """If this fails, the default config no longer loads its shipped checkpoint (offline, from the repo)."""
    cfg = Experiment.preset(preset)
    assert cfg.model.init == "pretrained" and checkpoint_path(cfg.model) == SAMPLE_DIR / preset
    tok = _tokenizer()
    model = init_model(cfg, tok, image_size=cfg.data.image_size)
    shipped = load_file(str(SAMPLE_DIR / preset / WEIGHTS_FILE))
    state = model.state_dict()
    for key, value in shipped.items():
        if "word_embeddings" not in key and "position_embeddings" not in key:
            assert torch.equal(state[key], value), key
    # Alignment blocks and heads are not pretrained: they are exactly the scratch initialisation.
    scratch = build_model(cfg.model, len(tok), cfg.seed, image_size=cfg.data.image_size).state_dict()
    assert torch.equal(state["image_proj.0.weight"], scratch["image_proj.0.weight"])
    assert not torch.equal(state["image_encoder.net.0.weight"], scratch["image_encoder.net.0.weight"])


def test_word_embeddings_follow_the_token_not_the_index(tmp_path):
    """If this fails, a run whose tokenizer differs from the public one gets the wrong pretrained word rows."""
    out = pretrain(TINY, tmp_path / "pt", QUICK)
    source = load_file(str(out / WEIGHTS_FILE))["text_encoder.embeddings.word_embeddings.weight"]
    public_vocab = json.loads((out / "vocab.json").read_text())
    tok = _tokenizer()
    model = load_pretrained(build_model(TINY.model, len(tok), 0), tok, out)
    rows = model.state_dict()["text_encoder.embeddings.word_embeddings.weight"]
    shared = [t for t in tok.get_vocab() if t in public_vocab]
    assert "effusion" in shared
    for token in shared:
        assert torch.equal(rows[tok.get_vocab()[token]], source[public_vocab[token]]), token


def test_pretraining_is_deterministic(tmp_path):
    """If this fails, `make pretrained` no longer regenerates the shipped checkpoints byte for byte."""
    a = pretrain(TINY, tmp_path / "a", QUICK)
    b = pretrain(TINY, tmp_path / "b", QUICK)
    digest = [hashlib.sha256((d / WEIGHTS_FILE).read_bytes()).hexdigest() for d in (a, b)]
    assert digest[0] == digest[1]


def test_text_objectives_change_only_the_text_tower(tmp_path):
    """If this fails, the research option `text_objective` (a findings labeller instead of masked-LM) leaks
    into the image tower, or an unknown objective is accepted silently."""
    mlm = load_file(str(pretrain(TINY, tmp_path / "mlm", QUICK) / WEIGHTS_FILE))
    labeller = load_file(str(pretrain(TINY, tmp_path / "find", dataclasses.replace(QUICK, text_objective="findings"))
                             / WEIGHTS_FILE))
    assert all(torch.equal(mlm[k], labeller[k]) for k in mlm if k.startswith("image_encoder."))
    assert not all(torch.equal(mlm[k], labeller[k]) for k in mlm if k.startswith("text_encoder."))
    with pytest.raises(ValueError, match="text_objective"):
        PretrainConfig(text_objective="contrastive")


def test_simclr_image_objective_sees_no_labels_and_changes_only_the_image_tower(tmp_path):
    """If this fails, the self-supervised image option reads the findings (it must not), does not train the
    image tower, or the CLI lets --shipped write towers that are not the shipped ones. (The text tower is not
    compared: its stage draws the masked-LM head and dropout from the RNG the image stage advanced.)"""
    from fedaid_lite.pretrain_objectives import augment, pretrain_image

    ssl = dataclasses.replace(QUICK, image_objective="simclr")
    sup = load_file(str(pretrain(TINY, tmp_path / "sup", QUICK) / WEIGHTS_FILE))
    out = pretrain(TINY, tmp_path / "ssl", ssl)
    simclr = load_file(str(out / WEIGHTS_FILE))
    assert not all(torch.equal(sup[k], simclr[k]) for k in sup if k.startswith("image_encoder."))
    meta = json.loads((out / "pretrained.json").read_text())
    assert "image_simclr" in meta["final_loss"] and "SimCLR" in meta["objectives"]["image"]
    images = torch.rand(16, 1, TINY.data.image_size, TINY.data.image_size)
    weights = []
    for labels in (torch.zeros(16, 9), torch.ones(16, 9)):          # the labels must not matter
        model = build_model(TINY.model, 50, 0, image_size=TINY.data.image_size)
        pretrain_image(model, images, labels, dataclasses.replace(ssl, image_steps=2, batch_size=8))
        weights.append(model.image_encoder.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    view = augment(images, torch.Generator().manual_seed(0))
    assert view.shape == images.shape and not torch.equal(view, images)
    with pytest.raises(ValueError, match="image_objective"):
        PretrainConfig(image_objective="mae")
    assert main(["pretrain", "--shipped", "--image-objective", "simclr"]) == 2


def test_no_hospital_case_is_in_the_public_corpus():
    """If this fails, the public corpus shares a case (image or seed) with a federated hospital: leakage."""
    hospitals = make_hospitals(DataConfig())
    public = make_hospitals(public_data_config(DataConfig()))

    def digests(data):
        return {hashlib.sha256(np.ascontiguousarray(im).tobytes()).hexdigest() for im in data.images}

    def seeds(data):
        return {m["seed"] for m in data.meta}

    fed_sets = [*hospitals.train, *hospitals.val, *hospitals.test, hospitals.global_test]
    fed_images = set().union(*(digests(d) for d in fed_sets))
    fed_seeds = set().union(*(seeds(d) for d in fed_sets))
    for split in (public.train, public.val, public.test):
        for data in split:
            assert not digests(data) & fed_images
            assert not seeds(data) & fed_seeds


def test_scratch_init_skips_the_checkpoint(tmp_path):
    """If this fails, model.init=scratch no longer gives the plain random initialisation (or needs a file)."""
    cfg = TINY.override({"model.init": "scratch", "model.pretrained": str(tmp_path / "absent")})
    tok = _tokenizer()
    a = init_model(cfg, tok, image_size=32).state_dict()
    b = build_model(cfg.model, len(tok), cfg.seed, image_size=32).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_tampered_or_mismatched_checkpoints_say_what_to_do(tmp_path):
    """If this fails, a broken checkpoint gives a traceback instead of one line naming the fix."""
    tok = _tokenizer()
    with pytest.raises(PretrainedError, match="missing.*model.init=scratch"):
        init_model(TINY.override({"model.pretrained": str(tmp_path / "absent")}), tok, 32)
    bad = tmp_path / "bad"
    shutil.copytree(SAMPLE_DIR / "tiny", bad)
    with open(bad / WEIGHTS_FILE, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(PretrainedError, match="sha256"):
        init_model(TINY.override({"model.pretrained": str(bad)}), tok, 32)
    wide = TINY.override({"model.hidden_size": 48, "model.pretrained": str(SAMPLE_DIR / "tiny")})
    with pytest.raises(PretrainedError, match="model.hidden_size=48"):
        init_model(wide, tok, 32)


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path, capsys):
    """If this fails, `fedaid-lite run` with a bad model.pretrained exits with a traceback, not status 2."""
    code = main(["run", "--algorithm", "fedavg", "--preset", "tiny", "--quiet", "--out", str(tmp_path / "r"),
                 "--set", f"model.pretrained={tmp_path / 'nowhere'}", "--set", "fed.rounds=1"])
    err = capsys.readouterr().err
    assert code == 2 and "model.init=scratch" in err and "Traceback" not in err
