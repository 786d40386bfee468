"""Plain plotly figures: how runs progress, and the results table (the hospitals' data: `data_figures`).

Every function takes data (`History` objects, result rows) and returns a
`plotly.graph_objects.Figure`; the notebook decides whether and where to show it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..history import History
from ..names import label

CURVE_METRICS = ("sem_p5", "zeroshot_auroc", "i2t_r5", "dist_to_ref", "diag_cos", "worst_site_sem_p5")
METRIC_TITLES = {
    "i2t_r5": "image→text R@5", "t2i_r5": "text→image R@5", "diag_cos": "matched-pair cosine",
    "dist_to_ref": "distance to ideal", "cka_to_ref": "CKA to ideal", "zeroshot_auroc": "zero-shot AUROC",
    "worst_site_i2t_r5": "worst-site i2t R@5", "modality_gap": "modality gap", "loss": "held-out loss (mean)",
    "linprobe_auroc_10": "linear probe AUROC (10%)", "sem_p5": "semantic P@5 (same findings)",
    "worst_site_sem_p5": "worst-hospital semantic P@5", "same_site_top5": "same-hospital share of top-5",
    "within_site_i2t_r5": "within-hospital i2t R@5", "worst_site_zeroshot_auroc": "worst-hospital zero-shot AUROC",
    "linprobe_auroc_1": "linear probe AUROC (1%)", "linprobe_auroc_100": "linear probe AUROC (100%)",
    "site_probe_acc": "site probe accuracy", "algorithm": "algorithm", "label_skew": "label skew (α)",
}
LIVE_METRICS = (("loss", "held-out loss"), ("sem_p5", "semantic P@5"), ("i2t_r5", "image→text R@5"),
                ("dist_to_ref", "distance to ideal"))
TABLE_ROW_PX = 22
"""Pixels per line of a table cell (12 px text and its padding)."""


def site_palette(names: Sequence[str]) -> dict[str, str]:
    """One Set2 colour per hospital name, in order (the same hospital, the same colour in every figure)."""
    return {n: qualitative.Set2[i % len(qualitative.Set2)] for i, n in enumerate(names)}


def round_dtick(last_round: int) -> int:
    """Whole-number tick spacing for a rounds axis (no "1.5" rounds), about six ticks at most."""
    return max(1, -(-last_round // 6))


def _runs(histories: Mapping[str, History] | Sequence[History]) -> dict[str, History]:
    """{display name: run}: an algorithm's key ("fedavg") becomes its label ("FedAvg"), other names stay."""
    named = histories.items() if isinstance(histories, Mapping) else [(h.algorithm or "run", h) for h in histories]
    out: dict[str, History] = {}
    for i, (key, h) in enumerate(named):
        name = label(key)
        out[name if name not in out else f"{name} ({i + 1})"] = h
    return out


def _series(h: History, metric: str) -> tuple[list[int], list[float]]:
    """(rounds, values) of a metric; 'loss' is the mean held-out client loss of each round."""
    if metric == "loss":
        pts = [(int(r["round"]), float(np.mean([v for v in r["client_losses"].values() if v is not None])))
               for r in h.records if r.get("client_losses")]
    else:
        pts = h.metric(metric)
    return [p[0] for p in pts], [p[1] for p in pts]


def metric_curves(histories: Mapping[str, History] | Sequence[History],
                  metrics: Sequence[str] = CURVE_METRICS, cols: int = 3) -> go.Figure:
    """One small plot per metric, one line per run, over communication rounds."""
    runs = _runs(histories)
    present = [m for m in metrics if any(_series(h, m)[0] for h in runs.values())] or list(metrics[:1])
    rows = (len(present) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=min(cols, len(present)),
                        subplot_titles=[METRIC_TITLES.get(m, m) for m in present])
    palette = qualitative.Plotly
    for i, (name, h) in enumerate(runs.items()):
        for j, m in enumerate(present):
            x, y = _series(h, m)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=(j == 0), line=dict(color=palette[i % len(palette)]),
                                     hovertemplate=f"{name}<br>round %{{x}}: %{{y:.3f}}<extra>{m}</extra>"),
                          row=j // cols + 1, col=j % cols + 1)
    last = max((int(r["round"]) for h in runs.values() for r in h.records), default=1)
    fig.update_xaxes(title_text="round", tick0=1, dtick=round_dtick(last))
    fig.update_layout(title="Metrics over rounds", template="plotly_white", height=260 * rows + 80)
    return fig


def dro_weights(history: History, title: str | None = None) -> go.Figure:
    """Stacked aggregation weight of each hospital per round (FedAID's DRO moves them; FedAvg's stay at p)."""
    names = list(history.site_names) or sorted({s for r in history.records for s in r.get("dro_weights", {})})
    colors = site_palette(names)
    rounds = [int(r["round"]) for r in history.records]
    fig = go.Figure()
    for name in names:
        y = [r.get("dro_weights", {}).get(name) for r in history.records]
        fig.add_trace(go.Scatter(x=rounds, y=y, name=name, mode="lines", stackgroup="w",
                                 line=dict(color=colors[name], width=0.5),
                                 hovertemplate=f"{name}<br>round %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=title or f"Client weights over rounds ({label(history.algorithm or 'run')})",
                      template="plotly_white", height=320, xaxis_title="round",
                      yaxis=dict(title="weight", range=[0, 1]))
    fig.update_xaxes(tick0=1, dtick=round_dtick(max(rounds, default=1)))   # whole rounds only
    return fig


def results_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                  title: str = "Results", chance: str | None = None) -> go.Figure:
    """A table figure of result rows (e.g. `experiments.summarize(result.rows)`); numbers get 3 decimals.

    `chance="sem_p5"` ends the title with that metric's chance level (of the first row's test set).
    """
    level = rows[0].get(f"{chance}_chance") if chance and rows else None
    if isinstance(level, float):   # "Title (note)" -> "Title (note; semantic P@5 chance 0.044)"
        note = f"{METRIC_TITLES.get(chance, chance).split(' (')[0]} chance {level:.3f}"
        title = f"{title[:-1]}; {note})" if title.endswith(")") else f"{title} ({note})"
    if not rows:
        return go.Figure(go.Table(header=dict(values=["(no runs)"]), cells=dict(values=[[]])))
    cols = list(columns) if columns else list(rows[0])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else ("–" if v is None else str(v))  # noqa: E731

    def cell(row: Mapping[str, Any], col: str) -> str:
        if col == "algorithm":   # rows keep the key (results.csv, run folders); a person reads the label
            return label(fmt(row.get(col)))
        # a retrieval number means little without what random ranking scores in the same gallery
        chance = row.get(f"{col}_chance")
        with_chance = isinstance(row.get(col), float) and isinstance(chance, float) and np.isfinite(chance)
        return f"{fmt(row.get(col))} (chance {chance:.3f})" if with_chance else fmt(row.get(col))

    cells = [[cell(r, c) for r in rows] for c in cols]
    fig = go.Figure(go.Table(header=dict(values=[METRIC_TITLES.get(c, c) for c in cols], fill_color="#e8eef7",
                                         align="left", font=dict(size=12)),
                             cells=dict(values=cells, align="left", height=24)))
    # a number with its chance wraps to two lines in a notebook-wide table (and so do the long headers): size
    # the figure for that, or plotly clips the last rows (notebook 03 showed two of its three rows)
    row_px = TABLE_ROW_PX * (2 if any("(chance" in v for col in cells for v in col) else 1)
    fig.update_layout(title=title, height=50 + 2 * TABLE_ROW_PX + row_px * len(rows) + 20,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def drift_bar(drift: Mapping[str, float]) -> go.Figure:
    """Bars of each model's distance to the ideal (`viz.drift_from`)."""
    fig = go.Figure(go.Bar(x=list(drift), y=list(drift.values())))
    fig.update_layout(title="Drift from the ideal alignment (held-out cases; lower is closer)", template="plotly_white",
                      xaxis_title="model", yaxis_title="distance to the ideal")
    return fig


def probe_curve(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Linear-probe AUROC against the share of labels used (1, 10, 100 %), one line per algorithm."""
    shares = {"1 %": "linprobe_auroc_1", "10 %": "linprobe_auroc_10", "100 %": "linprobe_auroc_100"}
    fig = go.Figure([go.Scatter(x=list(shares), y=[row.get(key) for key in shares.values()], mode="lines+markers",
                                name=label(str(row["algorithm"]))) for row in rows])
    fig.update_layout(title="Linear probe AUROC vs share of labelled training images", template="plotly_white",
                      xaxis_title="labels used", yaxis_title="AUROC", legend_title="algorithm")
    return fig


def live_curves(histories: dict[str, History], site_names: list[str],
                notes: Mapping[str, str] | None = None, weights_of: str | None = None,
                start: Mapping[str, Any] | None = None, start_label: str = "start (round 0)") -> go.Figure:
    """2 × 3 grid: four metric curves (one line per run) and the client weights of run `weights_of`.

    `notes` maps a metric to a line written across its panel (e.g. why it is still empty). Without
    `weights_of` (or while that run has no rounds) the weights are those of the first run with rounds.
    `start`: a round-0 record (the model every run starts from), drawn as one grey point named
    `start_label` in each metric panel and as the weights at round 0.
    """
    titles = [t for _, t in LIVE_METRICS] + ["client weights (DRO)"]
    fig = make_subplots(rows=2, cols=3, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.18)
    palette = qualitative.Plotly
    for i, (label, h) in enumerate(histories.items()):
        for j, (metric, _) in enumerate(LIVE_METRICS):
            x, y = _series(h, metric)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=label, legendgroup=label,
                                     showlegend=(j == 0), line=dict(color=palette[i % len(palette)])),
                          row=j // 3 + 1, col=j % 3 + 1)
    if start is not None:   # one point shared by every run: they all start from these weights
        first = True
        for j, (metric, _) in enumerate(LIVE_METRICS):
            x, y = _series(History(records=[dict(start)]), metric)
            if not x:
                continue
            fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=start_label, legendgroup="start",
                                     showlegend=first, marker=dict(color="#555", size=9, symbol="diamond"),
                                     hovertemplate=f"{start_label}: the model before any round<br>%{{y:.3f}}"
                                                   "<extra></extra>"),
                          row=j // 3 + 1, col=j % 3 + 1)
            first = False
    # chance, dotted, in the retrieval panels: a curve on that line has learned nothing about findings or pairs
    scored = [*histories.values(), History(records=[dict(start)] if start is not None else [])]
    span = [0 if start is not None else 1, max([int(r["round"]) for h in scored for r in h.records] + [1])]
    for j, (metric, _) in enumerate(LIVE_METRICS):
        chance = [p for h in scored for p in h.metric(f"{metric}_chance")]
        if chance:
            fig.add_trace(go.Scatter(x=span, y=[chance[-1][1]] * 2, mode="lines", name="chance", legendgroup="chance",
                                     showlegend=not any(t.name == "chance" for t in fig.data),
                                     line=dict(color="#999", dash="dot", width=1),
                                     hovertemplate=f"chance {chance[-1][1]:.3f}<extra></extra>"),
                          row=j // 3 + 1, col=j % 3 + 1)
    with_records = [lb for lb, h in histories.items() if h.records]
    weighted = weights_of if weights_of in with_records else (with_records[0] if with_records else None)
    if weighted:   # name whose weights are drawn: FedAID's move, FedAvg's stay at the data shares
        fig.layout.annotations[4].text = f"client weights ({weighted})"
    for k, site in enumerate(site_names):
        h = histories.get(weighted) if weighted else None
        records = ([dict(start)] if start is not None else []) + (list(h.records) if h else [])
        rounds = [int(r["round"]) for r in records]
        w = [r.get("dro_weights", {}).get(site) for r in records]
        fig.add_trace(go.Scatter(x=rounds, y=w, mode="lines", stackgroup="w", name=site, showlegend=True,
                                 legendgroup="sites", line=dict(width=0.5, color=qualitative.Set2[k % 8])),
                      row=2, col=2)
    for j, (metric, _) in enumerate(LIVE_METRICS):
        if notes and notes.get(metric):
            fig.add_annotation(text=notes[metric], x=0.5, y=0.5, xref="x domain", yref="y domain", showarrow=False,
                               font=dict(color="#777"), row=j // 3 + 1, col=j % 3 + 1)
    fig.update_layout(height=520, template="plotly_white", margin=dict(t=40, l=40, r=10, b=30),
                      legend=dict(orientation="v", x=1.0, xanchor="left"))
    last = max((int(r["round"]) for h in histories.values() for r in h.records), default=1)
    fig.update_xaxes(tick0=0 if start is not None else 1, dtick=round_dtick(last))
    fig.update_xaxes(title_text="round", row=2)
    return fig


def message_figure(text: str, height: int = 380) -> go.Figure:
    """An empty figure that says `text` (where a plot will appear once its inputs exist)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(color="#777"))
    fig.update_layout(height=height, template="plotly_white", xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig
