"""Fuzzing the user-input contract: many malformed manifests and settings, one line, exit 2, nothing written.

Each case starts from the valid fixture folder (tests/fixtures_manifest.py) and breaks it one seeded,
random way: columns dropped, encodings, truncation, random bytes, unicode, huge cells, hostile paths,
corrupt images, duplicated or leaking rows. The CLI runs in-process (`main(argv)`) to stay fast; a few
cases run as real subprocesses to prove no traceback escapes the console script either.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fedaid_lite.cli import main
from fedaid_lite.config import Experiment, known_keys
from tests.fixtures_manifest import bomb_png, manifest_rows, snapshot, write_manifest

EXE = Path(sys.executable).parent / "fedaid-lite"
N_MANIFESTS = 150
N_SETTINGS = 400
HOSTILE = ["", " ", "nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "2", "0.5", "1.5", "true", "abc", "ünïcødé",
           "日本語", "\u202e", "x" * 5000, "1,2", '"', "'", "None", "[]", "{}", "9" * 40, "-0", "0x10", "1_000"]


def _to_csv(header: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", restval="", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _mutate(root: Path, rng: np.random.Generator) -> tuple[str, bool]:
    """Break the fixture folder at `root` one random way; (what was done, whether it must be refused)."""
    rows = manifest_rows()
    header = list(dict.fromkeys(k for r in rows for k in r))
    path = root / "manifest.csv"
    r = int(rng.integers(len(rows)))
    kind = str(rng.choice(["drop_column", "encoding", "truncate", "random_bytes", "bad_cell", "path", "image",
                           "leak", "duplicate", "empty", "quote", "short_row", "long_row"]))
    if kind == "drop_column":
        col = str(rng.choice(["id", "site", "split", "patient_id", "image", "report", "nodule", "edema"]))
        header.remove(col)
        path.write_text(_to_csv(header, rows))
        return f"{kind} {col}", True
    if kind == "encoding":
        enc = str(rng.choice(["latin-1", "utf-16", "cp1252"]))
        rows[r]["report"] += " épanchement ½"
        path.write_bytes(_to_csv(header, rows).encode(enc))
        return f"{kind} {enc}", True
    if kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[:int(rng.integers(1, len(data)))])
        return kind, False                               # a cut exactly at a row's end is still a valid file
    if kind == "random_bytes":
        data = bytearray(path.read_bytes())
        for i in rng.integers(0, len(data), size=int(rng.integers(1, 20))):
            data[i] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        return kind, False                               # a byte may land in a report and stay harmless
    if kind == "bad_cell":
        col = str(rng.choice(["split", "nodule", "mention_nodule", "no_finding", "id", "report", "site"]))
        rows[r][col] = str(rng.choice(HOSTILE))
        path.write_text(_to_csv(header + [col] * (col not in header), rows))
        return f"{kind} {col}={rows[r][col][:20]!r}", False
    if kind == "path":
        rows[r]["image"] = str(rng.choice(["../x.png", "/etc/passwd", "images/../../x.png", "images",
                                           "images/nope.png", "C:\\x.png", "images/case1\0.png", "~/x.png",
                                           "images/ünï 日本.png"]))
        path.write_text(_to_csv(header, rows))              # a NUL byte is a malformed CSV of its own
        return f"{kind} {rows[r]['image']!r}", True
    if kind == "image":
        target = root / "images" / f"case{r}.png"
        how = str(rng.choice(["garbage", "empty", "truncated", "bomb", "directory"]))
        if how == "bomb":
            bomb_png(target)
        elif how == "directory":
            target.unlink()
            target.mkdir()
        else:
            data = target.read_bytes()
            target.write_bytes({"garbage": b"not an image", "empty": b"", "truncated": data[:40]}[how])
        return f"{kind} {how}", True
    if kind == "leak":
        j = (r + 3) % len(rows)
        if rows[j]["split"] == rows[r]["split"]:
            rows[j]["split"] = "test" if rows[r]["split"] == "train" else "train"
        rows[j]["patient_id"] = rows[r]["patient_id"]
        path.write_text(_to_csv(header, rows))
        return kind, True
    if kind == "duplicate":
        rows.insert(r, dict(rows[r]))
        path.write_text(_to_csv(header, rows))
        return kind, True
    if kind == "empty":
        path.write_text(str(rng.choice(["", ",".join(header) + "\n", "\n\n", "id\n1\n"])))
        return kind, True
    if kind == "quote":
        text = path.read_text().splitlines()
        text[r + 1] = text[r + 1].replace("FINDINGS", '"FINDINGS', 1)
        path.write_text("\n".join(text) + "\n")
        return kind, True
    if kind == "short_row":
        text = path.read_text().splitlines()
        text[r + 1] = text[r + 1].rsplit(",", int(rng.integers(1, 5)))[0]
        path.write_text("\n".join(text) + "\n")
        return kind, True
    text = path.read_text().splitlines()                 # long_row: cells beyond the header
    text[r + 1] += ",1" * int(rng.integers(1, 4))
    path.write_text("\n".join(text) + "\n")
    return kind, True


def test_malformed_manifests_get_one_line_and_exit_2(tmp_path, capsys):
    """If this fails, some broken manifest crashes with a traceback, prints several lines, or writes files."""
    rng = np.random.default_rng(15)
    refused = 0
    for i in range(N_MANIFESTS):
        root = tmp_path / f"m{i}"
        write_manifest(root)
        what, must_fail = _mutate(root, rng)
        before = snapshot(root)
        command = ["data", "check" if i % 3 == 0 else "show", str(root)]
        status = main(command)
        out, err = capsys.readouterr()
        assert snapshot(root) == before, f"{what}: files changed"
        if status == 0:
            assert not must_fail, f"{what}: accepted"
            continue
        refused += 1
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and lines[0].startswith("fedaid-lite: error:"), (what, status, err)
        assert "Traceback" not in out + err, what
    assert refused >= N_MANIFESTS // 2, "the mutations should mostly break the manifest"


def _hostile_value(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return str(rng.choice(HOSTILE))
    return str(rng.choice([rng.integers(-10**6, 10**6), rng.normal() * 10.0 ** rng.integers(-5, 8)]))


def test_hostile_settings_are_refused_by_the_config_in_one_line(tmp_path, capsys):
    """If this fails, some bad --set value slips past validation or its error does not name its key."""
    rng = np.random.default_rng(1515)
    keys = known_keys() + ["fed.nonsense", "model", "train..lr", "data.manifest.x", "ünï.cødé"]
    cli_checks = 0
    for _ in range(N_SETTINGS):
        settings = {str(rng.choice(keys)): _hostile_value(rng) for _ in range(int(rng.integers(1, 4)))}
        try:
            Experiment.tiny().override(settings)
        except ValueError as err:
            message = str(err)
            assert "\n" not in message and message, settings
            named = [k for k in settings if k.replace("-", "_") in message or k in message]
            assert named or "model.heads" in message or "data." in message or "fed." in message, (settings, message)
            if cli_checks < 25:                      # the CLI path: exit 2, one line, no folder
                cli_checks += 1
                out = tmp_path / f"run{cli_checks}"
                argv = ["run", "--algorithm", "fedavg", "--preset", "tiny", "--out", str(out)]
                for k, v in settings.items():
                    argv += ["--set", f"{k}={v}"]
                assert main(argv) == 2, settings
                lines = capsys.readouterr().err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("fedaid-lite: error:"), (settings, lines)
                assert not out.exists(), settings
    assert cli_checks == 25


@pytest.mark.parametrize("break_it", ["bomb", "latin1", "leak"])
def test_console_script_never_prints_a_traceback(tmp_path, break_it):
    """If this fails, the installed `fedaid-lite` command (not just main()) leaks a traceback."""
    rows = manifest_rows()
    if break_it == "leak":
        rows[3]["patient_id"] = rows[0]["patient_id"]
    root = tmp_path / "ds"
    write_manifest(root, rows, encoding="latin-1" if break_it == "latin1" else "utf-8")
    if break_it == "bomb":
        bomb_png(root / "images" / "case0.png")
    elif break_it == "latin1":
        (root / "manifest.csv").write_bytes((root / "manifest.csv").read_bytes().replace(b"present", b"pr\xe9sent", 1))
    before = snapshot(root)
    cmd = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "fedaid_lite.cli"]
    out = subprocess.run([*cmd, "data", "show", str(root)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and snapshot(root) == before
