"""Zero-shot prompts: for each finding, a positive and a negative ensemble of texts.

A zero-shot classifier scores an image by its cosine to the mean positive prompt minus its cosine to the mean
negative prompt (`metrics.zero_shot_scores`), so the prompts decide what "the finding" means to the text tower.
Three styles, chosen between on validation data (`research/README.md`, r16):
- "report" (the default): every phrasing the report writer knows for the finding, each slot filled with each
  value, laid out as a one-finding report ("FINDINGS: Small left pleural effusion. IMPRESSION: Left pleural
  effusion."), against the finding's negative phrasings in the same layout. Like CLIP's prompt ensembles
  ("a photo of a {}"), the prompts look like the text the model learned from.
- "lexicon": the same sentences without the report layout.
- "bare": two short phrases per side ("pleural effusion" / "no pleural effusion"), the prompts used until
  2026-12; kept to show how much zero-shot depends on the prompts.
Every style also carries the held-out synonyms (`lexicon.HELDOUT`, never in a generated report) as
`positive_heldout` / `negative_heldout`: a check of whether the text tower generalises beyond its vocabulary.
"""

from __future__ import annotations

import itertools

from .lexicon import DEVICES, HELDOUT, IMPRESSION, NEGATIVE, NORMAL_IMPRESSION, POSITIVE, PROMPTS
from .reports import LOBES, _cap

PROMPT_STYLES = ("report", "lexicon", "bare")

# The values each slot of a phrasing is filled with (every combination is one prompt).
SLOTS: dict[str, tuple] = {"side": ("left", "right", "bilateral"), "size": ("small", "moderate", "large"),
                           "sev": ("mild", "moderate", "severe"), "lobe": tuple(LOBES.values()), "mm": (10, 20),
                           "cm": (4,), "zone": ("",)}


def fills(template: str) -> list[str]:
    """Every distinct text `template` gives with each slot filled with each of its values."""
    names = [n for n in SLOTS if "{" + n + "}" in template]
    return sorted({" ".join(template.format(**dict(zip(names, v))).split())
                   for v in itertools.product(*(SLOTS[n] for n in names))})


def _sentence(s: str) -> str:
    return _cap(s) + "."


def finding_sentences(finding: str) -> tuple[list[str], list[str]]:
    """(positive, negative) report sentences about `finding`, from every phrasing the report writer knows."""
    templates = [t for d in DEVICES.values() for t in d] if finding == "support_devices" else POSITIVE[finding]
    positive = sorted({_sentence(p) for t in templates for p in fills(t)})
    return positive, sorted({_sentence(n) for n in NEGATIVE[finding]})


def zero_shot_prompts(style: str = "report") -> dict[str, dict[str, list[str]]]:
    """Per finding (all but no_finding): positive/negative prompts in `style`, and the held-out synonyms."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style {style!r}: choose one of {', '.join(PROMPT_STYLES)}")
    out = {}
    for k in PROMPTS:
        if style == "bare":
            pos, neg = list(PROMPTS[k]["positive"]), list(PROMPTS[k]["negative"])
        else:
            pos, neg = finding_sentences(k)
        if style == "report":
            impressions = sorted({_sentence(p) for t in IMPRESSION[k] for p in fills(t)})
            pos = [f"FINDINGS: {s} IMPRESSION: {impressions[i % len(impressions)]}" for i, s in enumerate(pos)]
            neg = [f"FINDINGS: {s} IMPRESSION: {_sentence(NORMAL_IMPRESSION[i % len(NORMAL_IMPRESSION)])}"
                   for i, s in enumerate(neg)]
        out[k] = {"positive": pos, "negative": neg, "positive_heldout": list(HELDOUT[k]["positive"]),
                  "negative_heldout": list(HELDOUT[k]["negative"])}
    return out
