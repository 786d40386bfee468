"""The `fedaid-lite` command: info, data make/show/check/import/merge, pretrain, run, compare, sweep.

Every subcommand takes `--set key=value` overrides (dotted config keys, see `fedaid-lite info --keys`).
A bad input exits with status 2 and one line naming the problem; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Sequence

from . import __version__
from .cli_import import add_import_parsers
from .cli_options import add_common, add_outside_paths, experiment, manifest_path
from .config import Experiment, describe
from .names import ALGORITHMS, IMAGE_OBJECTIVES, TEXT_OBJECTIVES

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data_samples"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fedaid-lite` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        status = args.handler(args) or 0
        sys.stdout.flush()               # inside the try: a closed pipe surfaces here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _reader_went_away()
    except KeyboardInterrupt:
        print("fedaid-lite: interrupted; finished rounds are kept in the output folder", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fedaid-lite: error: {message}", file=sys.stderr)
        return 2
    except Exception as err:  # our own errors (e.g. a diverged run) carry a message meant for the user
        if not type(err).__module__.startswith("fedaid_lite"):
            raise
        print(f"fedaid-lite: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1


def _reader_went_away() -> int:
    """`fedaid-lite data show DIR | head`: the reader closed the pipe; stop quietly, as `cat` would."""
    try:   # point stdout at /dev/null so the interpreter's final flush cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. captured in tests)
        pass
    return 141                                     # 128 + SIGPIPE, the status `cat` gets in the same pipe


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedaid-lite", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"fedaid-lite {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    info = sub.add_parser("info", help="versions, device, threads and where the sample data is")
    info.add_argument("--keys", action="store_true", help="also list every config key with its default")
    info.set_defaults(handler=_info)

    data = sub.add_parser("data", help="make or inspect a data set (synthetic hospitals or a manifest)")
    dsub = data.add_subparsers(title="data commands", metavar="COMMAND")
    make = dsub.add_parser("make", help="write synthetic hospitals as PNGs + manifest.csv (defaults "
                                        "reproduce data_samples/)")
    make.add_argument("--out", required=True, help="output folder (created; must be empty or new)")
    add_common(make, data_only=True)
    make.set_defaults(handler=_data_make)
    show = dsub.add_parser("show", help="per-site counts, prevalences and three example reports")
    show.add_argument("path", help="a folder holding manifest.csv, or the manifest itself")
    add_outside_paths(show)
    show.set_defaults(handler=_data_show)
    check = dsub.add_parser("check", help="integrity report of a manifest: leakage across splits, duplicates, "
                                          "shared images, label/mention conflicts, site sizes, paths")
    check.add_argument("path", help="a folder holding manifest.csv, or the manifest itself")
    add_outside_paths(check)
    check.set_defaults(handler=_data_check)
    add_import_parsers(dsub)   # data import / data merge (real collections)

    pre = sub.add_parser("pretrain", help="pretrain the two towers on the public corpus (what "
                                          "data_samples/pretrained/ ships; model.init=pretrained loads it)")
    where = pre.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="output folder for towers.safetensors, vocab.json, pretrained.json")
    where.add_argument("--shipped", action="store_true", help="regenerate data_samples/pretrained/ (both presets "
                                                              "and SHA256SUMS), byte for byte")
    pre.add_argument("--image-objective", choices=IMAGE_OBJECTIVES, default="findings",
                     help="findings (supervised, what ships) or simclr (self-supervised, no labels)")
    pre.add_argument("--text-objective", choices=TEXT_OBJECTIVES, default="mlm",
                     help="mlm (masked-LM, what ships), findings (a report labeller) or mlm+findings")
    add_common(pre, data_only=True)
    pre.set_defaults(handler=_pretrain)

    run = sub.add_parser("run", help="train one algorithm and evaluate it")
    run.add_argument("--algorithm", required=True, choices=ALGORITHMS)
    run.add_argument("--engine", default="inprocess", choices=("inprocess", "flower"),
                     help="inprocess (default) or Flower's simulation engine (needs the flower extra)")
    run.add_argument("--out", required=True, help="output folder: config.json, model/, metrics.json, "
                                                  "history.json (resumes if it holds a checkpoint)")
    add_common(run)
    run.set_defaults(handler=_run)

    cmp_ = sub.add_parser("compare", help="the main job: algorithms × label skew × seeds, one table + "
                                          "report.html")
    cmp_.add_argument("--algorithms", nargs="+", default=None, metavar="NAME",
                      help="from: centralized local fedavg fedprox moon fedaid fedaid-nodro fedaid-nobind "
                           "fedaid-onestage; 'all' = every one (default: centralized fedavg fedaid)")
    cmp_.add_argument("--label-skew", nargs="+", default=None, metavar="ALPHA",
                      help="Dirichlet alphas to sweep (e.g. 0.1 1 iid); synthetic data only")
    cmp_.add_argument("--seeds", nargs="+", type=int, default=[0], metavar="SEED")
    cmp_.add_argument("--jobs", type=int, default=1, metavar="N",
                      help="run (label skew, seed) settings in N parallel processes (default 1)")
    cmp_.add_argument("--out", required=True, help="output folder")
    add_common(cmp_)
    cmp_.set_defaults(handler=_compare)

    sweep = sub.add_parser("sweep", help="run a notebook over a parameter grid with papermill; one table")
    sweep.add_argument("notebook")
    sweep.add_argument("--grid", required=True, help="YAML file: PARAMETER: [values, ...]")
    sweep.add_argument("--out", required=True)
    sweep.add_argument("--kernel", default=None, help="Jupyter kernel name (default: this Python)")
    sweep.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    sweep.set_defaults(handler=_sweep)
    return p


def _info(args: argparse.Namespace) -> int:
    import torch

    from .train import resolve_device

    print(f"fedaid-lite {__version__}  (python {platform.python_version()}, {platform.platform()})")
    for name in ("torch", "transformers", "tokenizers", "numpy", "scikit-learn", "plotly", "umap-learn",
                 "ipywidgets", "papermill", "flwr"):
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        print(f"  {name:<13} {version}")
    device = resolve_device("auto")
    print(f"device (auto): {device}   cuda available: {torch.cuda.is_available()}")
    print(f"torch threads: {torch.get_num_threads()} available; runs use train.threads="
          f"{Experiment().train.threads} (1 is safest on shared cores; --set train.threads=2 on an idle machine)")
    where = SAMPLE_DIR if (SAMPLE_DIR / "manifest.csv").is_file() else "not found (run `fedaid-lite data make`)"
    print(f"sample data: {where}")
    if args.keys:
        for key, default, doc in describe():
            print(f"  {key:<24} {default!s:<10} {doc}")
    return 0


def _data_make(args: argparse.Namespace) -> int:
    from .data import write_dataset

    cfg = experiment(args)
    manifest = write_dataset(cfg.data, args.out)
    print(f"wrote {manifest} (and images/, tokenizer.json, meta.json, SHA256SUMS beside it)")
    return 0


def _data_show(args: argparse.Namespace) -> int:
    from .data import format_summary, heterogeneity_summary, load_manifest

    hospitals = load_manifest(manifest_path(args.path), allow_outside_paths=args.allow_outside_paths)
    for warning in hospitals.info.get("check_warnings", []):
        print(f"fedaid-lite: warning: {warning}", file=sys.stderr)
    print(format_summary(heterogeneity_summary(hospitals), hospitals))
    return 0


def _data_check(args: argparse.Namespace) -> int:
    from .data import check_manifest

    report = check_manifest(manifest_path(args.path), allow_outside_paths=args.allow_outside_paths)
    print(report.format())
    if report.ok:
        return 0
    print(f"fedaid-lite: error: {report.path} has {len(report.errors)} error(s), listed above; fix them and "
          "run data check again", file=sys.stderr)
    return 2


def _pretrain(args: argparse.Namespace) -> int:
    from .pretrain import pretrain, pretrain_shipped
    from .pretrain_objectives import PretrainConfig

    say = (lambda msg: print(msg, file=sys.stderr))
    objectives = PretrainConfig(image_objective=args.image_objective, text_objective=args.text_objective)
    if args.shipped:
        if args.overrides or args.preset != "default" or objectives != PretrainConfig():
            raise ValueError("--shipped regenerates the shipped presets as they are; drop --set/--preset/"
                             "--*-objective, or use --out")
        print(f"wrote {pretrain_shipped(log=say)}")
        return 0
    cfg = experiment(args)
    cfg.check_runnable()
    out = pretrain(cfg, args.out, objectives, log=say)
    print(f"wrote {out}; use it with --set model.pretrained={out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    cfg = experiment(args).override({"fed.algorithm": args.algorithm})
    cfg.check_runnable()
    from .federated import check_output_dir   # after the config checks: a bad --set fails before torch loads

    out = Path(args.out)
    check_output_dir(cfg, out)          # a refused rerun must leave the folder's config.json as it was
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.to_json())
    if args.engine == "flower":
        from .flower.simulation import run_flower_simulation  # imported only when asked for

        history = run_flower_simulation(cfg, out, progress=not args.quiet)
    else:
        from .federated import run_federated

        history = run_federated(cfg, checkpoint_dir=out, progress=not args.quiet)
    from .history import jsonable

    metrics = history.final_metrics()
    (out / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=1, sort_keys=True, allow_nan=False))
    history.save(out / "history.json")
    print(f"{args.algorithm}: {len(history.records)} rounds; i2t R@5 {metrics.get('i2t_r5', float('nan')):.3f}, "
          f"zero-shot AUROC {metrics.get('zeroshot_auroc', float('nan')):.3f}")
    print(f"wrote {out / 'metrics.json'}, {out / 'history.json'}, {out / 'model'}/")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .experiments import (DEFAULT_ALGORITHMS, HEADLINE_ALGORITHMS, chance_line, markdown_table, run_compare,
                              summarize)
    from .train import configure_threads

    cfg = experiment(args)
    cfg.check_runnable()
    algorithms = args.algorithms or list(DEFAULT_ALGORITHMS)
    if algorithms == ["all"]:
        algorithms = list(HEADLINE_ALGORITHMS)
    skews = [float(cfg.override({"data.label_skew": s}).data.label_skew) for s in args.label_skew or []]
    configure_threads(cfg.train.threads)

    def announce(name: str, row: dict) -> None:
        if args.quiet:
            return
        print(f"  done {name} in {row['seconds']} s: i2t R@5 {row.get('i2t_r5', float('nan')):.3f}",
              file=sys.stderr)

    result = run_compare(cfg, args.out, algorithms=algorithms, label_skews=skews or None, seeds=args.seeds,
                         on_run=announce, progress=not args.quiet and args.jobs == 1, jobs=args.jobs)
    print(markdown_table(summarize(result.rows)))
    print(chance_line(result.rows))
    report = _write_report(Path(args.out), result)
    print(f"results: {result.files['results.csv']}  (also results.json, summary.md)")
    if report:
        print(f"report:  {report}")
    return 0


def _write_report(out: Path, result) -> Path | None:
    try:
        from .viz import write_report
    except ImportError as err:  # the core install has no plotly; the table is still written
        print(f"(no report.html: {err}; install the notebooks extra)", file=sys.stderr)
        return None
    return write_report(out, result)


def _sweep(args: argparse.Namespace) -> int:
    from .sweep import run_sweep

    table = run_sweep(args.notebook, args.grid, args.out, kernel=args.kernel, timeout=args.timeout)
    failed = [r for r in table if r.get("status") != "ok"]
    print(f"{len(table) - len(failed)} of {len(table)} runs ok; table: {Path(args.out) / 'sweep.csv'}")
    for r in failed:
        print(f"  failed: {r['run']}: {r.get('error', '')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
