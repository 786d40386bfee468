"""Per-round checkpoints of the in-process engine: safetensors for tensors, JSON for the rest, no pickle.

Layout of a checkpoint folder:
    checkpoint-r00003.safetensors   global model, server memory tensors (FedAID's anchor), client states
    checkpoint.json                 round, config, memory scalars (DRO weights), history, sha256 of the above
    history.json                    the history alone (for readers that do not resume)
`checkpoint.json` is written last and atomically, so a crash mid-write leaves the previous round's
checkpoint intact. Batch seeds are pure functions of (seed, round, client, stage), so the round
counter is the only RNG state to keep; optimizers are fresh per stage, so there is no optimizer state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors, save as save_tensors

from .history import History, atomic_write_bytes, atomic_write_text

FORMAT = "fedaid-lite/checkpoint/1"
INDEX = "checkpoint.json"
StateDict = dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint folder is damaged or does not belong to this run's config."""


@dataclass
class Checkpoint:
    """Everything needed to continue a run after `server_round` completed rounds."""

    server_round: int
    global_state: StateDict
    memory: dict[str, Any]
    client_states: dict[int, StateDict] = field(default_factory=dict)
    history: History = field(default_factory=History)


def _is_state(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def save_checkpoint(directory: str | Path, ckpt: Checkpoint) -> Path:
    """Write `ckpt` into `directory` atomically and drop older tensor files; returns the index path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}

    def put(prefix: str, state: StateDict) -> None:
        # clone: safetensors refuses tensors that share storage (FedAID's anchor shares the global's)
        for k, v in state.items():
            tensors[f"{prefix}/{k}"] = v.detach().to("cpu", copy=True).contiguous()

    put("global", ckpt.global_state)
    scalars, state_names = {}, []
    for name, value in ckpt.memory.items():
        if _is_state(value):
            put(f"memory/{name}", value)
            state_names.append(name)
        else:
            scalars[name] = value
    for cid, state in ckpt.client_states.items():
        put(f"client/{cid}", state)
    blob = save_tensors(tensors)
    tensor_file = f"checkpoint-r{ckpt.server_round:05d}.safetensors"
    atomic_write_bytes(directory / tensor_file, blob)
    index = {"format": FORMAT, "round": ckpt.server_round, "tensors": tensor_file,
             "tensors_sha256": hashlib.sha256(blob).hexdigest(), "memory": scalars,
             "memory_states": state_names, "clients": sorted(int(c) for c in ckpt.client_states),
             "history": ckpt.history.to_dict()}
    ckpt.history.save(directory / "history.json")
    path = atomic_write_text(directory / INDEX, json.dumps(index, indent=1, allow_nan=False))
    for old in directory.glob("checkpoint-r*.safetensors"):
        if old.name != tensor_file:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(directory: str | Path, device: torch.device | str = "cpu") -> Checkpoint | None:
    """The checkpoint in `directory`, or None when there is none; damage raises `CheckpointError`."""
    directory = Path(directory)
    index_path = directory / INDEX
    if not index_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text())
        if index.get("format") != FORMAT:
            raise ValueError(f"format {index.get('format')!r}")
        blob = (directory / index["tensors"]).read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"checkpoint in {directory} is unreadable ({err}); delete the folder or "
                              "choose another output folder") from None
    if hashlib.sha256(blob).hexdigest() != index["tensors_sha256"]:
        raise CheckpointError(f"{directory / index['tensors']} does not match the sha256 in {index_path}: "
                              "it was modified or truncated; delete the folder to start over")
    try:
        flat = load_tensors(blob)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{directory / index['tensors']} is not a readable safetensors file ({err})") from None
    groups: dict[str, StateDict] = {}
    for key, value in flat.items():
        # "global/<name>", "memory/<memory key>/<name>", "client/<id>/<name>"; names never hold "/"
        prefix, _, name = key.rpartition("/")
        groups.setdefault(prefix, {})[name] = value.to(device)
    memory = dict(index["memory"])
    for name in index["memory_states"]:
        memory[name] = groups[f"memory/{name}"]
    clients = {int(c): groups[f"client/{c}"] for c in index["clients"]}
    return Checkpoint(int(index["round"]), groups["global"], memory, clients,
                      History.from_dict(index["history"]))

