"""tools/headline.py's analysis: the pooled table across headline folders and the skew-specific gain."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))

from headline import across, skew_specific  # noqa: E402


def _rows(gain_skew: float, gain_iid: float, seeds=(0, 1, 2)) -> list[dict]:
    rows = []
    for s in seeds:
        base = 0.20 + 0.01 * s
        for algo, skew, value in (("centralized", "0.1", 0.30), ("fedavg", "iid", base + 0.02),
                                  ("fedavg", "0.1", base), ("fedaid", "0.1", base + gain_skew),
                                  ("fedaid", "iid", base + 0.02 + gain_iid)):
            rows.append({"algorithm": algo, "label_skew": skew, "seed": s, "sem_p5": value})
    return rows


def test_skew_specific_gain_is_zero_when_fedaid_gains_as_much_at_iid():
    # If this fails, the README's "part of FedAID's gain the skew adds" would credit binding for a gain that
    # FedAID also makes without any skew (or miss one it makes only under skew).
    assert all(abs(v) < 1e-12 for v in skew_specific(_rows(0.03, 0.03)).values())
    assert [round(v, 6) for v in skew_specific(_rows(0.03, 0.01)).values()] == [0.02, 0.02, 0.02]


def test_across_reads_committed_folders_and_pools_every_pair(tmp_path):
    # If this fails, research/across.sh cannot rebuild the tables from the results kept in research/ (no runs/).
    a, b = tmp_path / "headline", tmp_path / "headline-data1"
    for folder, rows, command in ((a, _rows(0.03, 0.01), "python tools/headline.py --out runs/headline"),
                                  (b, _rows(0.02, 0.02, seeds=(0, 1)),
                                   "python tools/headline.py --out runs/x --set data.seed=1 fed.eval_every=5")):
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(rows))
        (folder / "headline.md").write_text(f"Command: `{command}`\n")
    text = across([a, b])
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert "| 1 (2 seeds) |" in lines["`headline-data1`"]
    assert "(3 seeds)" in lines["`headline`"] and "| 1 (" not in lines["`headline`"]   # default data seed
    pooled = [line for line in text.splitlines() if line.startswith("| all of the above")][0]
    assert "5 (data seed, seed) pairs" in pooled
    assert pooled.rstrip(" |").endswith("]") and "+0.012" in pooled.split("|")[-2]   # (3 × 0.02 + 2 × 0) / 5


def test_across_compares_another_method_without_an_ideal(tmp_path):
    # If this fails, research/headline_baselines.sh cannot report MOON or FedProx (runs without centralized rows).
    rows = [dict(r, algorithm="moon") if r["algorithm"] == "fedaid" else r
            for r in _rows(0.04, -0.01) if r["algorithm"] != "centralized"]
    (tmp_path / "results.json").write_text(json.dumps(rows))
    (tmp_path / "headline.md").write_text("Command: `python tools/headline.py --out runs/b`\n")
    text = across([tmp_path], method="moon")
    assert "MOON − FedAvg, α=0.1" in text and "FedAID" not in text
    row = [line for line in text.splitlines() if line.startswith(f"| `{tmp_path.name}`")][0]
    assert row.split("|")[3].strip() == "–"                      # no ideal in this folder
    assert row.split("|")[-2].strip().startswith("+0.050")      # 0.04 at α=0.1 minus −0.01 at IID
