"""The numbers under each alignment map's panel titles, per model, as rows for a table or a `print`.

Each row holds `frame.layout_scores` of one model's layout in the frame: finding purity of the k nearest map
neighbours (images, reports, both, and chance) and the matched-pair distance, also as a share of random pairs'.
"""

from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .frame import PURITY_K, AlignmentFrame, layout_scores
from .maps import SCORE_HELP, Embeddings, PanelInput, _is_single
from .plots import results_table

SCORE_COLUMNS = ("model", "purity", "purity_image", "purity_report", "purity_chance", "pair_dist", "pair_ratio")
SCORE_TITLES = {"purity": "finding purity@k (images+reports)", "purity_image": "purity: images",
                "purity_report": "purity: reports", "purity_chance": "purity by chance",
                "pair_dist": "pair distance (map units)", "pair_ratio": "pair distance ÷ random pairs"}


def _panels(panels: Mapping[str, PanelInput]) -> dict[str, Embeddings]:
    """{name: (image_emb, text_emb)}, the last round of a panel given per-round embeddings."""
    return {name: value if _is_single(value) else list(value)[-1] for name, value in panels.items()}  # type: ignore


def map_scores(frame: AlignmentFrame, panels: Mapping[str, PanelInput], labels: np.ndarray,
               k: int = PURITY_K) -> list[dict[str, Any]]:
    """One row per model ({'model', 'purity', ..., 'pair_ratio'}): `layout_scores` of its last layout in `frame`."""
    if len(labels) != len(frame):
        raise ValueError(f"labels have {len(labels)} rows; the frame has {len(frame)} cases: pass the frame's subset")
    return [{"model": name, **layout_scores(*frame.transform(*emb), labels, k)}
            for name, emb in _panels(panels).items()]


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
