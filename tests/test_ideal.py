"""The ideal reference: its cache key, the disk cache, and metrics filled in after the fact."""

import os

import numpy as np
import pytest
import torch

from fedaid_lite.config import Experiment
from fedaid_lite.evaluate import EvalEmbeddings, PairEmbeddings, evaluate, prepare_eval, reference_embeddings
from fedaid_lite.ideal import ReferenceCache, ideal_config, reference_key, reference_metrics, train_reference
from fedaid_lite.model import build_model, load_model

CFG = Experiment.tiny()
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup(fake_hospitals, fake_prompts):
    torch.set_num_threads(1)
    h = fake_hospitals()
    evalset = prepare_eval(h, CFG.model, prompts=fake_prompts)
    ideal = build_model(CFG.model, len(h.tokenizer), seed=1, image_size=32)
    model = build_model(CFG.model, len(h.tokenizer), seed=0, image_size=32)
    return evalset, reference_embeddings(ideal, evalset, CPU), model


def test_key_follows_what_determines_the_ideal():
    # If this fails, a cached ideal could be used for other data (wrong distances) or be retrained needlessly.
    key = reference_key(CFG)
    assert key == reference_key(Experiment.tiny()) and len(key) == 32
    assert key != reference_key(CFG.override({"data.label_skew": 1.0}))
    assert key != reference_key(CFG.override({"model.init": "scratch"}))
    assert key != reference_key(CFG.override({"seed": 1}))
    assert key != reference_key(CFG.override({"train.lr": CFG.train.lr / 2}))
    assert key == reference_key(CFG.override({"fed.algorithm": "fedaid"}))   # the ideal is always centralized
    assert ideal_config(CFG).fed.algorithm == "centralized" and ideal_config(CFG).fed.eval_every == CFG.fed.rounds


def test_reference_metrics_equal_evaluate_with_a_reference(setup):
    # If this fails, a "distance to ideal" filled in later differs from one computed during the round.
    evalset, reference, model = setup
    direct = evaluate(model, evalset, CPU, reference=reference)
    later = reference_metrics(reference_embeddings(model, evalset, CPU), evalset, reference)
    assert set(later) == {"dist_to_ref", "cka_to_ref", "worst_site_dist_to_ref", "worst_site_cka_to_ref"}
    for key, value in later.items():
        assert value == pytest.approx(direct[key], rel=1e-6), key


def test_disk_cache_round_trip_and_misses(setup, tmp_path):
    # If this fails, the cache loses or corrupts the reference, or trusts a file of another shape.
    evalset, reference, _ = setup
    cache = ReferenceCache(tmp_path / "ideal")
    assert cache.load("k", evalset) is None
    assert cache.save("k", reference)
    back = cache.load("k", evalset)
    assert isinstance(back, EvalEmbeddings) and np.array_equal(back.global_test.image, reference.global_test.image)
    assert all(np.array_equal(b.text, r.text) for b, r in zip(back.site_tests, reference.site_tests))
    g = reference.global_test
    short = EvalEmbeddings(PairEmbeddings(g.image[:-1], g.text[:-1]), reference.site_tests)
    cache.save("short", short)
    assert cache.load("short", evalset) is None                 # not the rows of this evaluation set
    (tmp_path / "ideal" / "bad.npz").write_bytes(b"not a zip")
    assert cache.load("bad", evalset) is None
    assert ReferenceCache(None).load("k", evalset) is None and not ReferenceCache(None).save("k", reference)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_cache_is_not_an_error(setup, tmp_path):
    # If this fails, a read-only home (some hubs) breaks the dashboard instead of just not caching.
    evalset, reference, _ = setup
    tmp_path.chmod(0o500)
    try:
        assert not ReferenceCache(tmp_path / "ideal").save("k", reference)
    finally:
        tmp_path.chmod(0o700)


def test_file_in_the_way_of_the_cache_is_not_an_error(setup, tmp_path):
    # If this fails, an odd cache path (a file where the folder should be) crashes instead of not caching.
    evalset, reference, _ = setup
    (tmp_path / "ideal").write_text("a file, not a folder")
    cache = ReferenceCache(tmp_path / "ideal")
    assert not cache.save("k", reference) and cache.load("k", evalset) is None


def test_cache_files_are_readable_by_others(setup, tmp_path):
    # If this fails, outputs are written 0600 (mkstemp's mode): a served report or a shared cache is unreadable.
    _, reference, _ = setup
    assert ReferenceCache(tmp_path / "ideal").save("k", reference)
    assert (tmp_path / "ideal" / "k.npz").stat().st_mode & 0o777 == 0o644


def test_train_reference_embeds_the_model_it_just_trained(fake_hospitals_3x40, fake_evalset, tmp_path):
    # If this fails, the reference comes from another model than the one trained (e.g. a stale model/ on disk).
    cfg = Experiment.tiny().override({"fed.rounds": 1, "train.local_steps": 2, "fed.stage1_steps": 1,
                                      "train.device": "cpu"})
    seen = []
    ref = train_reference(cfg, fake_hospitals_3x40, fake_evalset, CPU, tmp_path / "ideal", on_round=seen.append)
    assert [r["round"] for r in seen] == [1]
    saved = reference_embeddings(load_model(tmp_path / "ideal" / "model"), fake_evalset, CPU)
    assert np.allclose(ref.global_test.image, saved.global_test.image, atol=1e-6)
    assert len(ref.site_tests) == len(fake_evalset.site_tests)
