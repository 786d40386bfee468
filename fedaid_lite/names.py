"""Names, in one place: the algorithms, `compare`'s variants, their display labels, and run-folder names.

Everything that shows an algorithm to a person (tables, map panels, dashboard buttons) or finds a run on disk
reads it from here, so a new variant or a renamed label is one edit.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

ALGORITHMS = ("centralized", "local", "fedavg", "fedprox", "moon", "fedaid")
"""The algorithms `fed.algorithm` accepts."""

IMAGE_OBJECTIVES = ("findings", "simclr")
"""How `fedaid-lite pretrain` may pretrain the image tower (the first is what ships)."""
TEXT_OBJECTIVES = ("mlm", "findings", "mlm+findings")
"""How `fedaid-lite pretrain` may pretrain the text tower (the first is what ships)."""

VARIANTS: dict[str, dict[str, Any]] = {
    "centralized": {"fed.algorithm": "centralized"},
    "local": {"fed.algorithm": "local"},
    "fedavg": {"fed.algorithm": "fedavg"},
    "fedprox": {"fed.algorithm": "fedprox"},
    "moon": {"fed.algorithm": "moon"},
    "fedaid": {"fed.algorithm": "fedaid"},
    "fedaid-nodro": {"fed.algorithm": "fedaid", "fed.dro": False},
    "fedaid-nobind": {"fed.algorithm": "fedaid", "fed.bind_lambda": 0.0},
    "fedaid-onestage": {"fed.algorithm": "fedaid", "fed.two_stage": False},
}
"""Names `compare` accepts: the six algorithms plus FedAID's three ablations, as config overrides."""

LABELS = {"centralized": "ideal (centralized)", "local": "local only", "fedavg": "FedAvg", "fedprox": "FedProx",
          "moon": "MOON", "fedaid": "FedAID", "fedaid-nodro": "FedAID without DRO",
          "fedaid-nobind": "FedAID without binding", "fedaid-onestage": "FedAID in one stage"}
"""What a person reads for each variant."""

DASHBOARD_ALGORITHMS = ("fedavg", "fedprox", "fedaid")
"""The federated algorithms the live dashboard offers (the ideal trains in the background)."""


def label(name: str) -> str:
    """The display label of variant `name` (the name itself when it has none)."""
    return LABELS.get(name, name)


def skew_name(skew: float | str) -> str:
    """How a label skew appears in names and tables: `iid` for infinity, else the shortest float form."""
    if isinstance(skew, str) and skew == "iid":
        return skew
    return "iid" if math.isinf(float(skew)) else f"{float(skew):g}"


def run_label(algorithm: str, label_skew: float | str | None = None, seed: int | None = None) -> str:
    """What a person reads for one run: "FedAvg (IID)", "FedAID (skew 0.1, seed 1)", "ideal (centralized, skew 0.1)"."""
    parts = [] if label_skew is None else ["IID" if skew_name(label_skew) == "iid" else f"skew {skew_name(label_skew)}"]
    parts += [] if seed is None else [f"seed {seed}"]
    name = label(algorithm)
    if not parts:
        return name
    # a label that already ends in brackets takes the details inside them: no "ideal (centralized) (skew 0.1)"
    return f"{name[:-1]}, {', '.join(parts)})" if name.endswith(")") else f"{name} ({', '.join(parts)})"


def row_labels(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{run name: display label} for `compare` rows, naming the skew and seed only where the rows differ in them."""
    skews = {skew_name(r["label_skew"]) for r in rows}
    seeds = {int(r["seed"]) for r in rows}
    return {row_run_name(r): run_label(r["algorithm"], r["label_skew"] if len(skews) > 1 else None,
                                       int(r["seed"]) if len(seeds) > 1 else None) for r in rows}


def run_name(algorithm: str, label_skew: float | str, seed: int) -> str:
    """The folder `compare` gives one run: `<algorithm>_skew-<skew>_seed-<seed>`."""
    return f"{algorithm}_skew-{skew_name(label_skew)}_seed-{seed}"


def row_run_name(row: Mapping[str, Any]) -> str:
    """`run_name` for a row of `compare`'s results table."""
    return run_name(row["algorithm"], row["label_skew"], int(row["seed"]))
