"""Reading manifest.csv safely and checking its integrity before a single image is decoded.

    report = check_manifest("data_samples")        # CheckReport: errors refuse a load, warnings do not
    print(report.format())

`read_table` turns the hostile cases of real files into one line each: a UTF-8 BOM (Excel's "CSV UTF-8")
is accepted, a non-UTF-8 byte is named by line, a report longer than csv's default 131,072-character
limit loads, and malformed quoting is named by line. `check_records` then looks at the table as a whole:
patients in more than one split (train/test leakage), duplicate ids and rows, images shared between
rows, labels that contradict the report's mentions, sites too small to train on, and image paths outside
the manifest's folder (refused unless the user opts in: a manifest handed over by someone else must not
read arbitrary files).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .types import FINDINGS, MENTION_CODES

REQUIRED = ("id", "site", "split", "patient_id", "image", "report")
LABELS = FINDINGS[:-1]
MENTION_COLUMNS = tuple(f"mention_{k}" for k in FINDINGS)
ALLOWED_SPLITS = ("train", "val", "test", "global_test")
FIELD_LIMIT = 16_000_000       # characters per cell: far above any report, still bounded (csv's default is 131,072)
MAX_PIXELS = 64_000_000        # 8000 x 8000; chest radiographs are at most ~4300 x 4300 (decompression bombs are not)
EXTRA = "\0extra"             # DictReader's key for cells beyond the header
SHOWN = 20                     # errors listed by `format` before "... and N more"


class ManifestError(ValueError):
    """A manifest problem, named by row number (1 = first data row) and column."""


@dataclass
class CheckReport:
    """What `check_manifest` found: errors refuse the manifest, warnings are worth a look."""

    path: str
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def raise_if_errors(self) -> None:
        """Raise a one-line `ManifestError` with the first error (and how many more there are)."""
        if self.errors:
            extra = len(self.errors) - 1
            more = f" (and {extra} more: fedaid-lite data check lists them)" if extra else ""
            raise ManifestError(self.errors[0] + more)

    def format(self) -> str:
        """Human-readable report: verdict line, then errors and warnings (at most SHOWN of each)."""
        verdict = "OK" if self.ok else f"{len(self.errors)} error(s)"
        lines = [f"{self.path}: {self.rows} rows, {verdict}, {len(self.warnings)} warning(s)"]
        for kind, items in (("error", self.errors), ("warning", self.warnings)):
            lines += [f"  {kind}: {m}" for m in items[:SHOWN]]
            if len(items) > SHOWN:
                lines.append(f"  ... and {len(items) - SHOWN} more {kind}s")
        return "\n".join(lines)


def manifest_file(path: str | Path) -> Path:
    """`path` itself, or `path/manifest.csv` for a folder; a missing file is a FileNotFoundError."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no manifest at {path}; pass a folder holding manifest.csv, or the CSV itself "
                                "(--data / data.manifest)")
    return path


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a manifest CSV; every malformed file raises one `ManifestError` line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")             # -sig: Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ManifestError(f"manifest {path}, line {line}: byte 0x{raw[err.start]:02x} is not UTF-8; "
                            "re-save the file as UTF-8 (in Excel: 'CSV UTF-8')") from None
    # The limit is process-wide; raise it, never lower it (another reader may have raised it further).
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=EXTRA)
    try:
        header = [h.strip() for h in reader.fieldnames or []]   # "id, site, split" typed by hand
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as err:
        hint = ("a cell is over 16 million characters, usually a quote that opens a cell and never closes"
                if "field limit" in str(err) else f"malformed CSV ({err})")
        raise ManifestError(f"manifest {path}, line {reader.line_num}: {hint}; check the quotes on that line") from None
    for col in REQUIRED + LABELS:
        if col not in header:
            raise ManifestError(f"manifest row 0 (header), column {col!r}: missing; add a {col!r} column")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ManifestError(f"manifest row 0 (header), column {dupes[0]!r}: appears twice; keep one")
    for r, rec in enumerate(rows, start=1):
        if EXTRA in rec or any(v is None for v in rec.values()):
            more = "more" if EXTRA in rec else "fewer"
            raise ManifestError(f"manifest row {r}: {more} cells than the header "
                                "has columns; check that row's commas and quotes (a stray quote merges rows)")
    if not rows:
        raise ManifestError(f"manifest {path} has a header but no rows")
    return header, rows


def int_cell(raw: str, row: int, col: str, allowed: tuple[int, ...]) -> int:
    """The integer in a cell, or a `ManifestError` naming row, column and the allowed values."""
    try:
        v = int(float(raw))
        if v not in allowed or float(raw) != v:
            raise ValueError
    except (ValueError, OverflowError):
        raise ManifestError(f"manifest row {row}, column {col!r}: value {raw!r} is not one of "
                            f"{', '.join(map(str, allowed))}; fix that cell") from None
    return v


def is_outside(root: Path, image: str) -> bool:
    """True when `image` (as written in the manifest) points outside `root`: absolute, or climbing with `..`."""
    if Path(image).is_absolute() or Path(image).drive:
        return True
    # Lexical on purpose: a symlinked images/ folder the user set up stays allowed; `..` never is.
    rel = os.path.normpath(image)
    return rel == ".." or rel.startswith(".." + os.sep) or rel.startswith("../")


def outside_message(row: int, image: str) -> str:
    """The one line refusing an image path outside the manifest's folder."""
    return (f"manifest row {row}, column 'image': {image} is outside the manifest's folder; move the image "
            "inside it, or opt in with --allow-outside-paths (config data.allow_outside_paths=true)")


def open_image(path: Path, row: int, image: str) -> Image.Image:
    """Open (header only) an image file, refusing missing, unreadable and decompression-bomb files in one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise ManifestError(f"manifest row {row}, column 'image': {image} declares a huge size (a decompression "
                            "bomb?); replace or downscale that file") from None
    except (OSError, UnidentifiedImageError, ValueError) as err:
        why = "not found" if not path.exists() else f"unreadable ({type(err).__name__})"
        raise ManifestError(f"manifest row {row}, column 'image': {image} is {why}; fix the path or the file") from None
    if im.width * im.height > MAX_PIXELS:
        im.close()
        raise ManifestError(f"manifest row {row}, column 'image': {image} is {im.width}x{im.height} pixels, over "
                            f"the {MAX_PIXELS // 1_000_000}-megapixel limit; downscale it")
    return im


def check_rows(rows: list[dict[str, str]], root: Path, allow_outside_paths: bool = False,
               open_images: bool = False) -> list[str]:
    """Per-row errors (empty required cells, unknown splits, bad label/mention cells, image paths)."""
    errors = []
    for r, rec in enumerate(rows, start=1):
        try:
            for col in REQUIRED:
                if not (rec.get(col) or "").strip():
                    raise ManifestError(f"manifest row {r}, column {col!r}: empty; every row needs a {col}")
            if rec["split"] not in ALLOWED_SPLITS:
                raise ManifestError(f"manifest row {r}, column 'split': unknown split {rec['split']!r}; "
                                    f"use one of {', '.join(ALLOWED_SPLITS)}")
            for k in LABELS + ("no_finding",):
                if k in LABELS or (rec.get(k) or "").strip():
                    int_cell(rec[k], r, k, (0, 1))
            for c in MENTION_COLUMNS:
                if (rec.get(c) or "").strip():
                    int_cell(rec[c], r, c, tuple(MENTION_CODES.values()))
            if not allow_outside_paths and is_outside(root, rec["image"]):
                raise ManifestError(outside_message(r, rec["image"]))
            if open_images:
                open_image(root / rec["image"], r, rec["image"]).close()
            elif not (root / rec["image"]).is_file():
                raise ManifestError(f"manifest row {r}, column 'image': {rec['image']} is not found; "
                                    "fix the path or the file")
        except ManifestError as err:
            errors.append(str(err))
    return errors


def check_table(rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the table as a whole: leakage, duplicates, shared images, labels, site sizes."""
    errors, warns = [], []
    splits_of: dict[str, dict[str, int]] = defaultdict(dict)     # patient -> split -> first row
    rows_of_id: dict[str, int] = {}
    seen_row: dict[tuple, int] = {}
    image_rows: dict[str, list[int]] = defaultdict(list)
    site_splits: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    contradictions: list[int] = []
    for r, rec in enumerate(rows, start=1):
        splits_of[rec["patient_id"]].setdefault(rec["split"], r)
        key = tuple(sorted(rec.items(), key=lambda kv: str(kv[0])))
        if key in seen_row:
            errors.append(f"manifest row {r}: exact duplicate of row {seen_row[key]}; delete one of them")
        elif rec["id"] in rows_of_id:
            errors.append(f"manifest row {r}, column 'id': {rec['id']!r} is also the id of row "
                          f"{rows_of_id[rec['id']]}; ids must be unique")
        seen_row.setdefault(key, r)
        rows_of_id.setdefault(rec["id"], r)
        image_rows[os.path.normpath(rec["image"])].append(r)
        site_splits[rec["site"]][rec["split"]] += 1
        if _contradicts(rec):
            contradictions.append(r)
    for patient, where in splits_of.items():
        if len(where) > 1:
            first = ", ".join(f"{s} (row {r})" for s, r in sorted(where.items(), key=lambda kv: kv[1]))
            errors.append(f"manifest column 'patient_id': patient {patient!r} is in {first}: train/test leakage; "
                          "split by patient so each patient is in one split")
    for image, rs in image_rows.items():
        if len(rs) > 1:
            splits = {rows[r - 1]["split"] for r in rs}
            msg = f"manifest column 'image': {image} is used by rows {', '.join(map(str, rs[:5]))}"
            if len(splits) > 1:
                errors.append(msg + f" in different splits ({', '.join(sorted(splits))}): leakage; "
                              "give each row its own image")
            else:
                warns.append(msg + "; fine for several reports of one image, otherwise a copy-paste slip")
    if contradictions:
        warns.append(f"manifest rows {', '.join(map(str, contradictions[:5]))}"
                     f"{' ...' if len(contradictions) > 5 else ''} ({len(contradictions)} in all): a label contradicts "
                     "its mention column (mentioned positive with label 0, or negated with label 1); check them")
    for site, counts in site_splits.items():
        if counts["train"] < 2:    # a warning, not an error: the data still loads for inspection and probes
            warns.append(f"manifest column 'site': site {site!r} has {counts['train']} train row(s); training "
                         "needs at least 2 per site; add rows or merge it into another site")
        elif counts["train"] < 8:
            warns.append(f"manifest column 'site': site {site!r} has only {counts['train']} train rows; its DRO "
                         "loss is scored on its training data (no held-out share below 8)")
        if not counts["test"]:
            warns.append(f"manifest column 'site': site {site!r} has no test rows; its per-site metrics are missing")
    return errors, warns


def _contradicts(rec: dict[str, str]) -> bool:
    """True when a finding's label disagrees with a definite mention (positive vs 0, negated vs 1)."""
    for k in LABELS:
        mention, label = (rec.get(f"mention_{k}") or "").strip(), (rec.get(k) or "").strip()
        if (mention, label) in (("1", "0"), ("0", "1")):
            return True
    return False


def check_manifest(path: str | Path, allow_outside_paths: bool = False, open_images: bool = True) -> CheckReport:
    """Every integrity check on a manifest (file, rows, table); never writes anything, never raises on content."""
    file = manifest_file(path)
    report = CheckReport(str(file))
    try:
        _, rows = read_table(file)
    except ManifestError as err:
        report.errors.append(str(err))
        return report
    report.rows = len(rows)
    report.errors += check_rows(rows, file.parent, allow_outside_paths, open_images)
    if not report.errors:            # table checks assume every row is well formed
        errors, warns = check_table(rows)
        report.errors += errors
        report.warnings += warns
    return report
