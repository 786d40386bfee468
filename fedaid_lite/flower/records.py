"""State dicts and payloads <-> Flower records (exact bytes both ways).

A state dict travels *packed*: one ArrayRecord with two byte arrays, `layout` (JSON: name, dtype, shape
of every tensor) and `bytes` (all tensors' raw bytes back to back), instead of one array per tensor.
Flower moves every array of a message as a separate object, one HTTP request per hop (ServerApp ->
SuperLink -> SuperNode -> ClientApp and back), so the model's 95 tensors made ~190 requests per message
and hop; packed, it is 2 (measured on localhost: the deployment's messages took seconds to pull). A
record with per-tensor arrays (e.g. from another Flower app) is still read.
"""

from __future__ import annotations

import json
from typing import Mapping

import numpy as np
import torch
from flwr.app import ArrayRecord, RecordDict

from ..protocol import StateDict

CONFIG = "config"          # the ConfigRecord of every server message
ARRAYS = "arrays"          # the trained model in a train reply (Flower's default key)
METRICS = "metrics"        # the MetricRecord of every reply
CLIENT_STATE = "client-state"   # per-client memory (MOON, LocalOnly) in the ClientApp's context.state, and
                                # in the first train message after a server resume (the new run's is empty)


LAYOUT, BYTES = "layout", "bytes"   # the two arrays of a packed record


def to_record(state: Mapping[str, torch.Tensor]) -> ArrayRecord:
    """A packed ArrayRecord holding `state`: its layout and its tensors' raw bytes (CPU, exact)."""
    layout, parts = [], []
    for name, value in state.items():
        try:
            array = value.detach().cpu().contiguous().numpy()
        except TypeError as err:         # a dtype numpy lacks (bfloat16); Flower's own ArrayRecord fails too
            raise ValueError(f"tensor {name!r} has dtype {value.dtype}, which cannot travel in a Flower "
                             "ArrayRecord; keep the model in float32") from err
        layout.append([name, array.dtype.str, list(array.shape)])
        parts.append(np.frombuffer(array.tobytes(), dtype=np.uint8))
    raw = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    meta = np.frombuffer(json.dumps(layout).encode("utf-8"), dtype=np.uint8)
    return ArrayRecord({LAYOUT: torch.from_numpy(meta.copy()), BYTES: torch.from_numpy(raw)})


def from_record(record: ArrayRecord) -> StateDict:
    """A state dict of writable CPU tensors from a packed (or a per-tensor) ArrayRecord."""
    if set(record.keys()) != {LAYOUT, BYTES}:
        return {k: v.clone() for k, v in record.to_torch_state_dict().items()}
    layout = json.loads(record[LAYOUT].numpy().tobytes().decode("utf-8"))
    raw = record[BYTES].numpy().tobytes()
    state, offset = {}, 0
    for name, dtype, shape in layout:
        dt = np.dtype(dtype)
        size = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        if offset + size > len(raw):
            raise ValueError(f"packed state is truncated at {name!r} ({len(raw)} bytes)")
        state[name] = torch.from_numpy(np.frombuffer(raw, dtype=dt, count=size // dt.itemsize,
                                                     offset=offset).reshape(shape).copy())
        offset += size
    if offset != len(raw):
        raise ValueError(f"packed state has {len(raw) - offset} bytes beyond its layout")
    return state


def payload_from(content: RecordDict) -> dict[str, StateDict]:
    """The payload a server message carries: its ArrayRecords ("global", FedAID's "anchor") as state dicts,
    without a resumed client's own state (`CLIENT_STATE`)."""
    return {name: from_record(record) for name, record in content.array_records.items() if name != CLIENT_STATE}
