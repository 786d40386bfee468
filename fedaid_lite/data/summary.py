"""How the hospitals differ: per-site counts, prevalences, scanner and report-style statistics.

Plain dicts and lists (no pandas), shared by `fedaid-lite data show` and the notebooks.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from .types import FINDINGS, MENTION_CODES, Hospitals, PairedData

WORD = re.compile(r"[a-z]+")
KNOBS = ("label_skew", "image_shift", "report_shift", "quantity_skew")
"""The heterogeneity knobs of the data config (0 or inf = no difference between hospitals)."""


def _image_stats(images: np.ndarray) -> dict[str, float]:
    """Mean/std grey level and sharpness (mean |Laplacian|) of (N, H, W) uint8 images."""
    if len(images) == 0:
        return {"mean": 0.0, "std": 0.0, "sharpness": 0.0}
    x = images.astype(np.float32) / 255.0
    lap = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    return {"mean": round(float(x.mean()), 4), "std": round(float(x.std(axis=(1, 2)).mean()), 4),
            "sharpness": round(float(np.abs(lap).mean()), 4)}


def _report_stats(reports: tuple[str, ...], mentions: np.ndarray | None) -> dict[str, Any]:
    words = [WORD.findall(r.lower()) for r in reports]
    vocab = {w for ws in words for w in ws}
    out: dict[str, Any] = {
        "mean_words": round(float(np.mean([len(w) for w in words])) if words else 0.0, 2),
        "vocabulary": len(vocab),
        "unique_reports": len(set(reports)),
        "has_findings_section": round(float(np.mean(["findings:" in r.lower() for r in reports])) if reports else 0.0, 3),
    }
    if mentions is not None and len(mentions):
        m = mentions[:, :-1]
        out["uncertain_rate"] = round(float((m == MENTION_CODES["uncertain"]).mean()), 4)
        out["negated_rate"] = round(float((m == MENTION_CODES["negated"]).mean()), 4)
    return out


def _site_summary(name: str, parts: list[PairedData]) -> dict[str, Any]:
    alld = PairedData.concat(parts)
    views = [m.get("view", "") for m in alld.meta] if alld.meta else []
    sizes = [m.get("acq", {}).get("size") for m in alld.meta] if alld.meta else []
    return {
        "site": name,
        "counts": {sp: len(p) for sp, p in zip(("train", "val", "test"), parts)} | {"total": len(alld)},
        "patients": len(set(alld.patient_ids)),
        "prevalence": {k: round(float(v), 4) for k, v in zip(FINDINGS, alld.labels.mean(0))} if len(alld)
        else {k: 0.0 for k in FINDINGS},
        "scanner": {**_image_stats(alld.images),
                    "ap_share": round(float(np.mean([v == "AP" for v in views])), 3) if views else None,
                    "native_size": int(np.median([s for s in sizes if s])) if any(sizes) else None},
        "reports": _report_stats(alld.reports, alld.mentions),
    }


def heterogeneity_summary(h: Hospitals) -> dict[str, Any]:
    """Per-site counts, prevalences, scanner and report statistics, spreads, and three example reports."""
    sites = [_site_summary(name, [h.train[s], h.val[s], h.test[s]]) for s, name in enumerate(h.site_names)]
    prev = np.array([[s["prevalence"][k] for k in FINDINGS] for s in sites])
    g = h.global_test
    return {
        "source": h.info.get("source", "unknown"),
        "findings": list(FINDINGS),
        "sites": sites,
        "prevalence_spread": {k: round(float(prev[:, i].max() - prev[:, i].min()), 4)
                              for i, k in enumerate(FINDINGS)},
        "global_test": {"n": len(g), "prevalence": {k: round(float(v), 4) for k, v in
                                                    zip(FINDINGS, g.labels.mean(0))} if len(g) else {}},
        "examples": example_reports(h),
    }


def _unstated(data: PairedData, i: int) -> tuple[list[str], list[str]]:
    """(true findings the report does not state as present, absent findings it states or hedges) of case i."""
    if data.mentions is None:
        return [], []
    said = data.mentions[i, :-1]                                   # no_finding is derived, not written
    truth = data.labels[i, :-1] == 1
    present = (said == MENTION_CODES["positive"]) | (said == MENTION_CODES["uncertain"])
    names = FINDINGS[:-1]
    return ([f for f, t, p in zip(names, truth, present) if t and not p],
            [f for f, t, p in zip(names, truth, present) if p and not t])


def example_cases(data: PairedData, n: int) -> list[int]:
    """The first `n` cases, with the first whose report states exactly its findings moved to the front.

    The first report a student reads should not look wrong; the ones after it may show an omission,
    which `format_case` names (real reports leave things out too, devices most often).
    """
    first = list(range(min(n, len(data))))
    exact = next((i for i in range(len(data)) if _unstated(data, i) == ([], [])), None)
    if exact is None or not first:
        return first
    return [exact] + [i for i in first if i != exact][:n - 1]


def _example(data: PairedData, i: int) -> dict[str, Any]:
    missing, extra = _unstated(data, i)
    return {"site": data.site_names[int(data.sites[i])], "id": data.ids[i], "report": data.reports[i],
            "labels": [k for k, v in zip(FINDINGS, data.labels[i]) if v],
            "not_in_report": missing, "suggested_but_absent": extra}


def _example_text(ex: dict[str, Any]) -> str:
    notes = ([f"the report does not mention: {', '.join(ex['not_in_report'])}"] if ex.get("not_in_report") else []) \
        + ([f"the report suggests, though absent: {', '.join(ex['suggested_but_absent'])}"]
           if ex.get("suggested_but_absent") else [])
    head = f"--- {ex['site']} / {ex['id']}  (truth: {', '.join(ex['labels'])})"
    return "\n".join([head] + [f"    ({note})" for note in notes] + [ex["report"]])


def format_case(data: PairedData, i: int) -> str:
    """One case as text: site, id, true findings, what the report leaves out or wrongly suggests, the report."""
    return _example_text(_example(data, i))


def example_reports(h: Hospitals, n: int = 3) -> list[dict[str, Any]]:
    """One training report from each of the first `n` sites (`example_cases`' first), with its true findings."""
    out = []
    for s in range(h.num_sites):
        d = h.train[s] if len(h.train[s]) else h.test[s]
        if len(d) and len(out) < n:
            out.append(_example(d, example_cases(d, 1)[0]))
    return out


# Two header lines per finding column, so no name is cut ("cardiome", "no_findi" were unreadable).
_HEADERS = {"cardiomegaly": ("cardio-", "megaly"), "pleural_effusion": ("pleural", "effusion"),
            "consolidation": ("consoli-", "dation"), "pneumothorax": ("pneumo-", "thorax"),
            "atelectasis": ("atelec-", "tasis"), "support_devices": ("support", "devices"),
            "no_finding": ("no", "finding")}
SCANNER_REPORT_LEGEND = (
    "size: native image size in pixels · AP: share of AP (bedside) films, the rest PA · brightness, contrast:\n"
    "mean grey level and its spread (0-1) · sharpness: edge strength (mean |Laplacian|) · words: mean words\n"
    "per report · vocabulary: distinct words · hedged: share of finding mentions written as uncertain\n"
    "(\"possible effusion\") · negated: share written as absent (\"no effusion\"); both per case and finding")


def format_summary(summary: dict[str, Any], hospitals: Hospitals | None = None, examples: int = 3) -> str:
    """The summary as plain-text tables plus example reports (what `fedaid-lite data show` prints).

    The summary already carries three example reports; passing `hospitals` picks `examples` afresh.
    """
    sites = summary["sites"]
    head = {k: _HEADERS.get(k, ("", k[:8])) for k in summary["findings"]}
    lines = [f"source: {summary['source']}   sites: {len(sites)}   global test: {summary['global_test']['n']}", "",
             "share of cases with each finding:",
             f"{'':<36}  " + " ".join(f"{head[k][0]:>8}" for k in summary["findings"]),
             f"{'site':<20}{'train':>6}{'val':>5}{'test':>5}  "
             + " ".join(f"{head[k][1]:>8}" for k in summary["findings"])]
    for s in sites:
        c = s["counts"]
        lines.append(f"{s['site']:<20}{c['train']:>6}{c['val']:>5}{c['test']:>5}  "
                     + " ".join(f"{s['prevalence'][k]:>8.2f}" for k in summary["findings"]))
    lines.append(f"{'spread (max-min)':<36}  " + " ".join(f"{summary['prevalence_spread'][k]:>8.2f}"
                                                      for k in summary["findings"]))
    lines += ["", f"{'site':<20}{'size':>5}{'AP':>6}{'bright':>8}{'contr':>7}{'sharp':>7}  "
              f"{'words':>6}{'vocab':>6}{'hedged':>7}{'negated':>8}"]
    for s in sites:
        sc, r = s["scanner"], s["reports"]
        ap = "-" if sc["ap_share"] is None else f"{sc['ap_share']:.2f}"
        size = "-" if sc["native_size"] is None else str(sc["native_size"])
        lines.append(f"{s['site']:<20}{size:>5}{ap:>6}{sc['mean']:>8.2f}{sc['std']:>7.2f}{sc['sharpness']:>7.3f}  "
                     f"{r['mean_words']:>6.1f}{r['vocabulary']:>6}{r.get('uncertain_rate', 0):>7.3f}"
                     f"{r.get('negated_rate', 0):>8.2f}")
    lines.append(SCANNER_REPORT_LEGEND)
    for ex in (example_reports(hospitals, examples) if hospitals is not None else summary["examples"]):
        lines += ["", _example_text(ex)]
    return "\n".join(lines)


def heterogeneity_knobs(data_cfg: Any) -> dict[str, float]:
    """The four heterogeneity knobs (`KNOBS`) of a data config, by name."""
    return {k: getattr(data_cfg, k) for k in KNOBS}


def format_sites(h: Hospitals) -> str:
    """Two lines: the hospitals' names, and how many training cases each has."""
    return (f"{h.num_sites} hospitals: {', '.join(h.site_names)}\n"
            f"training cases per site: {[len(t) for t in h.train]}")


def format_cases(data: PairedData, n: int) -> str:
    """`n` example cases of one site (`example_cases`: the first states exactly its findings), as text."""
    return "\n\n".join(format_case(data, i) for i in example_cases(data, n))


def format_site_examples(h: Hospitals) -> str:
    """One training report per hospital (`example_cases`' first) with its true findings, as text."""
    return "\n\n".join(_example_text(ex) for ex in example_reports(h, h.num_sites))


def spreads(h: Hospitals) -> dict[str, float]:
    """How far from IID in three numbers: mean prevalence spread (max − min over sites), spread of the AP-film
    share, spread of mean words per report."""
    s = heterogeneity_summary(h)
    ap = [x["scanner"]["ap_share"] for x in s["sites"] if x["scanner"]["ap_share"] is not None]
    return {"prevalence spread": float(np.mean(list(s["prevalence_spread"].values()))),
            "AP-share spread": float(np.ptp(ap)) if ap else float("nan"),
            "words-per-report spread": float(np.ptp([x["reports"]["mean_words"] for x in s["sites"]]))}


def format_spreads(settings: Mapping[str, Hospitals]) -> str:
    """A text table of `spreads`, one row per named set of hospitals, two decimals."""
    rows = {name: spreads(h) for name, h in settings.items()}
    keys = list(next(iter(rows.values())))
    width = max(len(name) for name in rows)
    lines = [" " * width + "".join(f"  {k}" for k in keys)]
    lines += [f"{name:<{width}}" + "".join(f"  {v[k]:>{len(k)}.2f}" for k in keys) for name, v in rows.items()]
    return "\n".join(lines)
