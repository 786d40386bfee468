"""`report.html` of `fedaid-lite compare`: the table, the curves and the alignment maps in one offline file.

Each map comes with a small table of the numbers measured in its frame (finding purity of the map
neighbours and the image–report pair distance, per model), so a reader can check the eye against them.

plotly.js is inlined once (the first figure carries it, the rest reuse it), so the report opens
without a network connection. Maps need the saved models (`runs/<run>/model`) and rebuild the
hospitals from each run's config; when that is not possible the report says why and keeps the rest.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from ..config import Experiment
from ..data import load_hospitals
from ..experiments import CompareResult, summarize
from ..history import atomic_write_text
from ..names import label, row_labels, row_run_name
from .cases import embed_subset, map_cases
from .frame import AlignmentFrame
from .maps import alignment_map
from .plots import dro_weights, metric_curves, results_table
from .scores import map_scores, map_scores_table

MAP_ORDER = ("centralized", "fedavg", "fedprox", "moon", "fedaid")
_CSS = ("body{font-family:system-ui,sans-serif;max-width:1280px;margin:2em auto;padding:0 1em;color:#222}"
        "h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}.note{color:#666}")


def _maps(out: Path, result: CompareResult, points: int, max_settings: int) -> list[tuple[str, Any]]:
    """(heading, figure or note) per label-skew setting (first seed only): models embedded in one frame."""
    settings: dict[str, list[dict[str, Any]]] = {}
    for row in result.rows:
        settings.setdefault(str(row["label_skew"]), []).append(row)
    parts: list[tuple[str, Any]] = []
    for skew, rows in list(settings.items())[:max_settings]:
        seed = rows[0]["seed"]
        chosen = [r for r in rows if r["seed"] == seed and (out / "runs" / row_run_name(r) / "model").is_dir()]
        chosen.sort(key=lambda r: MAP_ORDER.index(r["algorithm"]) if r["algorithm"] in MAP_ORDER else 99)
        chosen = chosen[:4]
        heading = f"Alignment maps, label skew {skew}, seed {seed}"
        if not chosen:
            parts.append((heading, "no saved models under runs/: maps need `runs/<run>/model`"))
            continue
        try:
            fig, table = _map_for(out, result, chosen, points)
            parts += [(heading, fig), (f"Numbers for these maps, label skew {skew}, seed {seed}", table)]
        except Exception as err:  # noqa: BLE001 - a map that cannot be drawn must not lose the report
            parts.append((heading, f"could not draw the maps ({type(err).__name__}: {err})"))
    return parts


def _map_for(out: Path, result: CompareResult, rows: list[dict[str, Any]], points: int) -> tuple[go.Figure, go.Figure]:
    """The maps of `rows`' saved models in one frame, and the table of `map_scores` measured in it."""
    cfg = Experiment.from_dict(result.histories[row_run_name(rows[0])].config)
    hospitals = load_hospitals(cfg.data)
    subset = map_cases(hospitals, points, seed=0)
    panels = embed_subset({label(r["algorithm"]): out / "runs" / row_run_name(r) / "model" for r in rows},
                          subset, hospitals.tokenizer)
    first = next(iter(panels.values()))
    frame = AlignmentFrame.fit(*first, seed=0)
    title = (f"Images (●) and reports (◆) in the frame of {next(iter(panels))}"
             + ("" if rows[0]["algorithm"] == "centralized" else " (no centralized run: not the ideal)"))
    fig = alignment_map(frame, panels, subset, title=title)
    return fig, map_scores_table(map_scores(frame, panels, subset.labels), title="")


def write_report(out_dir: str | Path, result: CompareResult, *, maps: bool = True, map_points: int = 200,
                 max_map_settings: int = 3) -> Path:
    """Write `out_dir/report.html`: summary table, metric curves, DRO weights and (if models exist) maps."""
    out = Path(out_dir)
    sections: list[tuple[str, Any]] = []
    table = summarize(result.rows)
    sections.append(("Summary (mean ± std over seeds)", results_table(table, title="")))
    if result.histories:
        # display labels ("FedAvg (skew 0.1)"), as in the notebooks; run folders keep their machine names
        names = row_labels(result.rows)
        shown = {names.get(run, run): h for run, h in result.histories.items()}
        sections.append(("Metrics over rounds", metric_curves(shown)))
        fedaid = [(n, h) for n, h in shown.items() if h.algorithm == "fedaid"][:2]
        for name, h in fedaid:
            sections.append((f"DRO weights: {name}", dro_weights(h, title=f"Client weights, {name}")))
    if maps:
        sections += _maps(out, result, map_points, max_map_settings)
    body, first = [], True
    for heading, item in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(item, go.Figure):
            body.append(item.to_html(full_html=False, include_plotlyjs=first, config={"responsive": True}))
            first = False
        else:
            body.append(f"<p class='note'>{html.escape(str(item))}</p>")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>fedaid-lite compare report</title>"
           f"<style>{_CSS}</style></head><body><h1>fedaid-lite: compare report</h1>"
           f"<p class='note'>{len(result.rows)} run(s), written {stamp}. Files: "
           f"{html.escape(', '.join(sorted(result.files)) or 'results.csv')}.</p>"
           + "\n".join(body) + "</body></html>")
    return atomic_write_text(out / "report.html", doc)
