"""Alignment maps: images and reports of the same cases in one fixed frame, panel by panel, round by round.

Each panel draws one model: circles are images, diamonds are their reports, and a thin grey line
joins each matched pair (the shorter the lines, the better the model aligns the two modalities).
A dropdown recolours by finding, site or modality; a button hides the lines; with per-round
embeddings a slider steps through the rounds (plotly frames), all in the axes of one `AlignmentFrame`.
Each panel's title carries two numbers measured in the frame (`frame.layout_scores`): finding
purity of the 10 nearest map neighbours (with its chance value) and the matched-pair distance as a
share of the random-pair distance; `scores.map_scores` gives them per model as rows for a table or a print.
"""

from __future__ import annotations

import textwrap
from typing import Collection, Mapping, Protocol, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..data.types import FINDINGS
from .cases import PanelInput, is_single
from .frame import AlignmentFrame
from .layout import PURITY_K, finding_purity_chance
from .scores import SCORE_HELP, score_title


class Cases(Protocol):
    """The cases a map draws: a `PairedData` subset (`site_names`, when present, names the sites)."""

    reports: Sequence[str]
    labels: np.ndarray
    sites: np.ndarray


COLOR_MODES = ("finding", "site", "modality")
MODALITY_COLORS = {"image": "#1f77b4", "report": "#d62728"}
LINE_COLOR = "rgba(120,120,120,0.35)"
LEGEND_PLACES = ("side", "below")
TOP_PX, MENU_GAP_PX, LEGEND_ROWS_PX, NARROW_LINE_PX = 140, 56, 50, 16
"""Pixels: the top margin holds, from the top, the title, the menus (their bottom edge MENU_GAP_PX above the
panels) and the two-line panel titles (~45 px); a legend below the panels gets LEGEND_ROWS_PX for its rows."""


def primary_findings(labels: np.ndarray) -> list[str]:
    """One name per case: its first positive finding in FINDINGS order, else 'no_finding'."""
    labels = np.asarray(labels)
    out = []
    for row in labels:
        hits = [FINDINGS[j] for j in np.flatnonzero(row[: len(FINDINGS) - 1])]
        out.append(hits[0] if hits else "no_finding")
    return out


def _hover(reports: Sequence[str], labels: np.ndarray, site_names: Sequence[str]) -> list[str]:
    texts = []
    for report, row, site in zip(reports, np.asarray(labels), site_names):
        found = ", ".join(FINDINGS[j].replace("_", " ") for j in np.flatnonzero(row)) or "none"
        body = "<br>".join(textwrap.wrap(textwrap.shorten(str(report), 320, placeholder=" …"), 64))
        texts.append(f"<b>{site}</b><br>findings: {found}<br>{body}")
    return texts


def _colors(mode: str, findings: list[str], site_labels: list[str], site_order: list[str]) -> dict[str, object]:
    """{'image': colours, 'report': colours, 'legend': {name: colour}} for one colour mode."""
    if mode == "modality":
        return {"image": MODALITY_COLORS["image"], "report": MODALITY_COLORS["report"],
                "legend": dict(MODALITY_COLORS)}
    palette = qualitative.D3 if mode == "finding" else qualitative.Set2
    names = list(FINDINGS) if mode == "finding" else site_order
    key = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    per_case = [key[f] for f in (findings if mode == "finding" else site_labels)]
    present = set(findings if mode == "finding" else site_labels)
    return {"image": per_case, "report": per_case, "legend": {n: c for n, c in key.items() if n in present}}


def _pair_lines(image_xy: np.ndarray, text_xy: np.ndarray) -> tuple[list, list]:
    """x and y of one line trace joining each image to its report (None breaks the line between pairs)."""
    n = len(image_xy)
    xs = np.full((n, 3), np.nan)
    ys = np.full((n, 3), np.nan)
    xs[:, 0], xs[:, 1] = image_xy[:, 0], text_xy[:, 0]
    ys[:, 0], ys[:, 1] = image_xy[:, 1], text_xy[:, 1]
    to_list = lambda a: [None if np.isnan(v) else float(v) for v in a.ravel()]  # noqa: E731
    return to_list(xs), to_list(ys)


def alignment_map(frame: AlignmentFrame, panels: Mapping[str, PanelInput], cases: Cases, *,
                  color: str = "finding", lines: bool = True, round_labels: Sequence[int | str] | None = None,
                  title: str = "Images (●) and their reports (◆) in one fixed frame",
                  height: int = 460, scores: bool | Collection[str] = True, k: int = PURITY_K) -> go.Figure:
    """Side-by-side alignment maps of `cases` (the frame's subset) in `frame`; per-round embeddings get a slider."""
    if not panels:
        raise ValueError("alignment_map needs at least one panel: {'name': (image_emb, text_emb)}")
    n = len(frame)
    reports, labels, sites = cases.reports, cases.labels, cases.sites
    if len(reports) != n or len(labels) != n or len(sites) != n:
        raise ValueError(f"reports/labels/sites have {len(reports)}/{len(labels)}/{len(sites)} rows; "
                         f"the frame has {n} cases: pass the frame's subset")
    coords: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, value in panels.items():
        seq = [value] if is_single(value) else list(value)  # type: ignore[list-item]
        if not seq:
            raise ValueError(f"panel {name!r} has no embeddings")
        coords[name] = [frame.transform(img, txt) for img, txt in seq]
    return alignment_map_xy(coords, frame.bounds(), cases, color=color, lines=lines,
                            round_labels=round_labels, title=title, height=height, scores=scores, k=k)


def alignment_map_xy(coords: Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]],
                     bounds: tuple[tuple[float, float], tuple[float, float]], cases: Cases, *,
                     color: str = "finding", lines: bool = True, round_labels: Sequence[int | str] | None = None,
                     title: str = "Images (●) and their reports (◆) in one fixed frame",
                     height: int = 460, scores: bool | Collection[str] = True, k: int = PURITY_K,
                     legend: str = "side") -> go.Figure:
    """`alignment_map` from coordinates already in a frame: {panel: [(image_xy, text_xy) per round]}.

    `scores`: True puts each panel's `layout_scores` under its title (per round with a slider), a
    collection of panel names only under those (a panel whose points are stand-ins), False none.
    `legend`: "side" (a column right of the panels) or "below" (rows under them, for a wide figure).
    """
    if color not in COLOR_MODES:
        raise ValueError(f"color={color!r}: choose one of {', '.join(COLOR_MODES)}")
    if legend not in LEGEND_PLACES:
        raise ValueError(f"legend={legend!r}: choose one of {', '.join(LEGEND_PLACES)}")
    reports, labels, sites = cases.reports, np.asarray(cases.labels), np.asarray(cases.sites)
    site_names = getattr(cases, "site_names", None)
    names = list(site_names) if site_names is not None else [f"site {s}" for s in range(int(sites.max()) + 1)]
    site_labels = [names[int(s)] for s in sites]
    findings = primary_findings(labels)
    hover = _hover(reports, labels, site_labels)
    coords = {name: list(v) for name, v in coords.items()}
    n_rounds = max(len(c) for c in coords.values())
    rounds = list(round_labels) if round_labels is not None else list(range(1, n_rounds + 1))
    if len(rounds) != n_rounds:
        raise ValueError(f"round_labels has {len(rounds)} entries for {n_rounds} rounds")
    at = lambda name, r: coords[name][min(r, len(coords[name]) - 1)]  # noqa: E731
    last = n_rounds - 1

    scored = set(coords) if scores is True else set(scores or ())
    # a narrow panel (four side by side, or three beside a legend) gets its two numbers on two lines: on one
    # they ran into the neighbouring panel's numbers; the extra line moves the menus up by its height
    narrow = len(coords) >= 4 or (len(coords) == 3 and legend == "side")
    top, menu_gap = TOP_PX + NARROW_LINE_PX * narrow, MENU_GAP_PX + NARROW_LINE_PX * narrow
    panel_title = lambda name, r: score_title(name, at(name, r), labels, k, name in scored, narrow)  # noqa: E731
    fig = make_subplots(rows=1, cols=len(coords), subplot_titles=[panel_title(n, last) for n in coords],
                        horizontal_spacing=0.03)
    if scored:   # the title is short; hovering it says what the numbers mean
        help_text = "<br>".join(textwrap.wrap(SCORE_HELP.format(k=k, chance=finding_purity_chance(labels)), 70))
        for note, name in zip(fig.layout.annotations, coords):
            note.hovertext = help_text if name in scored else None
    modes = {m: _colors(m, findings, site_labels, names) for m in COLOR_MODES}
    line_idx, point_idx, legend_idx = [], [], {m: [] for m in COLOR_MODES}
    point_modality: list[str] = []
    for col, name in enumerate(coords, start=1):
        image_xy, text_xy = at(name, last)
        lx, ly = _pair_lines(image_xy, text_xy)
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color=LINE_COLOR, width=0.8),
                                 hoverinfo="skip", showlegend=False, visible=lines, name=f"{name} pairs"),
                      row=1, col=col)
        line_idx.append(len(fig.data) - 1)
        for modality, xy, symbol in (("image", image_xy, "circle"), ("report", text_xy, "diamond")):
            fig.add_trace(go.Scatter(
                x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"{name} {modality}s", showlegend=False,
                marker=dict(symbol=symbol, size=7 if modality == "image" else 6, color=modes[color][modality],
                            line=dict(width=0.5, color="white"), opacity=0.85),
                hovertext=hover, hovertemplate="%{hovertext}<extra>" + f"{name}: {modality}</extra>"),
                row=1, col=col)
            point_idx.append(len(fig.data) - 1)
            point_modality.append(modality)
    # legend-only traces: one per colour key, shown for the active colour mode
    for m in COLOR_MODES:
        for key, c in modes[m]["legend"].items():  # type: ignore[union-attr]
            # finding keys read as words in the legend ("pleural effusion"); hospital names stay as named
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=key.replace("_", " ") if m == "finding"
                                     else key, legendgroup=m,
                                     marker=dict(color=c, size=9), visible=(m == color), showlegend=True))
            legend_idx[m].append(len(fig.data) - 1)
    for symbol, label in (("circle-open", "image"), ("diamond-open", "report")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label,
                                 marker=dict(symbol=symbol, color="#444", size=9)))

    (x0, x1), (y0, y1) = _bounds(bounds, coords)
    fig.update_xaxes(range=[x0, x1], matches="x", showticklabels=False, zeroline=False, showgrid=False)
    fig.update_yaxes(range=[y0, y1], matches="y", showticklabels=False, zeroline=False, showgrid=False)
    all_legend = [i for m in COLOR_MODES for i in legend_idx[m]]
    legend_colors = [fig.data[i].marker.color for i in all_legend]
    buttons = [dict(label=f"colour: {m}", method="restyle",
                    args=[{"marker.color": [modes[m][mod] for mod in point_modality] + legend_colors,
                           "visible": [True] * len(point_idx) + [i in legend_idx[m] for i in all_legend]},
                          point_idx + all_legend])
               for m in COLOR_MODES]
    bottom = (40 if n_rounds == 1 else 90) + (LEGEND_ROWS_PX if legend == "below" else 0)
    # updatemenus take paper coordinates only: convert the pixel gap with the plot area's real height
    menu_y = 1 + menu_gap / max(height - top - bottom, 100)
    menus = [dict(type="dropdown", buttons=buttons, active=COLOR_MODES.index(color),
                  x=0.0, xanchor="left", y=menu_y, yanchor="bottom"),
             dict(type="buttons", direction="right", x=0.25, xanchor="left", y=menu_y, yanchor="bottom",
                  buttons=[dict(label="pair lines on", method="restyle", args=[{"visible": True}, line_idx]),
                           dict(label="off", method="restyle", args=[{"visible": False}, line_idx])])]
    if n_rounds > 1:
        titles = [note.to_plotly_json() for note in fig.layout.annotations]
        # a frame's layout replaces the whole annotation list, so each carries every panel title
        fig.frames = [go.Frame(name=str(r), traces=_frame_traces(line_idx, point_idx),
                               data=_frame_data(coords, at, i),
                               layout=dict(annotations=[{**t, "text": panel_title(n, i)}
                                                        for t, n in zip(titles, coords)]))
                      for i, r in enumerate(rounds)]
        step_args = lambda r: [[str(r)], dict(mode="immediate", frame=dict(duration=0, redraw=False),  # noqa: E731
                                              transition=dict(duration=0))]
        fig.update_layout(sliders=[dict(active=last, currentvalue=dict(prefix="round "), pad=dict(t=30),
                                        steps=[dict(label=str(r), method="animate", args=step_args(r))
                                               for r in rounds])])
        menus.append(dict(type="buttons", x=0.5, xanchor="left", y=menu_y, yanchor="bottom",
                          buttons=[dict(label="▶ play", method="animate",
                                        args=[None, dict(frame=dict(duration=500, redraw=False),
                                                         fromcurrent=False, transition=dict(duration=250))])]))
    if legend == "below":   # rows in reading order (grouped, the findings would stack in one tall column)
        legend_layout = dict(orientation="h", traceorder="normal", x=0.0, xanchor="left", y=-0.02, yanchor="top")
    else:   # from the panels' top down, free to run into the bottom margin (beside the round slider), unscrolled
        legend_layout = dict(tracegroupgap=4, maxheight=height - top - 10)   # pixels, not the plot's height
    fig.update_layout(title=dict(text=title, y=1 - 12 / height, yanchor="top"), height=height,
                      template="plotly_white", updatemenus=menus, margin=dict(t=top, l=20, r=20, b=bottom),
                      legend=dict(itemsizing="constant", font=dict(size=11), **legend_layout),
                      hoverlabel=dict(align="left"))
    return fig


def _frame_traces(line_idx: list[int], point_idx: list[int]) -> list[int]:
    """Trace indices a frame updates, in panel order: lines, images, reports."""
    out = []
    for p, li in enumerate(line_idx):
        out += [li, point_idx[2 * p], point_idx[2 * p + 1]]
    return out


def _frame_data(coords: dict, at, k: int) -> list[go.Scatter]:
    data = []
    for name in coords:
        image_xy, text_xy = at(name, k)
        lx, ly = _pair_lines(image_xy, text_xy)
        data += [go.Scatter(x=lx, y=ly), go.Scatter(x=image_xy[:, 0], y=image_xy[:, 1]),
                 go.Scatter(x=text_xy[:, 0], y=text_xy[:, 1])]
    return data


def _bounds(bounds: tuple[tuple[float, float], tuple[float, float]],
            coords: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    """The frame's box, widened to hold every transformed point: no panel or round autoscales."""
    (x0, x1), (y0, y1) = bounds
    for seq in coords.values():
        for image_xy, text_xy in seq:
            xy = np.concatenate([image_xy, text_xy])
            x0, x1 = min(x0, float(xy[:, 0].min())), max(x1, float(xy[:, 0].max()))
            y0, y1 = min(y0, float(xy[:, 1].min())), max(y1, float(xy[:, 1].max()))
    return (x0, x1), (y0, y1)
