"""`fedaid-lite data import` and `data merge`: the command-line face of fedaid_lite.data.importers."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

COLLECTIONS = ("mimic-cxr", "chexpert-plus", "iu-xray")


def add_import_parsers(dsub: Any) -> None:
    """Register `import` and `merge` under the `data` subcommand parser group `dsub`."""
    imp = dsub.add_parser("import", help="turn MIMIC-CXR, CheXpert Plus or IU X-ray (as published) into a "
                                         "manifest folder; see docs/real_data.md")
    imp.add_argument("collection", choices=COLLECTIONS)
    imp.add_argument("--root", required=True, help="the unpacked collection folder (read only)")
    imp.add_argument("--out", required=True, help="output folder (created; must be empty, new, or an earlier import)")
    imp.add_argument("--uncertain", default="zero", choices=("zero", "one", "drop"),
                     help="uncertain (-1) labels become 0, 1, or drop the image (default zero)")
    imp.add_argument("--sites", default="natural", metavar="natural|dirichlet:ALPHA:K",
                     help="natural = the collection is one hospital; dirichlet:ALPHA:K = K sites by label skew")
    imp.add_argument("--all-views", action="store_true", help="keep lateral views too (default: frontal only)")
    imp.add_argument("--copy", action="store_true", help="write a resized grayscale PNG copy into OUT/images")
    imp.add_argument("--size", type=int, default=256, help="longest side of the copies with --copy (default 256)")
    imp.add_argument("--seed", type=int, default=0, help="seed for patient splits and Dirichlet sites")
    imp.add_argument("--val-fraction", type=float, default=0.1, help="patients to val where no official split")
    imp.add_argument("--test-fraction", type=float, default=0.2, help="patients to test where no official split")
    imp.add_argument("--vocab-size", type=int, default=2000, help="tokenizer vocabulary (default 2000)")
    imp.set_defaults(handler=_import)
    mrg = dsub.add_parser("merge", help="join imported folders into one multi-hospital federation")
    mrg.add_argument("inputs", nargs="+", help="folders written by `data import`")
    mrg.add_argument("--out", required=True, help="output folder (created; must be empty or new)")
    mrg.add_argument("--vocab-size", type=int, default=2000, help="tokenizer vocabulary (default 2000)")
    mrg.set_defaults(handler=_merge)


def _command(parts: list[str]) -> str:
    return shlex.join(["fedaid-lite", "data", *parts])


def _import(args: argparse.Namespace) -> int:
    from .data.importers import import_collection

    parts = ["import", args.collection, "--root", args.root, "--out", args.out, "--uncertain", args.uncertain,
             "--sites", args.sites, "--seed", str(args.seed), "--val-fraction", str(args.val_fraction),
             "--test-fraction", str(args.test_fraction), "--vocab-size", str(args.vocab_size)]
    parts += ["--all-views"] * args.all_views + (["--copy", "--size", str(args.size)] if args.copy else [])
    manifest = import_collection(
        args.collection, args.root, args.out, uncertain=args.uncertain, sites=args.sites, seed=args.seed,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, all_views=args.all_views,
        copy_size=args.size if args.copy else None, vocab_size=args.vocab_size, command=_command(parts))
    _say_counts(manifest)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from .data.importers import merge_imports

    parts = ["merge", *args.inputs, "--out", args.out, "--vocab-size", str(args.vocab_size)]
    manifest = merge_imports(args.inputs, args.out, vocab_size=args.vocab_size, command=_command(parts))
    _say_counts(manifest)
    return 0


def _say_counts(manifest: Any) -> None:
    meta = json.loads((manifest.parent / "meta.json").read_text())
    c = meta["counts"]
    print(f"wrote {manifest}: {c['rows']} rows, {c['patients']} patients, sites "
          + ", ".join(f"{s} ({v['train']}/{v['val']}/{v['test']})" for s, v in c["per_site"].items()))
    skipped = {k: v for k, v in meta.get("skipped", {}).items() if v}
    if skipped:
        print("skipped: " + ", ".join(f"{k} {v}" for k, v in skipped.items()), file=sys.stderr)
