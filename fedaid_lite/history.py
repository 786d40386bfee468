"""`History`: what a run did, one record per round, as plain JSON-safe data.

A record is a dict with at least `round`, `client_losses` (site name -> loss of the round's new global
model on that client's held-out share: FedAID's DRO signal), `dro_weights` (site name -> the server's
client weight λ_k at the end of the round, i.e. after the DRO step; p_k = n_k/Σn for algorithms
without DRO), `metrics` (flat name -> value; empty on rounds that were not evaluated) and `time`
(seconds of training since the run first started, across resumes), `clients` (who took part),
`train_losses` (mean local objective in the round's last stage) and `round_seconds`; both engines
build it in one place (`rounds.RoundCore`). Flower's records add `failed_clients` and `errors`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

FORMAT = "fedaid-lite/history/1"


@dataclass
class History:
    """Per-round records of one run plus the config that made it (`Experiment.to_dict()`)."""

    config: dict[str, Any] = field(default_factory=dict)
    site_names: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def append(self, record: dict[str, Any]) -> None:
        """Add one round's record (stored JSON-safe: numpy scalars become floats, NaN becomes None)."""
        self.records.append(jsonable(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    @property
    def last_round(self) -> int:
        """The last completed round (0 before any)."""
        return int(self.records[-1]["round"]) if self.records else 0

    @property
    def algorithm(self) -> str:
        """The `fed.algorithm` of the run ('' when unknown)."""
        return str(self.config.get("fed", {}).get("algorithm", ""))

    def metric(self, name: str) -> list[tuple[int, float]]:
        """(round, value) for every evaluated round that has metric `name`."""
        out = []
        for r in self.records:
            value = r.get("metrics", {}).get(name)
            if value is not None:
                out.append((int(r["round"]), float(value)))
        return out

    def final_metrics(self) -> dict[str, float]:
        """The metrics of the last evaluated round ({} if none)."""
        for r in reversed(self.records):
            if r.get("metrics"):
                return {k: (math.nan if v is None else v) for k, v in r["metrics"].items()}
        return {}

    def to_frame(self) -> "Any":
        """A pandas DataFrame, one row per round: round, time, metrics, `loss/<site>`, `weight/<site>`."""
        import pandas as pd  # pandas is only needed here; keep `import fedaid_lite.history` light

        rows = []
        for r in self.records:
            row: dict[str, Any] = {"round": r["round"], "time": r.get("time")}
            row.update({k: (math.nan if v is None else v) for k, v in r.get("metrics", {}).items()})
            for prefix, key in (("loss", "client_losses"), ("train_loss", "train_losses"),
                                ("weight", "dro_weights")):
                for site, v in (r.get(key) or {}).items():
                    row[f"{prefix}/{site}"] = math.nan if v is None else v
            rows.append(row)
        frame = pd.DataFrame(rows)
        if not rows:
            frame = pd.DataFrame(columns=["round", "time"])
        frame.attrs["algorithm"] = self.algorithm
        return frame

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (what `save` writes)."""
        return {"format": FORMAT, "config": self.config, "site_names": list(self.site_names),
                "records": self.records}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of `to_dict`."""
        if d.get("format") != FORMAT:
            raise ValueError(f"not a fedaid-lite history (format {d.get('format')!r}, expected {FORMAT!r})")
        return cls(config=dict(d.get("config", {})), site_names=list(d.get("site_names", [])),
                   records=[dict(r) for r in d.get("records", [])])

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (temp file + rename, so a crash never leaves half a file)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        """Read a history written by `save`; a damaged file is a ValueError naming the path."""
        try:
            d = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no history file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a readable history JSON file ({err}); rerun or restore it") from None
        return cls.from_dict(d)


def side_by_side(histories: Mapping[str, History]) -> Any:
    """Every number each run recorded, one row per (round, number), one column per run ('time' left out).

    With exactly two runs, also a '|difference|' column: all zeros when both recorded the same numbers
    (notebook 08's two engines).
    """
    import pandas as pd  # as in `to_frame`: pandas only when asked

    table = pd.DataFrame({name: history.to_frame().drop(columns="time").set_index("round").stack()
                          for name, history in histories.items()}).astype(float)
    if len(histories) == 2:
        first, second = table.columns
        table["|difference|"] = (table[first] - table[second]).abs()
    return table


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` via a temp file in the same folder and `os.replace`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically: readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)         # mkstemp makes 0600; outputs (report.html, models) must be readable when served
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def jsonable(value: Any) -> Any:
    """Nested copy with numpy/torch scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:   # numpy / torch scalar
        value = value.item()
        if isinstance(value, (bool, int)):
            return value
    if hasattr(value, "tolist"):                                      # small arrays
        return jsonable(value.tolist())
    v = float(value)
    return v if math.isfinite(v) else None
