"""Each metric against a hand-computed example."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fedaid_lite.metrics import (alignment, auroc, diag_cos, first_hit_ranks, instance_retrieval, linear_cka,
                                 mean_sq_distance, modality_gap, precision_at_k, recall_at_k, same_findings,
                                 semantic_chance, semantic_retrieval, uniformity, zero_shot_auroc, zero_shot_scores)

# Rows = queries, columns = gallery; the true match is the diagonal.
SIM = np.array([[0.9, 0.1, 0.2, 0.3],    # diagonal is top       -> rank 0
                [0.8, 0.7, 0.1, 0.0],    # 0.8 beats it          -> rank 1
                [0.1, 0.2, 0.3, 0.4],    # 0.4 beats it          -> rank 1
                [0.5, 0.6, 0.7, 0.1]])   # three items beat it   -> rank 3


def test_ranks_and_recall_on_a_4x4_example():
    # If these differ, retrieval ranks are off by one or use the wrong axis.
    assert first_hit_ranks(SIM, np.eye(4, dtype=bool)).tolist() == [0, 1, 1, 3]
    assert recall_at_k(SIM, np.eye(4, dtype=bool), ks=(1, 2, 4)) == {1: 0.25, 2: 0.75, 4: 1.0}


def test_identical_report_text_counts_as_a_hit():
    # Gallery items 2 and 3 share a report text: query 3 now hits item 2 at rank 0 (and query 2 hits 3).
    rel = np.eye(4, dtype=bool)
    rel[2, 3] = rel[3, 2] = rel[3, 3] = rel[2, 2] = True
    assert first_hit_ranks(SIM, rel).tolist() == [0, 1, 0, 0]


def test_ties_count_against_the_model():
    # A collapsed model (all similarities equal) must score chance-or-worse, never 100 %.
    assert recall_at_k(np.ones((4, 4)), np.eye(4, dtype=bool), ks=(1,))[1] == 0.0
    assert first_hit_ranks(np.ones((2, 3)), np.zeros((2, 3), bool)).tolist() == [3, 3]


def test_instance_retrieval_both_directions():
    # i2t ranks the rows of SIM, t2i its columns. Column ranks: c0 (.9 top) 0; c1 (.7 top) 0;
    # c2 (.3, beaten by .7) 1; c3 (.1, beaten by .3 and .4) 2.
    img = np.eye(4)
    txt = SIM.T.copy()        # img @ txt.T == SIM
    r = instance_retrieval(img, txt, np.arange(4), ks=(1, 2))
    assert (r["i2t_r1"], r["i2t_r2"]) == (0.25, 0.75)
    assert (r["t2i_r1"], r["t2i_r2"]) == (0.5, 0.75)


def test_first_queries_search_the_whole_gallery():
    # With n_queries=2 only rows 0-1 query (i2t ranks [0, 1]); texts 0-1 query all four images: columns 0
    # (.9 top) and 1 (.7 top) rank 0. If this fails, a site padded with distractors is scored on them too.
    r = instance_retrieval(np.eye(4), SIM.T.copy(), np.arange(4), ks=(1, 2), n_queries=2)
    assert (r["i2t_r1"], r["i2t_r2"], r["t2i_r1"]) == (0.5, 1.0, 1.0)
    labels = np.array([[1, 0], [1, 0], [1, 0], [0, 1]])
    assert semantic_chance(labels, n_queries=1) == 0.75          # 3 of the 4 gallery items share row 0's set
    assert semantic_chance(labels) == (3 * 0.75 + 0.25) / 4
    s = semantic_retrieval(np.eye(4), SIM.T.copy(), labels, ks=(1,), n_queries=1)
    assert s["sem_i2t_p1"] == 1.0 and s["sem_t2i_p1"] == 1.0    # row 0 and column 0 both peak at item 0


def test_precision_at_k_and_semantic_retrieval():
    # Labels: items 0 and 2 share a finding set, 1 and 3 share another.
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    rel = same_findings(labels, labels)
    assert rel.tolist() == [[True, False, True, False], [False, True, False, True]] * 2
    # Top-2 per row of SIM: r0 {0,3} -> 1/2; r1 {0,1} -> 1/2; r2 {3,2} -> 1/2; r3 {2,1} -> 1/2.
    assert precision_at_k(SIM, rel, 2) == 0.5
    # Top-1: r0 -> 0 (hit), r1 -> 0 (miss), r2 -> 3 (miss), r3 -> 2 (miss).
    assert precision_at_k(SIM, rel, 1) == 0.25
    r = semantic_retrieval(np.eye(4), SIM.T.copy(), labels, ks=(1,))
    assert r["sem_i2t_p1"] == r["sem_i2t_r1"] == 0.25


def test_auroc_hand_values_and_sklearn_agreement():
    # Pairs (pos, neg): (.35,.1) win, (.35,.4) lose, (.8,.1) win, (.8,.4) win -> 3/4. Ties count half.
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auroc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert math.isnan(auroc(np.array([1, 1]), np.array([0.1, 0.2])))
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 200), rng.integers(0, 10, 200).astype(float)
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_zero_shot_scores_and_auroc():
    # Image 0 points at the positive prompts, image 1 at the negative ones.
    img = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    pos = np.array([[1.0, 0.0], [0.8, 0.6]])           # mean (0.9, 0.3), |.| = sqrt(0.9)
    neg = np.array([[0.0, 1.0]])
    c = math.sqrt(0.9)
    expected = [0.9 / c - 0.0, 0.3 / c - 1.0, (0.54 + 0.24) / c - 0.8]
    assert np.allclose(zero_shot_scores(img, pos, neg), expected)
    labels = np.array([[1, 0], [0, 1], [1, 1]])
    macro, per = zero_shot_auroc(img, {"a": (pos, neg), "b": (neg, pos)}, labels, ("a", "b"))
    # a: positives {0, 2} score {0.949, 0.022}, negative {1} -0.684 -> 1.0; b is the mirror: 1.0.
    assert per == {"a": 1.0, "b": 1.0} and macro == 1.0


def test_alignment_geometry():
    # x = e1, e2; y = e1, -e2: cosines 1 and -1; squared distances 0 and 4.
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 0.0], [0.0, -1.0]])
    assert diag_cos(x, y) == 0.0
    assert alignment(x, y) == 2.0 == 2 - 2 * diag_cos(x, y)
    assert modality_gap(x, y) == pytest.approx(1.0)          # means (.5,.5) and (.5,-.5)
    assert mean_sq_distance(x, y) == 2.0


def test_uniformity_hand_values():
    # Two antipodal points: ||x - x'||^2 = 4, so log exp(-2*4) = -8.
    assert uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    # Three points: distances 2, 2, 4 -> log((2 e^-4 + e^-8) / 3).
    pts = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert uniformity(pts) == pytest.approx(math.log((2 * math.exp(-4) + math.exp(-8)) / 3))
    assert math.isnan(uniformity(np.ones((1, 2))))


def test_linear_cka_hand_values():
    # Centered x = (-1, 0, 1), y = (-1, 1, 0): <x,y>^2 / (|x|^2 |y|^2) = 1 / 4.
    assert linear_cka(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [3.0], [2.0]])) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4))
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    assert linear_cka(x, 3 * x @ q + 1) == pytest.approx(1.0)   # invariant to rotation, scale and shift


def test_same_site_share_and_within_site_recall_tell_a_shortcut_from_alignment():
    # If this fails, a model that matches images to reports only by hospital looks like a good aligner.
    from fedaid_lite.metrics import same_site_chance, same_site_share, semantic_chance, within_site_recall
    rng = np.random.default_rng(0)
    sites = np.repeat(np.arange(4), 10)                                   # 4 hospitals x 10 cases
    site_dir = np.eye(8)[sites]                                           # one direction per hospital
    noise = rng.normal(size=(40, 8)) * 0.01
    shortcut_img = site_dir + noise                                       # knows the hospital, nothing else
    shortcut_txt = site_dir + rng.normal(size=(40, 8)) * 0.01
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)         # noqa: E731
    ids = np.arange(40)
    assert same_site_share(norm(shortcut_img), norm(shortcut_txt), sites) == 1.0
    assert same_site_chance(sites) == 0.25
    # Within its own hospital the shortcut model ranks at random: R@5 near 5/10, never near 1.
    assert within_site_recall(norm(shortcut_img), norm(shortcut_txt), ids, sites) < 0.8
    content = norm(rng.normal(size=(40, 8)))                              # pairs match, hospitals do not
    assert within_site_recall(content, content, ids, sites) == 1.0
    assert same_site_share(content, content, sites) < 0.6
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    assert semantic_chance(labels) == (4 + 1 + 1) / 16                    # share of same-finding pairs
