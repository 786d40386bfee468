"""`data merge A B C --out OUT`: imported manifests joined into one multi-hospital federation.

Ids and patient ids are prefixed with their input's collection tag (`mimic_cxr:...`), so two inputs can
never collide and no patient spans two inputs; a site name found in two inputs is prefixed the same way.
Images are not copied: OUT/<tag> is a symlink to each input folder; the tokenizer is retrained on the merged train
reports. Splits and labels are kept as imported.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from ..manifest import COLUMNS, LABELS, REQUIRED
from .common import LayoutError
from .write import check_out, write_manifest_folder


def _read(folder: Path) -> tuple[str, dict[str, Any], list[dict[str, str]]]:
    manifest = folder / "manifest.csv" if folder.is_dir() else folder
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found; pass folders written by `fedaid-lite data import`")
    meta_path = manifest.parent / "meta.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except ValueError:
        raise LayoutError(f"{meta_path} is malformed JSON") from None
    with manifest.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (*REQUIRED, *LABELS) if c not in (reader.fieldnames or [])]
        if missing:
            raise LayoutError(f"{manifest} is malformed: header lacks column {missing[0]!r}")
        rows = list(reader)
    if not rows:
        raise LayoutError(f"{manifest} has no rows")
    tag = str(meta.get("collection") or manifest.parent.name)
    return tag, meta, rows


def merge_imports(inputs: Sequence[str | Path], out: str | Path, vocab_size: int = 2000, command: str = "") -> Path:
    """Merge imported folders `inputs` into `out`; return the merged manifest path."""
    if len(inputs) < 2:
        raise ValueError("data merge needs at least two imported folders")
    out = Path(out)
    for p in inputs:
        if Path(p).resolve() == out.resolve():
            raise ValueError(f"--out {out} is also an input; merge into a new folder")
    check_out(out)
    read = [_read(Path(p)) for p in inputs]
    tags = [t for t, _, _ in read]
    repeated = {t for t, n in Counter(tags).items() if n > 1}
    seen: Counter[str] = Counter()
    for i, t in enumerate(tags):   # the same collection twice: mimic_cxr, mimic_cxr_2
        seen[t] += 1
        tags[i] = f"{t}_{seen[t]}" if t in repeated and seen[t] > 1 else t
    site_owner: dict[str, set[str]] = {}
    for tag, (_, _, rows) in zip(tags, read):
        for r in rows:
            site_owner.setdefault(r["site"], set()).add(tag)
    records = []
    for tag, (_, _, rows) in zip(tags, read):
        for r in rows:
            rec = {c: r.get(c, "") for c in COLUMNS}
            rec["id"], rec["patient_id"] = f"{tag}:{r['id']}", f"{tag}:{r['patient_id']}"
            if not Path(r["image"]).is_absolute():   # through OUT/<tag>, a symlink to the input folder
                rec["image"] = f"{tag}/{r['image']}"
            if len(site_owner[r["site"]]) > 1:
                rec["site"] = f"{tag}_{r['site']}"
            records.append(rec)
    info = {"title": "Merged chest X-ray federation", "command": command, "collection": "merged",
            "inputs": [{"path": str(Path(p).resolve()), "tag": t, "collection": m.get("collection", ""),
                        "command": m.get("command", ""), "sites_spec": m.get("sites_spec", "")}
                       for p, t, (_, m, _) in zip(inputs, tags, read)],
            "source_description": "merge of: " + ", ".join(tags),
            "split_rule": "kept as imported", "site_rule": "kept as imported (clashing names prefixed by input tag)",
            "uncertain": "; ".join(f"{t}: {m.get('uncertain', '?')}" for t, (_, m, _) in zip(tags, read)),
            "images": "not copied: paths go through OUT/<tag>/, a symlink to each input folder", "skipped": {}}
    links = {tag: Path(p) for tag, p in zip(tags, inputs)}
    return write_manifest_folder(records, out, info, vocab_size, links=links)
