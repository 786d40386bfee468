"""Per-round validation metrics of the runs given (history.json), as CSV on stdout."""
import csv
import json
import sys
from pathlib import Path

KEYS = ("sem_p5", "zeroshot_auroc", "linprobe_auroc_10", "i2t_r5", "same_site_top5")
w = csv.writer(sys.stdout)
w.writerow(("run", "seed", "round") + KEYS)
for run in sys.argv[1:]:
    hist = json.loads((Path(run) / "history.json").read_text())
    for rec in hist["records"]:
        m = rec.get("metrics") or {}
        if m:
            w.writerow((Path(run).name, hist["config"]["seed"], rec["round"]) + tuple(round(m[k], 4) for k in KEYS))
