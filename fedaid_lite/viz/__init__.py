"""Pictures of federated alignment, as plotly figures (returned, never shown: the notebook shows them).

    frame = AlignmentFrame.fit(*ideal_emb, seed=0)          # UMAP fit once, on the ideal model
    fig = alignment_map(frame, {"ideal": ideal_emb, "FedAvg": fedavg_emb, "FedAID": fedaid_emb},
                        subset.reports, subset.labels, subset.sites, subset.site_names)

The pieces live in `frame` (the fixed UMAP frame, numba's cache, map-level numbers), `maps` (alignment
maps), `plots` (heterogeneity, curves, DRO weights, tables) and `report` (`report.html`).
Importing this module makes numba cache umap's compiled code (see `frame`), so it should be
imported before anything imports `umap`.
"""

from __future__ import annotations

from .frame import (AlignmentFrame, _patch_numba, finding_purity, finding_purity_chance, frame_subset,
                        layout_scores, numba_cache_dir, pair_distance, pair_distance_ratio, random_pair_distance,
                        warm_numba_cache)
from .maps import COLOR_MODES, alignment_map, format_map_scores, map_scores, map_scores_table, primary_findings
from .maps import alignment_map_xy
from .plots import (CURVE_METRICS, dro_weights, example_images, live_curves, metric_curves, report_stats,
                        results_table, site_prevalence)
from .report import write_report

_patch_numba()  # before any `import umap` in this process: umap's decorators run at import time

__all__ = ["AlignmentFrame", "COLOR_MODES", "CURVE_METRICS", "alignment_map", "alignment_map_xy", "dro_weights",
           "example_images", "finding_purity", "finding_purity_chance", "format_map_scores", "frame_subset",
           "layout_scores", "live_curves", "map_scores", "map_scores_table", "metric_curves", "numba_cache_dir",
           "pair_distance", "pair_distance_ratio", "primary_findings", "random_pair_distance", "report_stats",
           "results_table", "site_prevalence", "warm_numba_cache", "write_report"]
