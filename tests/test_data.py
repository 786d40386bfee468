"""The synthetic hospital generator: knobs, determinism, splits, reports and prompts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fedaid_lite.config import DataConfig, Experiment
from fedaid_lite.data import FINDINGS, MENTION_CODES, Hospitals, make_hospitals, zero_shot_prompts
from fedaid_lite.data.prompts import PROMPT_STYLES
from fedaid_lite.data import generate
from fedaid_lite.data.generate import case_seed, generate_case, plan_sites
from fedaid_lite.data.presets import CONSPICUITY, ReportStyle, with_conspicuity

TINY = Experiment.tiny().data


@pytest.fixture(scope="module")
def tiny() -> Hospitals:
    return make_hospitals(TINY)


def _cfg(**kw) -> DataConfig:
    return dataclasses.replace(TINY, **kw)


def _prevalence_spread(h: Hospitals) -> float:
    prev = np.array([np.concatenate([h.train[s].labels, h.test[s].labels]).mean(0) for s in range(h.num_sites)])
    return float(prev[:, :-1].std(0).mean())


def test_same_seed_same_data_and_other_seed_differs(tiny):
    """If this fails, runs are not reproducible from the dataset seed (or the seed is ignored)."""
    again = make_hospitals(TINY)
    for a, b in zip(tiny.train, again.train):
        assert np.array_equal(a.images, b.images) and a.reports == b.reports and np.array_equal(a.labels, b.labels)
    other = make_hospitals(_cfg(seed=TINY.seed + 1))
    assert not np.array_equal(other.train[0].images[:5], tiny.train[0].images[:5])


def test_generating_in_two_processes_gives_the_same_cases(tiny, monkeypatch):
    """If this fails, the dashboard's two-process generation (a first visit) trains on other hospitals."""
    monkeypatch.setattr(generate, "PARALLEL_MIN_CASES", 10)   # the tiny set is below the real threshold
    two = make_hospitals(TINY, workers=2)
    for a, b in zip((*tiny.train, *tiny.val, *tiny.test, tiny.global_test), (*two.train, *two.val, *two.test,
                                                                             two.global_test)):
        assert np.array_equal(a.images, b.images) and a.reports == b.reports and a.ids == b.ids
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.mentions, b.mentions) and a.meta == b.meta


def test_report_style_change_leaves_image_unchanged():
    """If this fails, the report stage shares a random stream with the image stages."""
    plan = plan_sites(DataConfig())[0]
    consp = with_conspicuity(CONSPICUITY, 1.0)
    seed = case_seed(1, 0, 0, 7)
    terse = ReportStyle(verbosity=0.0, layout="impression_only", spelling="uk", abbreviation_rate=1.0)
    a = generate_case(seed, "icu", 0, plan.scanner, plan.style, consp)
    b = generate_case(seed, "icu", 0, plan.scanner, terse, consp)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    assert a[1] != b[1]


def test_label_skew_small_alpha_makes_sites_differ_far_more_than_iid():
    """If this fails, label_skew does not control how different the sites' case mixes are."""
    skew = make_hospitals(_cfg(label_skew=0.05, n_per_site=60))
    iid = make_hospitals(_cfg(label_skew=math.inf, n_per_site=60))
    assert _prevalence_spread(skew) > 2 * _prevalence_spread(iid)
    mixes = [p.mix for p in plan_sites(_cfg(label_skew=math.inf))]
    assert all(np.allclose(m, mixes[0]) for m in mixes)


def test_report_shift_zero_means_one_shared_style():
    """If this fails, report_shift=0 still leaves sites writing differently (not IID text)."""
    plans = plan_sites(_cfg(report_shift=0.0))
    assert all(p.style == plans[0].style for p in plans)
    shifted = plan_sites(_cfg(report_shift=1.0))
    assert len({p.style.layout for p in shifted}) > 1
    h = make_hospitals(_cfg(report_shift=0.0))
    assert all("FINDINGS:" in r for d in h.train for r in d.reports)


def test_image_shift_zero_means_one_shared_scanner():
    """If this fails, image_shift=0 still gives sites different scanners (not IID images)."""
    plans = plan_sites(_cfg(image_shift=0.0))
    assert all(p.scanner == plans[0].scanner for p in plans)
    assert len({p.scanner.native_size for p in plan_sites(_cfg(image_shift=1.0))}) > 1


def test_quantity_skew_zero_gives_equal_sizes():
    """If this fails, quantity_skew=0 gives unequal sites or quantity_skew>0 changes nothing."""
    assert len({p.n for p in plan_sites(_cfg(quantity_skew=0.0))}) == 1
    sizes = [p.n for p in plan_sites(_cfg(quantity_skew=1.0))]
    assert max(sizes) > 2 * min(sizes)


def test_difficulty_makes_findings_fainter():
    """If this fails, the difficulty knob does not change how visible a finding is."""
    plan = plan_sites(DataConfig())[0]
    seed = next(case_seed(3, 0, 0, j) for j in range(200)
                if generate_case(case_seed(3, 0, 0, j), "oncology", 0, plan.scanner, plan.style,
                                 with_conspicuity(CONSPICUITY, 1.0))[2][FINDINGS.index("nodule")])
    easy, hard = (generate_case(seed, "oncology", 0, plan.scanner, plan.style, with_conspicuity(CONSPICUITY, d))[0]
                  for d in (0.5, 4.0))
    base = generate_case(seed, "oncology", 0, plan.scanner, plan.style, with_conspicuity(CONSPICUITY, 1e6))[0]
    assert np.abs(easy.astype(int) - base).mean() > 2 * np.abs(hard.astype(int) - base).mean()


def test_splits_are_by_patient_and_sizes_follow_fractions(tiny):
    """If this fails, one patient's studies leak across train/val/test."""
    for s in range(tiny.num_sites):
        sets = [set(d.patient_ids) for d in (tiny.train[s], tiny.val[s], tiny.test[s])]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        n = sum(len(d) for d in (tiny.train[s], tiny.val[s], tiny.test[s]))
        assert n == TINY.n_per_site and len(tiny.test[s]) > 0 and len(tiny.val[s]) > 0
    assert not set(tiny.global_test.patient_ids) & set(tiny.pooled("train").patient_ids)


def test_global_test_is_balanced_across_sites(tiny):
    """If this fails, the global test set over-represents some hospitals."""
    counts = np.bincount(tiny.global_test.sites, minlength=tiny.num_sites)
    assert len(tiny.global_test) == TINY.global_test_size and counts.max() - counts.min() <= 1


def test_arrays_have_the_contracted_shapes_and_types(tiny):
    """If this fails, downstream code (tensors, metrics) receives malformed data."""
    d = tiny.train[0]
    assert d.images.dtype == np.uint8 and d.images.shape[1:] == (TINY.image_size,) * 2
    assert d.labels.dtype == np.int8 and d.labels.shape[1] == len(FINDINGS)
    assert d.mentions.dtype == np.int8 and set(np.unique(d.mentions)) <= set(MENTION_CODES.values())
    assert d.sites.dtype == np.int64 and len(d.meta) == len(d) and {"view", "attrs", "acq", "seed"} <= set(d.meta[0])
    pooled = tiny.pooled("train")
    assert np.array_equal(pooled.labels[:, -1], (pooled.labels[:, :-1].sum(1) == 0).astype(np.int8))
    assert len(tiny.tokenizer("no pleural effusion")["input_ids"]) > 2


def test_reports_never_assert_an_absent_finding(tiny):
    """If this fails, a 'positive' mention contradicts the ground truth (only hedges may be wrong)."""
    d = tiny.pooled("train")
    pos = d.mentions[:, :-1] == MENTION_CODES["positive"]
    assert np.all(d.labels[:, :-1][pos] == 1)
    assert (d.mentions == MENTION_CODES["uncertain"]).any() and (d.mentions == MENTION_CODES["negated"]).any()


def test_zero_shot_prompts_in_vocabulary_used_and_heldout_never_used():
    """If this fails, 'held-out' prompts leak into training text or in-vocabulary ones never occur."""
    h = make_hospitals(_cfg(n_per_site=100))
    text = "\n".join(r.lower() for d in (*h.train, *h.val, *h.test, h.global_test) for r in d.reports)
    for style in PROMPT_STYLES:
        prompts = zero_shot_prompts(style)
        assert set(prompts) == set(FINDINGS[:-1])
        for k, p in prompts.items():
            # a report-style prompt's finding sentence is what a generated report says
            core = [s.split("IMPRESSION:")[0].removeprefix("FINDINGS:").strip(" .").lower() for s in
                    p["positive"] + p["negative"]]
            assert any(c in text for c in core[: len(p["positive"])]), (style, k)
            assert any(c in text for c in core[len(p["positive"]):]), (style, k)
            for s in p["positive_heldout"] + p["negative_heldout"]:
                assert s.lower() not in text, (k, s)


def test_report_prompts_are_one_finding_reports_and_styles_are_checked():
    """If this fails, the default zero-shot prompts changed shape, or a wrong style passes silently."""
    report, lexicon = zero_shot_prompts(), zero_shot_prompts("lexicon")
    for k in report:
        assert len(report[k]["positive"]) == len(lexicon[k]["positive"]) >= 4
        for r, s in zip(report[k]["positive"], lexicon[k]["positive"]):
            assert r.startswith(f"FINDINGS: {s} IMPRESSION: ")
    assert zero_shot_prompts("bare")["pleural_effusion"]["positive"] == ["pleural effusion", "effusion"]
    with pytest.raises(ValueError, match="prompt style 'fancy'"):
        zero_shot_prompts("fancy")


def test_heterogeneity_summary_is_plain_data_and_formats(tiny):
    """If this fails, `fedaid-lite data show` and the notebooks lose their per-site statistics."""
    import json
    from fedaid_lite.data import format_summary, heterogeneity_summary
    s = heterogeneity_summary(tiny)
    json.dumps(s)   # plain dicts/lists/numbers only
    assert [x["site"] for x in s["sites"]] == list(tiny.site_names) and len(s["examples"]) == 3
    assert s["sites"][0]["counts"]["train"] == len(tiny.train[0])
    text = format_summary(s, tiny)
    assert all(name in text for name in tiny.site_names) and text.count("--- ") == 3


def test_summary_headers_are_whole_words_with_a_legend(tiny):
    """If this fails, the summary table cuts finding names ("cardiome", "no_findi") or leaves columns unexplained."""
    from fedaid_lite.data import format_summary, heterogeneity_summary
    text = format_summary(heterogeneity_summary(tiny))
    header = "\n".join(text.splitlines()[3:5])          # the two header lines of the prevalence table
    assert "cardiome " not in header and "no_findi" not in header
    assert header.split() == ["cardio-", "pleural", "consoli-", "pneumo-", "atelec-", "support", "no", "site",
                              "train", "val", "test", "megaly", "effusion", "dation", "thorax", "nodule", "edema",
                              "tasis", "devices", "finding"]
    for word in ("sharpness:", "hedged:", "negated:", "AP:"):
        assert word in text, word


def test_first_example_report_states_its_findings_and_omissions_are_named(tiny):
    """If this fails, the first report a student reads contradicts its labels without a word of explanation."""
    from fedaid_lite.data import example_cases, format_case
    from fedaid_lite.data.summary import _unstated
    site = tiny.train[0]
    order = example_cases(site, 3)
    assert len(order) == 3 and len(set(order)) == 3
    assert _unstated(site, order[0]) == ([], [])
    # a case whose report leaves a true finding out says so under its findings
    gap = next(i for i in range(len(site)) if _unstated(site, i)[0])
    assert f"does not mention: {', '.join(_unstated(site, gap)[0])}" in format_case(site, gap)
    assert "does not mention" not in format_case(site, order[0])
