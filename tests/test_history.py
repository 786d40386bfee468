"""History: records, the DataFrame view and atomic JSON save/load."""

import json
import math

import numpy as np
import pytest

from fedaid_lite.config import Experiment
from fedaid_lite.history import History


def _history() -> History:
    h = History(config=Experiment.tiny().to_dict(), site_names=["a", "b"])
    for r in (1, 2):
        h.append({"round": r, "time": 0.5 * r, "client_losses": {"a": np.float32(1.5), "b": 2.0},
                  "dro_weights": {"a": 0.4, "b": 0.6}, "metrics": {"i2t_r1": 0.1 * r, "auroc": float("nan")}})
    return h


def test_save_load_roundtrip(tmp_path):
    """What is saved loads back equal (NaN as None); otherwise curves from saved runs would differ from live ones."""
    h = _history()
    path = h.save(tmp_path / "history.json")
    json.loads(path.read_text())  # strict JSON: no NaN tokens
    back = History.load(path)
    assert back.records == h.records and back.config == h.config and back.site_names == ["a", "b"]
    assert back.records[0]["metrics"]["auroc"] is None
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temp file"
    assert path.stat().st_mode & 0o777 == 0o644, "outputs must be readable by others (a served report.html)"


def test_to_frame_has_one_row_per_round():
    """to_frame gives metrics, per-site losses and weights as columns; otherwise notebooks cannot plot them."""
    frame = _history().to_frame()
    assert list(frame["round"]) == [1, 2]
    assert frame["i2t_r1"].tolist() == pytest.approx([0.1, 0.2])
    assert frame["weight/b"].tolist() == [0.6, 0.6] and frame["loss/a"].iloc[0] == pytest.approx(1.5)
    assert math.isnan(frame["auroc"].iloc[0])
    assert len(History().to_frame()) == 0


def test_damaged_file_is_a_clear_error(tmp_path):
    """A truncated file names itself in a ValueError; otherwise users get a bare JSON traceback."""
    bad = tmp_path / "history.json"
    bad.write_text('{"format": "fedaid-lite/history/1", "records": [')
    with pytest.raises(ValueError, match="history.json"):
        History.load(bad)


def test_helpers():
    """last_round, metric and final_metrics read the records; otherwise summaries pick the wrong round."""
    h = _history()
    assert h.last_round == 2 and h.algorithm == "fedavg"
    assert h.metric("i2t_r1") == [(1, pytest.approx(0.1)), (2, pytest.approx(0.2))]
    assert h.final_metrics()["i2t_r1"] == pytest.approx(0.2)
