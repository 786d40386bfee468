"""Plain plotly figures of the hospitals' data: case mix per hospital, example images, report statistics.

Every function takes a `Hospitals` and returns a `plotly.graph_objects.Figure`; the notebook decides whether
and where to show it (notebooks 00 and 01).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..data.types import FINDINGS, Hospitals
from .plots import site_palette

_WORD = re.compile(r"[a-z]+")


def site_prevalence(hospitals: Hospitals, split: str = "train", setting: str = "") -> go.Figure:
    """Heatmap sites × findings of the share of cases with each finding (label skew at a glance)."""
    parts = getattr(hospitals, split)
    z = np.array([np.asarray(p.labels, dtype=np.float64).mean(axis=0) if len(p) else np.zeros(len(FINDINGS))
                  for p in parts])                                    # (S, F)
    counts = [len(p) for p in parts]
    fig = go.Figure(go.Heatmap(
        z=z, x=[f.replace("_", " ") for f in FINDINGS],
        y=[f"{n} (n={c})" for n, c in zip(hospitals.site_names, counts)],
        colorscale="Blues", zmin=0, zmax=max(float(z.max()), 1e-6),
        texttemplate="%{z:.2f}", hovertemplate="%{y}<br>%{x}: %{z:.1%}<extra></extra>",
        colorbar=dict(title="share")))
    # `setting` names the knobs in the title, so two heatmaps side by side (skewed vs IID) are told apart
    where = f"{split}, {setting}" if setting else split
    fig.update_layout(title=f"Finding prevalence per hospital ({where})", template="plotly_white",
                      height=140 + 45 * len(parts), yaxis=dict(autorange="reversed"))
    return fig


_SHORT = {"pleural_effusion": "effusion", "consolidation": "consolid.", "support_devices": "devices",
          "no_finding": "no finding"}


def example_images(hospitals: Hospitals, per_site: int = 4, seed: int = 0, split: str = "train") -> go.Figure:
    """A grid of example images, one row per hospital (named above it), each image's findings under it."""
    rng = np.random.default_rng(seed)
    parts = getattr(hospitals, split)
    size = parts[0].images.shape[-1]
    gap, cap = 2, size * 2 // 3      # cap: the band under each row that holds the captions and the next name
    rows, captions = [], []
    for r, p in enumerate(parts):
        idx = rng.permutation(len(p))[:per_site]
        tiles = [p.images[i].astype(np.float64) for i in idx]
        tiles += [np.full((size, size), np.nan)] * (per_site - len(tiles))
        sep = np.full((size, gap), np.nan)
        rows.append(np.concatenate([t for tile in tiles for t in (tile, sep)][:-1], axis=1))
        for c, i in enumerate(idx):
            found = [_SHORT.get(f, f) for f, y in zip(FINDINGS, p.labels[i]) if y]
            text = "<br>".join(found[:2]) + (f" +{len(found) - 2}" if len(found) > 2 else "")
            captions.append((c * (size + gap) + size / 2, r * (size + cap) + size + 2, text))
    width = rows[0].shape[1]
    hsep = np.full((cap, width), np.nan)
    mosaic = np.concatenate([r for row in rows for r in (row, hsep)][:-1], axis=0)   # (S*(size+cap)-cap, ...)
    fig = go.Figure(go.Heatmap(z=mosaic, colorscale="gray", showscale=False, zmin=0, zmax=255,
                               hoverinfo="skip"))
    for r, name in enumerate(hospitals.site_names):
        fig.add_annotation(x=-0.5, y=r * (size + cap) - 1, text=f"<b>{name}</b>", showarrow=False,
                           xanchor="left", yanchor="bottom", font=dict(size=12))
    for x, y, text in captions:
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, yanchor="top", font=dict(size=9, color="#444"))
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x", showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(title=f"Example images per hospital ({split}), findings under each", template="plotly_white",
                      height=110 + 150 * len(parts), width=80 + 120 * per_site, margin=dict(l=20, r=20, t=70))
    return fig


def report_stats(hospitals: Hospitals, split: str = "train") -> go.Figure:
    """Report length per hospital (box) and vocabulary: distinct words and words used by no other site."""
    parts = getattr(hospitals, split)
    names = list(hospitals.site_names)
    vocab = [set(w for r in p.reports for w in _WORD.findall(r.lower())) for p in parts]
    only = [len(v - set().union(*(u for j, u in enumerate(vocab) if j != i))) for i, v in enumerate(vocab)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("words per report", "vocabulary"),
                        column_widths=[0.6, 0.4])
    colors = site_palette(names)
    for name, p in zip(names, parts):
        lengths = [len(_WORD.findall(r.lower())) for r in p.reports]
        fig.add_trace(go.Box(y=lengths, name=name, marker_color=colors[name], showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[len(v) for v in vocab], name="distinct words", marker_color="#8da0cb"),
                  row=1, col=2)
    # zero-height bars are invisible: the legend says they are zero, not missing
    fig.add_trace(go.Bar(x=names, y=only, name="used only here" + ("" if any(only) else " (none, at any hospital)"),
                         marker_color="#fc8d62"), row=1, col=2)
    # the legend sits above the vocabulary panel: under the panels it covered the rotated hospital names
    fig.update_layout(title=f"How each hospital writes its reports ({split})", template="plotly_white",
                      barmode="group", height=420, margin=dict(t=110),
                      legend=dict(orientation="h", x=1.0, xanchor="right", y=1.22, yanchor="bottom"))
    return fig
