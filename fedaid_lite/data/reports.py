"""Radiology-style reports written from the sampled findings in a site's style, with mention codes.

The report never sees the image; it sees the ground truth and the style, and may omit, hedge or falsely
hedge. What it ends up saying about each finding is returned as `mentions` (MENTION_CODES), apart from
the truth. A fixed number of random draws is made per finding, so changing one style parameter changes
the wording of that decision only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .lexicon import (ABBREVIATIONS, COMPARISON, DEVICES, HEDGES, IMPRESSION, INDICATION, NEGATIVE, NORMAL_IMPRESSION,
                      NOUN, POSITIVE, UK_SPELLING)
from .presets import ReportStyle
from .types import FINDINGS, MENTION_CODES

# Region order in FINDINGS (devices, lungs, pleura, heart) and clinical priority in IMPRESSION.
REGION_ORDER = ("support_devices", "consolidation", "nodule", "edema", "atelectasis", "pleural_effusion",
                "pneumothorax", "cardiomegaly")
PRIORITY = ("pneumothorax", "consolidation", "pleural_effusion", "edema", "cardiomegaly", "nodule",
            "atelectasis", "support_devices")
LOBES = {("right", "upper"): "right upper lobe", ("right", "mid"): "right middle lobe",
         ("right", "lower"): "right lower lobe", ("left", "upper"): "left upper lobe",
         ("left", "mid"): "lingula", ("left", "lower"): "left lower lobe"}


def _subtle(k: str, a: dict[str, Any]) -> bool:
    return a.get("size") == "small" or a.get("severity") == "mild" or (k == "nodule" and a.get("mm", 99) < 15)


def _fill(template: str, a: dict[str, Any]) -> str:
    side = a.get("side", "")
    slots = {"side": side, "size": a.get("size", ""), "sev": a.get("severity", ""), "mm": a.get("mm", ""),
             "zone": a.get("zone", ""), "lobe": LOBES.get((side, a.get("zone", "")), "lung"),
             "cm": a.get("cm", 4)}
    return " ".join(template.format(**slots).split())


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _choose(rng: np.random.Generator, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    w = np.asarray(weights[: len(options)], dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(options), 1 / len(options))
    return options[int(np.searchsorted(np.cumsum(w), rng.random() * 0.999999, side="right"))]


def write_report(rng: np.random.Generator, labels: np.ndarray, attrs: dict[str, Any], style: ReportStyle,
                 view: str, study: int = 0) -> tuple[str, np.ndarray]:
    """(report text, mentions (len(FINDINGS),) int8) for one study in one site's style."""
    mentions = np.full(len(FINDINGS), MENTION_CODES["not_mentioned"], dtype=np.int8)
    positives: dict[str, str] = {}    # finding -> FINDINGS sentence about a present finding
    negatives: dict[str, str] = {}    # finding -> pertinent negative or false hedge
    impression: list[tuple[int, str]] = []
    for k in REGION_ORDER:
        i = FINDINGS.index(k)
        r = rng.random(3)
        a = attrs.get(k, {})
        if labels[i]:
            if k == "support_devices":
                phrase = "; ".join(_fill(_choose(rng, DEVICES[d], style.lexicon), a) for d in a["devices"])
            else:
                phrase = _fill(_choose(rng, POSITIVE[k], style.lexicon), a)
            imp = _fill(_choose(rng, IMPRESSION[k], style.lexicon), a)
            subtle = _subtle(k, a)
            if r[0] < style.omission_rate * (2.0 if subtle else 1.0):
                continue
            if r[1] < style.hedge_rate * (1.5 if subtle else 1.0):
                mentions[i] = MENTION_CODES["uncertain"]
                h = HEDGES[int(r[2] * len(HEDGES))]
                phrase, imp = h.format(x=phrase), h.format(x=imp)
            else:
                mentions[i] = MENTION_CODES["positive"]
            positives[k] = _cap(phrase)
            impression.append((PRIORITY.index(k), imp))
        elif r[0] < style.false_hedge_rate:
            mentions[i] = MENTION_CODES["uncertain"]
            negatives[k] = _cap(HEDGES[int(r[2] * len(HEDGES))].format(x=NOUN[k]))
        elif r[1] < style.verbosity:
            mentions[i] = MENTION_CODES["negated"]
            negatives[k] = _cap(_choose(rng, NEGATIVE[k], style.lexicon))
    normal = _choose(rng, NORMAL_IMPRESSION, style.lexicon)
    items = [s for _, s in sorted(impression)]
    mentions[-1] = MENTION_CODES["negated"] if items else MENTION_CODES["positive"]
    body = [positives.get(k) or negatives.get(k) for k in REGION_ORDER if k in positives or k in negatives]
    text = _assemble(rng, body, list(negatives.values()), items or [normal], style, view, study)
    return text, mentions


def _assemble(rng: np.random.Generator, body: list[str], negatives: list[str], impression: list[str],
              style: ReportStyle, view: str, study: int) -> str:
    """Lay out sections in the site's format, then apply abbreviations and spelling."""
    r = rng.random(4 + len(ABBREVIATIONS))
    head = (lambda s: s.upper() + ":") if style.header == "upper" else (lambda s: s.title() + ":")
    findings = " ".join(s + "." for s in body)
    if style.numbered and len(impression) > 1:
        imp = " ".join(f"{j + 1}. {_cap(s)}." for j, s in enumerate(impression))
    else:
        imp = " ".join(_cap(s) + "." for s in impression)
    lines = []
    if style.verbosity >= 0.6 and r[0] < 0.8:
        lines.append(f"{head('examination')} Chest radiograph, {view} view.")
    if r[1] < style.verbosity:
        ind = INDICATION[int(r[2] * len(INDICATION))]
        lines.append(f"{head('indication')} {'XXXX-year-old with ' if style.deid else ''}{ind}.")
    if study > 0:
        lines.append(COMPARISON[int(r[3] * len(COMPARISON))])
    if style.layout == "impression_only":   # negatives ride along after the impression items
        lines.append(f"{head('impression')} {imp}" + "".join(f" {s}." for s in negatives))
    elif style.layout == "impression_first":
        lines += [f"{head('impression')} {imp}", f"{head('findings')} {findings or imp}"]
    else:
        lines += [f"{head('findings')} {findings or imp}", f"{head('impression')} {imp}"]
    text = "\n".join(lines)
    for (long, short), u in zip(ABBREVIATIONS, r[4:]):
        if u < style.abbreviation_rate and long in text:
            text = text.replace(long, short)
    if style.spelling == "uk":
        for us, uk in UK_SPELLING:
            text = text.replace(us, uk)
    return text
