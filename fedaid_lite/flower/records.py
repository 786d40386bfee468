"""State dicts and payloads <-> Flower records (exact float32 bytes both ways)."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from flwr.app import ArrayRecord, ConfigRecord, RecordDict

from ..algorithms import StateDict

CONFIG = "config"          # the ConfigRecord of every server message
ARRAYS = "arrays"          # the trained model in a train reply (Flower's default key)
METRICS = "metrics"        # the MetricRecord of every reply
CLIENT_STATE = "client-state"   # per-client memory (MOON, LocalOnly) in the ClientApp's context.state


def to_record(state: Mapping[str, torch.Tensor]) -> ArrayRecord:
    """An ArrayRecord holding `state` (CPU, contiguous)."""
    return ArrayRecord({k: v.detach().cpu().contiguous() for k, v in state.items()})


def from_record(record: ArrayRecord) -> StateDict:
    """A state dict of writable CPU tensors from an ArrayRecord."""
    return {k: v.clone() for k, v in record.to_torch_state_dict().items()}


def payload_content(payload: Mapping[str, StateDict], config: Mapping[str, Any]) -> RecordDict:
    """What the server sends: one ArrayRecord per payload entry ("global", FedAID's "anchor") plus config."""
    content: dict[str, Any] = {name: to_record(state) for name, state in payload.items()}
    content[CONFIG] = ConfigRecord(dict(config))
    return RecordDict(content)


def payload_from(content: RecordDict) -> dict[str, StateDict]:
    """Inverse of `payload_content` (without the config)."""
    return {name: from_record(record) for name, record in content.array_records.items()}
