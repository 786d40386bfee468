"""A research harness, not a library option: refresh FedAID's anchor whole after stage 2 (r18).

The library follows the authors' order: after stage 1 the anchor takes the new alignment layers, after stage 2
the new encoders, so while the next round's stage 1 trains, the anchor pairs this round's encoders with this
round's *stage-1* alignment layers (a "stitched" anchor). Refreshing it whole after stage 2 makes it exactly
the global model at the end of the round. Only stage 1's binding target changes (stage 1 leaves the encoders
alone, so from stage 2 on both orders bind to the same anchor). Used by `research/grid.py` for variants with
`research.anchor=whole`; in-process engine only.
"""
from __future__ import annotations

import contextlib

from fedaid_lite.fedaid import FedAID


@contextlib.contextmanager
def anchor_refresh(order: str):
    if order == "authors":
        yield
        return
    if order != "whole":
        raise ValueError(f"research.anchor={order!r}: authors or whole")
    original = FedAID.aggregate

    def aggregate(self, stage, global_state, updates, memory):
        new, memory = original(self, stage, global_state, updates, memory)
        if stage.name == "adapt":
            memory = {**memory, "anchor": dict(new)}
        return new, memory

    FedAID.aggregate = aggregate
    try:
        yield
    finally:
        FedAID.aggregate = original
