"""Pictures of federated alignment, as plotly figures (returned, never shown: the notebook shows them).

    test = viz.map_cases(hospitals, 150)                             # the cases drawn on the map
    emb = viz.embed_subset({"ideal": ideal_dir, "FedAvg": fedavg_dir, "FedAID": fedaid_dir}, test,
                           hospitals.tokenizer)                      # saved models (or models)
    frame = viz.AlignmentFrame.fit(*emb["ideal"], seed=0)            # UMAP fit once, on the ideal model
    viz.alignment_map(frame, emb, test)

The pieces live in `frame` (the fixed UMAP frame, numba's cache), `layout` (numbers measured on a layout in
the frame), `cases` (the cases of a map and their embeddings), `maps` (alignment maps), `scores` (those numbers as
rows and tables), `data_figures` (how the hospitals differ), `plots` (curves, DRO weights, tables) and `report`
(`report.html`); this module exposes what notebooks and the CLI call. Importing it makes numba cache umap's
compiled code (see `frame`), so it should be imported before anything imports `umap`.
"""

from __future__ import annotations

from .cases import drift_from, embed_subset, format_drift, map_cases, panels
from .frame import AlignmentFrame, _patch_numba, frame_subset, warm_numba_cache, warm_numba_cache_in_background
from .layout import finding_purity, finding_purity_chance, layout_scores, pair_distance, pair_distance_ratio
from .maps import COLOR_MODES, alignment_map, alignment_map_xy
from .data_figures import example_images, report_stats, site_prevalence
from .plots import drift_bar, dro_weights, metric_curves, probe_curve, results_table
from .report import write_report
from .scores import format_map_scores, map_scores, map_scores_table

_patch_numba()  # before any `import umap` in this process: umap's decorators run at import time (none above do)

__all__ = [
    # maps: cases, embeddings, the fixed frame and the figure
    "map_cases", "embed_subset", "panels", "AlignmentFrame", "frame_subset", "alignment_map", "alignment_map_xy",
    "COLOR_MODES",
    # the numbers measured in a map
    "map_scores", "map_scores_table", "format_map_scores", "layout_scores", "finding_purity",
    "finding_purity_chance", "pair_distance", "pair_distance_ratio",
    # the hospitals and the runs
    "site_prevalence", "example_images", "report_stats", "metric_curves", "dro_weights", "results_table",
    "write_report", "drift_from", "format_drift", "drift_bar", "probe_curve",
    # setup (Binder's postBuild; notebook 00 warms in the background)
    "warm_numba_cache", "warm_numba_cache_in_background",
]
