"""Print the key validation metrics of research grids: python research/show.py research/NAME [...]."""
import csv
import sys
from collections import defaultdict

import numpy as np

COLS = ("sem_p5", "zeroshot_auroc", "linprobe_auroc_10", "sem_i2t_p5", "i2t_r5", "within_site_i2t_r5", "same_site_top5",
        "dist_to_ref", "worst_site_zeroshot_auroc", "worst_site_sem_i2t_p5")
for path in sys.argv[1:]:
    rows = list(csv.DictReader(open(f"{path}/results.csv")))
    groups = defaultdict(list)
    for r in rows:
        r["sem_p5"] = (float(r["sem_i2t_p5"]) + float(r["sem_t2i_p5"])) / 2
        groups[(r.get("label_skew", r.get("data.label_skew", "")), r.get("algorithm") or r["variant"])].append(r)
    print(f"## {path}  ({open(path + '/command.txt').read().strip()})")
    print(f"{'skew':>5} {'algorithm':<16} n " + " ".join(f"{c[:14]:>14}" for c in COLS))
    for (skew, algo), members in groups.items():
        cells = []
        for c in COLS:
            v = [float(m[c]) for m in members if m.get(c) not in (None, "", "nan")]
            cells.append(f"{np.mean(v):7.3f}±{np.std(v):5.3f}" if v else f"{'-':>14}")
        print(f"{skew:>5} {algo:<16} {len(members)} " + " ".join(cells))
