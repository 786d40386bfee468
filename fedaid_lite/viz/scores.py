"""The numbers measured in an alignment map: per panel title, as rows, as a table figure and as printed text.

Two numbers per model, measured in the map's own frame (`frame.layout_scores`): finding purity of the
10 nearest map neighbours (with its chance value) and the matched-pair distance as a share of the
random-pair distance. `maps` puts them under each panel's title; `map_scores` gives them as rows, which
`map_scores_table` draws and `format_map_scores` prints (see docs/metrics.md).
"""

from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .cases import PanelInput, last_rounds
from .frame import AlignmentFrame
from .layout import PURITY_K, layout_scores
from .plots import results_table

SCORE_COLUMNS = ("model", "purity", "purity_image", "purity_report", "purity_chance", "pair_dist", "pair_ratio")
SCORE_TITLES = {"purity": "finding purity@k (images+reports)", "purity_image": "purity: images",
                "purity_report": "purity: reports", "purity_chance": "purity by chance",
                "pair_dist": "pair distance (map units)", "pair_ratio": "pair distance ÷ random pairs"}
SCORE_HELP = ("finding purity@{k}: share of a point's {k} nearest map neighbours (images and reports, not its own "
              "partner) with exactly its finding set; chance {chance:.2f}. pairs: mean image–report line length "
              "÷ that of random pairs (0 = each image on its report, 1 = no closer than chance)")


def map_scores(frame: AlignmentFrame, panels: Mapping[str, PanelInput], labels: np.ndarray,
               k: int = PURITY_K) -> list[dict[str, Any]]:
    """One row per model ({'model', 'purity', ..., 'pair_ratio'}): `layout_scores` of its last layout in `frame`."""
    if len(labels) != len(frame):
        raise ValueError(f"labels have {len(labels)} rows; the frame has {len(frame)} cases: pass the frame's subset")
    return [{"model": name, **layout_scores(*frame.transform(*emb), labels, k)}
            for name, emb in last_rounds(panels).items()]


def map_scores_table(rows: Sequence[Mapping[str, Any]], k: int = PURITY_K,
                     title: str = "Numbers for the maps (measured in the frame)") -> go.Figure:
    """A table figure of `map_scores` rows, its caption saying what each number means."""
    chance = float(rows[0]["purity_chance"]) if rows else float("nan")
    renamed = [{SCORE_TITLES.get(c, c).replace("@k", f"@{k}"): r.get(c) for c in SCORE_COLUMNS} for r in rows]
    fig = results_table(renamed, title=title)
    fig.add_annotation(text="<br>".join(textwrap.wrap(SCORE_HELP.format(k=k, chance=chance), 150)), showarrow=False,
                       xref="paper", yref="paper", x=0, y=0, xanchor="left", yanchor="top", align="left",
                       font=dict(size=11, color="#555"))
    fig.update_layout(height=fig.layout.height + 40, margin=dict(b=50))
    return fig


def format_map_scores(rows: Sequence[Mapping[str, Any]], k: int = PURITY_K) -> str:
    """`map_scores` rows as a fixed-width text table with a short legend (for `print` in a notebook)."""
    cols = ((f"purity@{k}", "purity"), ("images", "purity_image"), ("reports", "purity_report"),
            ("chance", "purity_chance"), ("pair dist", "pair_dist"), ("÷ random", "pair_ratio"))
    width = max([len("model")] + [len(str(r["model"])) for r in rows])
    head = "  ".join([f"{'model':<{width}}"] + [f"{title:>{max(len(title), 6)}}" for title, _ in cols])
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append("  ".join([f"{str(r['model']):<{width}}"]
                               + [f"{float(r[key]):>{max(len(title), 6)}.3f}" for title, key in cols]))
    chance = float(rows[0]["purity_chance"]) if rows else float("nan")
    return "\n".join(lines + textwrap.wrap(SCORE_HELP.format(k=k, chance=chance), 100))


def score_title(name: str, xy: tuple[np.ndarray, np.ndarray], labels: np.ndarray, k: int, scored: bool,
                narrow: bool = False) -> str:
    """A panel's title: its name and, when scored, finding purity (with chance) and the pair-distance ratio.

    `narrow` puts the two numbers on two lines (four panels side by side, or three beside a legend: on one
    line they ran into the neighbouring panel's numbers).
    """
    if not scored:
        return name
    s = layout_scores(*xy, labels, k)
    small = "<span style='font-size:11px;color:#555'>{}</span>"
    purity = f"purity@{k} {s['purity']:.2f} (chance {s['purity_chance']:.2f})"
    pairs = f"pairs {s['pair_ratio']:.2f}× random"
    if narrow:
        return f"{name}<br>{small.format(purity)}<br>{small.format(pairs)}"
    return f"{name}<br>{small.format(purity + ' · ' + pairs)}"
