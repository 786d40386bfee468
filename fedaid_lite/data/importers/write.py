"""Write imported rows as a manifest folder: manifest.csv, tokenizer.json, meta.json, README.md, SHA256SUMS.

Everything is written into a temporary sibling folder that replaces OUT only when complete, so a failed
import (bad image, full disk, Ctrl-C) never leaves a half-written OUT behind.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, UnidentifiedImageError

from ..manifest import COLUMNS, MARKER, write_sums
from ..tokenizer import save_tokenizer, train_tokenizer
from ..types import FINDINGS
from .common import LABELS, Row, resolve

LINK = "collection"   # OUT/collection -> the collection folder the images stay in

IMPORTER_VERSION = "1.0.0"


def check_out(out: Path, root: Path | None = None) -> None:
    """Refuse an OUT that holds anything but a fedaid-lite dataset, or that lies inside the collection."""
    if root is not None and (out.resolve() == root.resolve() or root.resolve() in out.resolve().parents):
        raise ValueError(f"--out {out} lies inside --root {root}; the collection is read-only, write elsewhere")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; choose a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            ours = json.loads((out / "meta.json").read_text()).get("generator") == MARKER
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise ValueError(f"refusing to write into {out}: it is not empty and not a fedaid-lite dataset; "
                             "choose an empty or new folder")


def manifest_row(r: Row, image: str, labels: Sequence[int], width: int | str = "", height: int | str = "") -> dict:
    """The manifest.csv record of one imported row (labels already resolved by the uncertain policy)."""
    mentions = {f"mention_{k}": ("" if r.codes.get(k) is None else int(r.codes[k])) for k in FINDINGS}
    study = r.study if r.study.isdigit() else ""
    return {"id": r.id, "site": r.site, "split": r.split, "patient_id": r.patient_id, "image": image,
            "study": study, "view": r.view, "width": width, "height": height, "report": r.report,
            **dict(zip(LABELS, labels)), "no_finding": int(not any(labels)), **mentions,
            "archetype": "", "attrs": "", "acq": "", "seed": ""}


def _copy_image(src: Path, dest: Path, size: int) -> tuple[int, int]:
    """A grayscale PNG of `src`, longest side `size`, aspect kept; returns (width, height)."""
    try:
        with Image.open(src) as im:
            im = im.convert("L")
            im.thumbnail((size, size), Image.Resampling.LANCZOS)
            dest.parent.mkdir(parents=True, exist_ok=True)
            im.save(dest, format="PNG", optimize=True)
            return im.size
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"image {src} is unreadable ({type(err).__name__}); re-download it or delete it") from None


def counts(records: list[dict]) -> dict[str, Any]:
    """Rows per site and split, and positives per finding in train (what meta.json and README report)."""
    by = Counter((r["site"], r["split"]) for r in records)
    sites = sorted({r["site"] for r in records})
    return {"rows": len(records), "patients": len({r["patient_id"] for r in records}),
            "per_site": {s: {sp: by[(s, sp)] for sp in ("train", "val", "test")} for s in sites},
            "train_positives": {k: sum(int(r[k]) for r in records if r["split"] == "train") for k in FINDINGS}}


def write_manifest_folder(records: list[dict], out: Path, info: dict[str, Any], vocab_size: int,
                          copies: dict[str, tuple[Path, str]] | None = None, size: int = 256,
                          links: dict[str, Path] | None = None) -> Path:
    """Write `records` (+ image copies {image key: (src, rel)}, + symlinks {name: target}) into OUT atomically.

    Links keep every manifest path inside OUT *as written* (`collection/files/...`), so the loader's refusal of
    paths outside a manifest's folder holds without an opt-in, while the images stay where the user keeps them.
    """
    if not records:
        raise ValueError("nothing to write: no image-report pair survived the import (see the counts above)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name, target in (links or {}).items():
            (tmp / name).symlink_to(Path(target).resolve(), target_is_directory=True)
        for rec in records:
            if copies and rec["image"] in copies:
                src, rel = copies[rec["image"]]
                rec["width"], rec["height"] = _copy_image(src, tmp / rel, size)
                rec["image"] = rel
        with (tmp / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
            w.writeheader()
            w.writerows(records)
        save_tokenizer(train_tokenizer([r["report"] for r in records if r["split"] == "train"], vocab_size),
                       tmp / "tokenizer.json")
        info = {**info, "generator": MARKER, "importer_version": IMPORTER_VERSION, "findings": list(FINDINGS),
                "counts": counts(records), "vocab_size": vocab_size}
        (tmp / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        (tmp / "README.md").write_text(readme(info))
        write_sums(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "manifest.csv"


def write_import(rows: list[Row], out: Path, info: dict[str, Any], uncertain: str, vocab_size: int,
                 copy_size: int | None = None, root: Path | None = None) -> Path:
    """Resolve labels, build the records and write OUT.

    Images are copied under images/ (`copy_size`), or referenced through OUT/collection, a symlink to `root`.
    """
    records, copies = [], {}
    root = None if root is None else Path(root).resolve()
    for r in rows:
        labels = resolve(r.codes, uncertain)
        if labels is None:   # import_collection drops these before splitting; never write a guessed label
            raise ValueError(f"row {r.id} has an uncertain label under --uncertain drop")
        key = str(r.image)
        if copy_size:
            copies[key] = (r.image, f"images/{r.site}/{r.id}.png")
        elif root is not None:
            key = (Path(LINK) / Path(r.image).resolve().relative_to(root)).as_posix()
        records.append(manifest_row(r, key, labels))
    info = {**info, "images": f"copied to images/ (grayscale PNG, longest side {copy_size})" if copy_size
            else f"not copied: paths go through {LINK}/, a symlink to the collection folder"}
    links = {LINK: root} if root is not None and not copy_size else None
    return write_manifest_folder(records, out, info, vocab_size, copies, copy_size or 256, links)


def readme(info: dict[str, Any]) -> str:
    """The README.md written beside an imported or merged manifest."""
    c = info["counts"]
    lines = [f"# {info.get('title', 'Imported chest X-ray data')}", "",
             "Written by fedaid-lite (see docs/real_data.md in the fedaid-lite repository). The images and "
             "reports belong to their collection and stay under its licence / data use agreement: do not "
             "share this folder where the collection itself may not be shared.", "",
             f"Command: `{info.get('command', '')}`", "",
             f"Source: {info.get('source_description', '')}", "",
             f"Rows: {c['rows']} image-report pairs from {c['patients']} patients; images: {info.get('images', '')}.",
             "", "| site | train | val | test |", "|---|---|---|---|"]
    lines += [f"| {s} | {v['train']} | {v['val']} | {v['test']} |" for s, v in c["per_site"].items()]
    lines += ["", f"Split rule: {info.get('split_rule', '')}", "", f"Site rule: {info.get('site_rule', '')}", "",
              f"Uncertain labels: {info.get('uncertain', '')}", "",
              "Skipped: " + ", ".join(f"{k} {v}" for k, v in info.get("skipped", {}).items()), ""]
    return "\n".join(lines)
