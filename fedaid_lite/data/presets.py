"""Named hospitals: case mix (patient archetypes), scanner profile and report style, plus the knobs.

Each knob moves a site from a *shared* profile (IID) toward its *named* profile:
- `label_skew` α: a site's archetype mix is drawn from Dirichlet(20·K·α · m_s) with mean
  m_s = w·named_s + (1 − w)·global and w = min(1, 1/α). α = 1 gives the named hospitals (with mild noise),
  α → 0 ever more extreme mixes, α = inf exactly the global mix at every site (IID).
- `image_shift` s: every numeric scanner parameter is shared + s·(named − shared); the burned-in marker
  and the native size follow the named site only when s ≥ 0.5. s = 0: one scanner everywhere.
- `report_shift` r: numeric style parameters and lexicon weights interpolate the same way; categorical
  ones (layout, headers, spelling, numbering, de-identification) are the named site's when r ≥ 0.5.
- `quantity_skew` q: site sizes ∝ named_weight^(3q) (mean kept at n_per_site); q = 0: equal sizes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

ARCHETYPES = ("normal", "heart_failure", "pneumonia", "icu", "oncology", "trauma", "cardiac")
GLOBAL_MIX = (0.40, 0.13, 0.13, 0.14, 0.08, 0.05, 0.07)

# P(finding | archetype), findings in FINDINGS order minus no_finding.
FINDING_PROB = {
    #                 cardio effus  consol ptx    nodule edema  atel   devices
    "normal":        (0.03, 0.02, 0.02, 0.005, 0.03, 0.01, 0.05, 0.02),
    "heart_failure": (0.80, 0.60, 0.05, 0.01, 0.03, 0.70, 0.20, 0.10),
    "pneumonia":     (0.05, 0.30, 0.90, 0.01, 0.03, 0.05, 0.20, 0.05),
    "icu":           (0.20, 0.45, 0.25, 0.08, 0.03, 0.30, 0.50, 0.95),
    "oncology":      (0.05, 0.30, 0.10, 0.03, 0.85, 0.05, 0.15, 0.40),
    "trauma":        (0.02, 0.15, 0.20, 0.80, 0.02, 0.02, 0.20, 0.40),
    "cardiac":       (0.60, 0.20, 0.03, 0.02, 0.03, 0.15, 0.15, 0.80),
}

# How visible each finding is at difficulty 1 (multiplies its contrast); tuned with benchmarks/learnability.py.
CONSPICUITY = {"cardiomegaly": 0.35, "pleural_effusion": 0.125, "consolidation": 0.92, "pneumothorax": 2.4,
               "nodule": 0.86, "edema": 0.42, "atelectasis": 0.4, "support_devices": 0.2}


@dataclass(frozen=True)
class Scanner:
    """A site's acquisition profile (per-image jitter is added in acquisition.py)."""

    native_size: int = 80        # stored image size in pixels
    ap_bias: float = 0.0         # added to the archetype's log-odds of an AP (portable) view
    gamma: float = 1.0           # display LUT exponent
    window_lo: float = 0.02      # density mapped to black
    window_hi: float = 0.95      # density mapped to white
    blur: float = 0.6            # PSF sigma in native pixels
    noise: float = 0.02          # quantum noise sigma (scaled by sqrt of intensity)
    unsharp: float = 0.2         # vendor edge enhancement amount
    heel: float = 0.05           # vertical gain gradient
    grid: float = 0.0            # anti-scatter grid stripe amplitude
    marker: int = 0              # 1 = burned-in site marker letter
    marker_corner: int = 0       # 0..3: which corner the marker sits in
    invert_rate: float = 0.0     # share of images stored inverted (MONOCHROME1 QA failure)


@dataclass(frozen=True)
class ReportStyle:
    """A site's writing habits."""

    verbosity: float = 0.5       # chance of stating a pertinent negative for each absent finding
    hedge_rate: float = 0.10     # chance a present finding is hedged ("possible ...")
    omission_rate: float = 0.05  # chance a present finding goes unmentioned (x2 when subtle)
    false_hedge_rate: float = 0.02  # chance an absent finding is hedged ("cannot exclude ...")
    abbreviation_rate: float = 0.1  # chance each abbreviable phrase is abbreviated
    lexicon: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)  # weights of synonym 0..3
    layout: str = "findings_impression"  # or "impression_only", "impression_first"
    header: str = "upper"        # "upper" (FINDINGS:) or "title" (Findings:)
    numbered: int = 0            # 1 = numbered impression items
    spelling: str = "us"         # or "uk" (oedema)
    deid: int = 0                # 1 = IU-style "XXXX" tokens in the indication


@dataclass(frozen=True)
class Site:
    """One named hospital of a preset."""

    name: str
    mix: tuple[float, ...]       # archetype mix, ARCHETYPES order
    size_weight: float           # relative case volume under quantity skew
    scanner: Scanner
    style: ReportStyle


SHARED_SCANNER = Scanner()
SHARED_STYLE = ReportStyle()

DEFAULT_SITES = (
    Site("metro_icu", (0.10, 0.15, 0.15, 0.45, 0.03, 0.08, 0.04), 1.6,
         Scanner(native_size=80, ap_bias=2.0, gamma=1.15, blur=0.8, noise=0.035, unsharp=0.1, heel=0.12),
         ReportStyle(verbosity=0.7, hedge_rate=0.15, abbreviation_rate=0.45, lexicon=(0.6, 0.2, 0.1, 0.1),
                     numbered=1)),
    Site("outpatient_clinic", (0.70, 0.05, 0.10, 0.01, 0.06, 0.03, 0.05), 1.2,
         Scanner(native_size=96, ap_bias=-2.0, gamma=0.85, blur=0.4, noise=0.012, unsharp=0.35, heel=0.02),
         ReportStyle(verbosity=0.3, hedge_rate=0.05, abbreviation_rate=0.0, lexicon=(0.1, 0.6, 0.2, 0.1),
                     header="title", spelling="uk")),
    Site("cardiac_centre", (0.15, 0.30, 0.05, 0.10, 0.03, 0.02, 0.35), 1.0,
         Scanner(native_size=88, ap_bias=0.0, gamma=1.0, blur=0.5, noise=0.02, unsharp=0.7, heel=0.05),
         ReportStyle(verbosity=0.6, hedge_rate=0.08, abbreviation_rate=0.2, lexicon=(0.1, 0.1, 0.6, 0.2),
                     layout="impression_first")),
    Site("oncology_centre", (0.25, 0.05, 0.10, 0.08, 0.45, 0.03, 0.04), 0.9,
         Scanner(native_size=80, ap_bias=-0.5, gamma=1.25, blur=0.7, noise=0.02, unsharp=0.2, heel=0.08,
                 grid=0.035),
         ReportStyle(verbosity=0.8, hedge_rate=0.25, false_hedge_rate=0.06, abbreviation_rate=0.1,
                     lexicon=(0.1, 0.2, 0.1, 0.6), numbered=1)),
    Site("community_hospital", (0.40, 0.13, 0.13, 0.14, 0.08, 0.05, 0.07), 1.0,
         Scanner(native_size=72, ap_bias=0.0, gamma=0.95, blur=0.9, noise=0.028, unsharp=0.0, heel=0.1),
         ReportStyle(verbosity=0.45, hedge_rate=0.1, abbreviation_rate=0.15, deid=1)),
    Site("rural_site", (0.35, 0.10, 0.30, 0.05, 0.04, 0.12, 0.04), 0.5,
         Scanner(native_size=64, ap_bias=0.5, gamma=1.35, window_lo=0.06, window_hi=0.9, blur=1.1, noise=0.05,
                 unsharp=0.0, heel=0.2, marker=1, marker_corner=1, invert_rate=0.02),
         ReportStyle(verbosity=0.1, hedge_rate=0.2, omission_rate=0.15, false_hedge_rate=0.05,
                     abbreviation_rate=0.3, lexicon=(0.2, 0.1, 0.1, 0.6), layout="impression_only")),
)

PRESETS = {"default": DEFAULT_SITES}


def preset_sites(name: str) -> tuple[Site, ...]:
    """The named sites of a preset."""
    if name not in PRESETS:
        raise ValueError(f"unknown data preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def site_mix(named: tuple[float, ...], alpha: float, rng: np.random.Generator) -> np.ndarray:
    """The site's archetype mix under label skew α (see module docstring); inf = the global mix."""
    glob = np.asarray(GLOBAL_MIX, dtype=np.float64)
    if math.isinf(alpha):
        return glob / glob.sum()
    w = min(1.0, 1.0 / alpha)
    mean = w * np.asarray(named, dtype=np.float64) + (1 - w) * glob
    mean = mean / mean.sum()
    conc = np.maximum(20.0 * len(mean) * alpha * mean, 1e-3)
    mix = rng.dirichlet(conc)
    mix = np.maximum(mix, 1e-12)   # a Dirichlet draw can underflow to exact zeros at tiny α
    return mix / mix.sum()


def _lerp(shared: Any, named: Any, s: float, cls: type) -> Any:
    """Interpolate numeric fields; take named categorical/int-switch fields when s >= 0.5."""
    out = {}
    for f in fields(cls):
        a, b = getattr(shared, f.name), getattr(named, f.name)
        if isinstance(a, tuple):
            out[f.name] = tuple(float(x + s * (y - x)) for x, y in zip(a, b))
        elif isinstance(a, float):
            out[f.name] = float(a + s * (b - a))
        else:
            out[f.name] = b if s >= 0.5 else a
    return cls(**out)


def site_scanner(site: Site, image_shift: float) -> Scanner:
    """The scanner a site uses at this image shift (0 = the shared scanner)."""
    return _lerp(SHARED_SCANNER, site.scanner, image_shift, Scanner)


def site_style(site: Site, report_shift: float) -> ReportStyle:
    """The report style a site uses at this report shift (0 = the shared style)."""
    return _lerp(SHARED_STYLE, site.style, report_shift, ReportStyle)


def site_sizes(sites: tuple[Site, ...], n_per_site: int, quantity_skew: float) -> list[int]:
    """Cases per site: equal at quantity_skew 0, ∝ size_weight^(3q) otherwise (mean kept)."""
    w = np.array([s.size_weight for s in sites], dtype=np.float64) ** (3.0 * quantity_skew)
    w = w / w.mean()
    return [max(8, int(round(n_per_site * x))) for x in w]


def profile_dict(scanner: Scanner, style: ReportStyle, mix: np.ndarray) -> dict[str, Any]:
    """A JSON-safe record of a resolved site profile (stored in Hospitals.info and meta.json)."""
    return {"scanner": asdict(scanner), "style": {**asdict(style), "lexicon": list(style.lexicon)},
            "mix": {a: round(float(p), 6) for a, p in zip(ARCHETYPES, mix)}}


def with_conspicuity(base: dict[str, float], difficulty: float) -> dict[str, float]:
    """Per-finding contrast multipliers at this difficulty (>1 harder = fainter)."""
    return {k: v / difficulty for k, v in base.items()}


__all__ = ["ARCHETYPES", "GLOBAL_MIX", "FINDING_PROB", "CONSPICUITY", "Scanner", "ReportStyle", "Site",
           "preset_sites", "site_mix", "site_scanner", "site_style", "site_sizes", "profile_dict",
           "with_conspicuity"]
