"""A small, valid hand-made manifest folder (two sites, eight rows, 24-pixel PNGs) to break on purpose."""

from __future__ import annotations

import csv
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from fedaid_lite.data import FINDINGS

SPLITS = ("train", "train", "train", "test", "train", "train", "train", "test")


def manifest_rows(n: int = 8) -> list[dict[str, str]]:
    """Valid rows: sites A and B, one patient per row, images/case<i>.png, labels and mentions consistent."""
    rows = []
    for i in range(n):
        labels = {k: str(int(j == i % len(FINDINGS[:-1]))) for j, k in enumerate(FINDINGS[:-1])}
        finding = FINDINGS[i % len(FINDINGS[:-1])].replace("_", " ")
        rows.append({"id": f"case{i}", "site": "AB"[i // 4], "split": SPLITS[i % len(SPLITS)],
                     "patient_id": f"p{i}", "image": f"images/case{i}.png",
                     "report": f"FINDINGS: {finding} is present.", **labels,
                     f"mention_{FINDINGS[i % len(FINDINGS[:-1])]}": "1"})
    return rows


def write_manifest(root: Path, rows: list[dict[str, str]] | None = None, images: bool = True,
                   encoding: str = "utf-8") -> Path:
    """Write `rows` (default `manifest_rows()`) and their PNGs under `root`; return the manifest path."""
    rows = manifest_rows() if rows is None else rows
    root.mkdir(parents=True, exist_ok=True)
    if images:
        rng = np.random.default_rng(0)
        (root / "images").mkdir(exist_ok=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(root / "images" / f"case{i}.png")
    header = list(dict.fromkeys(k for r in rows for k in r))
    path = root / "manifest.csv"
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(rows)
    return path


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A PNG whose header declares width x height pixels: a few bytes on disk, gigabytes if decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root` (to prove nothing was written or changed)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
