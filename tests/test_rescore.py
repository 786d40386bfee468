"""tools/rescore.py: re-scoring a finished compare folder's saved models reproduces what the grid stored."""

import json
import sys
from pathlib import Path

from fedaid_lite.config import Experiment
from fedaid_lite.experiments import run_compare

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import rescore  # noqa: E402


def test_rescore_reproduces_the_grid_and_refuses_models_that_do_not(tmp_path):
    # If this fails, `tools/rescore.py` would rewrite a README table from models that are not the grid's (or
    # from an evaluation set built differently), and the numbers beside the printed command would not regenerate.
    cfg = Experiment.tiny().override({"fed.rounds": 1})
    run_compare(cfg, tmp_path, ["centralized", "fedavg"], [float("inf")], [0], progress=False)
    stored = json.loads((tmp_path / "results.json").read_text())
    rows, problems = rescore.rescore(tmp_path)
    assert problems == []
    for old, new in zip(stored, rows):
        assert old["algorithm"] == new["algorithm"]
        for key in ("sem_p5", "worst_site_sem_p5", "i2t_r5"):
            assert old[key] == new[key], key
    assert abs(stored[1]["dist_to_ref"] - rows[1]["dist_to_ref"]) < 1e-6     # FedAvg's distance to the ideal

    stored[1]["sem_p5"] += 0.1                  # a stored number the saved model does not give
    (tmp_path / "results.json").write_text(json.dumps(stored))
    assert rescore.main([str(tmp_path)]) == 1
    assert json.loads((tmp_path / "results.json").read_text())[1]["sem_p5"] == stored[1]["sem_p5"]
    assert not (tmp_path / "results.json.before").exists()
