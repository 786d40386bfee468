"""The options several `fedaid-lite` subcommands share, and the `Experiment` they make.

`--preset` and `--set key=value` (every subcommand that builds a config), `--data` and `--quiet` (the
ones that train), `--allow-outside-paths` (every one that reads a manifest). `experiment` applies them
in that order, so `--data DIR` and `--allow-outside-paths` win over the same key given with `--set`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import Experiment, parse_assignments


def add_common(p: argparse.ArgumentParser, data_only: bool = False) -> None:
    """`--preset` and `--set`; unless `data_only`, also `--data`, `--quiet` and `--allow-outside-paths`."""
    p.add_argument("--preset", default="default", choices=("default", "tiny"),
                   help="tiny = seconds on CPU; default = a class run (minutes)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set fed.rounds=5 (repeatable)")
    if not data_only:
        p.add_argument("--data", default=None, metavar="DIR_OR_CSV",
                       help="train on a manifest (e.g. data_samples) instead of generating hospitals")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        add_outside_paths(p)


def add_outside_paths(p: argparse.ArgumentParser) -> None:
    """`--allow-outside-paths`: manifest image paths may leave the manifest's folder."""
    p.add_argument("--allow-outside-paths", action="store_true",
                   help="let manifest image paths leave the manifest's folder (../x.png, absolute paths); "
                        "same as --set data.allow_outside_paths=true")


def experiment(args: argparse.Namespace) -> Experiment:
    """The preset with the `--set` overrides, then `--data` and `--allow-outside-paths` (ValueError names a bad one)."""
    cfg = Experiment.preset(args.preset).override(parse_assignments(args.overrides))
    if getattr(args, "data", None):
        cfg = cfg.override({"data.manifest": str(manifest_path(args.data))})
    if getattr(args, "allow_outside_paths", False):
        cfg = cfg.override({"data.allow_outside_paths": True})
    return cfg


def manifest_path(path: str | Path) -> Path:
    """The manifest.csv a folder or file names, as an absolute path (FileNotFoundError if there is none)."""
    from .data.check import manifest_file   # like every data import of the CLI: `--help` stays torch-free and fast

    return manifest_file(path).resolve()
