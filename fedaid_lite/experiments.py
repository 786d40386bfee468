"""The comparison grid behind `fedaid-lite compare`: algorithms × label skew × seeds, one table.

For each (label skew, seed) setting the hospitals are built once, the centralized model (the *ideal*
alignment) is trained first when requested, and its embeddings become the reference that every
other algorithm's `dist_to_ref` / `cka_to_ref` is measured against.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .config import Experiment
from .data import load_hospitals
from .evaluate import prepare_eval, reference_embeddings
from .federated import run_federated
from .history import History, atomic_write_text, jsonable
from .names import VARIANTS, label, row_run_name, run_label, run_name, skew_name
from .train import resolve_device

DEFAULT_ALGORITHMS = ("centralized", "fedavg", "fedaid")
HEADLINE_ALGORITHMS = tuple(VARIANTS)

SUMMARY_METRICS = ("sem_p5", "zeroshot_auroc", "linprobe_auroc_10", "i2t_r5", "worst_site_sem_p5", "dist_to_ref",
                   "same_site_top5", "within_site_i2t_r5")
"""Columns of the printed summary (every metric is in results.csv); `sem_p5` is the headline's primary metric."""
CHANCE_METRICS = ("sem_p5_chance", "i2t_r5_chance", "same_site_top5_chance")


@dataclass
class CompareResult:
    """What a grid produced: one row per run, the histories, and the files written."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    histories: dict[str, History] = field(default_factory=dict)   # key: run name
    files: dict[str, Path] = field(default_factory=dict)
    out_dir: Path | None = None

    def by_algorithm(self, *algorithms: str) -> dict[str, History]:
        """{algorithm: History} of a one-setting grid (all algorithms, or the named ones in that order)."""
        runs = self._one_setting()
        return {a: self.histories[row_run_name(runs[a])] for a in (algorithms or runs)}

    def model_dirs(self, names: Mapping[str, str], local_sites: Sequence[str] = ()) -> dict[str, Path]:
        """{display name: saved model folder} for `names` {display name: algorithm} of a one-setting grid.

        With `local_sites` (the hospitals' names) each local-only model is added as "local: <site>".
        """
        runs = self._one_setting()
        root = Path(self.out_dir or ".") / "runs"
        dirs = {name: root / row_run_name(runs[algo]) / "model" for name, algo in names.items()}
        local = root / row_run_name(runs["local"]) / "local_models" if local_sites else None
        return dirs | {f"local: {site}": local / f"client{k}" for k, site in enumerate(local_sites)}

    def rows_except(self, *algorithms: str) -> list[dict[str, Any]]:
        """The rows of every algorithm but `algorithms` (e.g. all but the ideal they are measured against)."""
        return [row for row in self.rows if row["algorithm"] not in algorithms]

    def _one_setting(self) -> dict[str, dict[str, Any]]:
        runs = {row["algorithm"]: row for row in self.rows}
        if len(runs) != len(self.rows):
            raise ValueError("this grid has several label skews or seeds; pick runs by run name in `histories`")
        return runs


def variant_config(base: Experiment, name: str) -> Experiment:
    """`base` with the overrides that turn it into algorithm variant `name`."""
    if name not in VARIANTS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(VARIANTS)}")
    return base.override(VARIANTS[name])


def run_compare(base: Experiment, out_dir: str | Path, algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
                label_skews: Sequence[float] | None = None, seeds: Sequence[int] = (0,),
                on_run: Callable[[str, dict[str, Any]], None] | None = None, progress: bool = True,
                jobs: int = 1) -> CompareResult:
    """Run every algorithm × label skew × seed, write results.csv/.json and summary.md into `out_dir`.

    Each (label skew, seed) setting is independent, so `jobs > 1` runs settings in parallel processes
    (each with `train.threads` torch threads). Every run checkpoints under `out_dir/runs/<name>/`, so a
    grid that was interrupted resumes where it stopped when the same command is run again.
    """
    for name in algorithms:
        variant_config(base, name)  # fail fast on a bad name, before any training
    if label_skews and base.data.manifest:
        raise ValueError("--label-skew regenerates synthetic hospitals; it cannot be combined with --data "
                         "(a manifest fixes the sites); drop one of them")
    if jobs < 1:
        raise ValueError(f"--jobs={jobs}: need at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = sorted(algorithms, key=lambda a: a != "centralized")  # the ideal first: it is the reference
    skews = list(label_skews) if label_skews else [base.data.label_skew]
    settings = [(skew, seed) for skew in skews for seed in seeds] if order else []   # no algorithm: no run
    result = CompareResult(out_dir=out)
    done: dict[tuple[float, int], list[tuple[str, dict[str, Any], History]]] = {}

    def collect(setting: tuple[float, int], runs: list[tuple[str, dict[str, Any], History]]) -> None:
        done[setting] = runs
        result.rows.clear()
        result.histories.clear()
        for key in settings:  # grid order, whatever order the settings finished in
            for folder, row, history in done.get(key, []):
                result.rows.append(row)
                result.histories[folder] = history
        _write_tables(out, result)  # after every setting, so an interrupted grid keeps what it made

    if jobs == 1:
        for skew, seed in settings:
            collect((skew, seed), _run_setting(base, skew, seed, order, out, progress, on_run, len(seeds) > 1))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_setting, base, skew, seed, order, out, False, None): (skew, seed)
                       for skew, seed in settings}
            for future in as_completed(futures):
                runs = future.result()
                if on_run is not None:
                    for folder, row, _ in runs:
                        on_run(folder, row)
                collect(futures[future], runs)
    if not settings:
        _write_tables(out, result)
    result.files = {"results.csv": out / "results.csv", "results.json": out / "results.json",
                    "summary.md": out / "summary.md"}
    return result


def _run_setting(base: Experiment, skew: float, seed: int, order: Sequence[str], out: Path, progress: bool,
                 on_run: Callable[[str, dict[str, Any]], None] | None, several_seeds: bool = False
                 ) -> list[tuple[str, dict[str, Any], History]]:
    """All algorithms for one (label skew, seed): centralized first, its embeddings the reference."""
    device = resolve_device(base.train.device)
    setting = base if base.data.manifest else base.override({"data.label_skew": skew})
    hospitals = load_hospitals(setting.data)
    evalset = prepare_eval(hospitals, setting.model, split=setting.fed.eval_split)
    reference = None
    runs = []
    for name in order:
        cfg = variant_config(setting.override({"seed": seed}), name)
        folder = run_name(name, skew, seed)
        run_dir = out / "runs" / folder
        started = time.perf_counter()
        # the bar names the skew: notebook 04's IID control is then "FedAvg (IID)", not a second "FedAvg"
        bar = run_label(name, skew, seed if several_seeds else None) if progress else False
        history = run_federated(cfg, checkpoint_dir=run_dir, hospitals=hospitals, evalset=evalset,
                                reference=reference, device=device, progress=bar)
        if name == "centralized":
            reference = reference_embeddings(history.model, evalset, device)   # the model just trained
        row = {"algorithm": name, "label_skew": skew_name(skew), "seed": seed, "eval_split": setting.fed.eval_split,
               "rounds": len(history.records), "seconds": round(time.perf_counter() - started, 1),
               **history.final_metrics()}
        # a plain History: the models stay here (they are on disk), not in results or across processes
        runs.append((folder, row, History(history.config, history.site_names, history.records)))
        if on_run is not None:
            on_run(folder, row)
    return runs


def summarize(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = SUMMARY_METRICS) -> list[dict[str, str]]:
    """Mean ± std over seeds for each (label skew, algorithm), as strings ready for a table."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["label_skew"]), row["algorithm"]), []).append(row)
    table = []
    for (skew, algo), members in groups.items():
        line = {"label_skew": skew, "algorithm": algo, "seeds": str(len(members))}
        for m in metrics:
            values = [float(r[m]) for r in members if m in r and r[m] is not None and not _isnan(r[m])]
            if not values:
                line[m] = "–"
            elif len(values) == 1:
                line[m] = f"{values[0]:.3f}"
            else:
                line[m] = f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
        table.append(line)
    return table


def chance_line(rows: Sequence[dict[str, Any]]) -> str:
    """"Chance: sem_p5 0.108, ..." for the held-out set of `rows` (what a model that ranks at random scores)."""
    parts = []
    for key in CHANCE_METRICS:
        values = [float(r[key]) for r in rows if r.get(key) is not None and not _isnan(r[key])]
        if values:
            parts.append(f"{key.removesuffix('_chance')} {np.mean(values):.3f}")
    return ("Chance (a model that ranks at random): " + ", ".join(parts)) if parts else ""


def markdown_table(table: Sequence[dict[str, str]]) -> str:
    """A GitHub-flavoured markdown table of `summarize`'s output."""
    if not table:
        return "(no runs)\n"
    cols = list(table[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in table]
    return "\n".join(lines) + "\n"


def budget_line(cfg: Experiment, algorithm: str | None = None, sites: int = 6) -> str:
    """One line on what each round trains under `cfg` as `algorithm` (default `cfg.fed.algorithm`); `sites` hospitals."""
    algorithm = algorithm or cfg.fed.algorithm
    rounds, steps = cfg.fed.rounds, cfg.train.local_steps
    if algorithm == "centralized":   # the same optimizer steps as the whole federation takes, on pooled data
        return (f"{rounds} rounds x {sites * steps} steps on pooled data (what {sites} hospitals take in total), "
                f"batch {cfg.train.batch_size}, lr {cfg.train.lr}, towers: {cfg.model.init}")
    if algorithm == "fedaid":
        return (f"{rounds} rounds; stage 1: {cfg.fed.stage1_steps} steps (g, h only), "
                f"stage 2: {steps - cfg.fed.stage1_steps} steps (all); lambda_bind {cfg.fed.bind_lambda}")
    return f"{rounds} rounds x {steps} local steps per hospital, label skew {cfg.data.label_skew}"


def chance_levels(final: Mapping[str, Any]) -> dict[str, float]:
    """What a model that ranks (or classifies) at random scores, for the metrics that have a simple chance level."""
    return {"sem_p5": final["sem_p5_chance"], "i2t_r5": final["i2t_r5_chance"], "zeroshot_auroc": 0.5,
            "linprobe_auroc_10": 0.5, "same_site_top5": final["same_site_top5_chance"]}


def finals_table(finals: Mapping[str, Mapping[str, Any]], metrics: Sequence[str]) -> str:
    """Text table: one row per metric, one column per run's final metrics, and chance (of the first run's test set)."""
    chance = chance_levels(next(iter(finals.values())))
    widths = {name: max(len(name), 7) for name in [*finals, "chance"]}
    lines = [f"{'':>20} " + " ".join(f"{name:>{w}}" for name, w in widths.items())]
    for key in metrics:
        values = [float(final[key]) for final in finals.values()] + [chance.get(key, float("nan"))]
        lines.append(f"{key:>20} " + " ".join(f"{v:>{w}.3f}" for v, w in zip(values, widths.values())))
    return "\n".join(lines)


def skew_costs(rows: Sequence[Mapping[str, Any]], control: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """(semantic P@5 the skew costs FedAvg: IID − skewed, what FedAID wins back: FedAID − FedAvg, both skewed)."""
    score = {(r["algorithm"], str(r["label_skew"])): float(r["sem_p5"]) for r in [*rows, *control]}
    skew, iid = str(rows[0]["label_skew"]), str(control[0]["label_skew"])
    return score[("fedavg", iid)] - score[("fedavg", skew)], score[("fedaid", skew)] - score[("fedavg", skew)]


def skew_takeaway(rows: Sequence[Mapping[str, Any]], control: Sequence[Mapping[str, Any]] = ()) -> str:
    """What the skew costs FedAvg and FedAID wins back (with an IID `control`), then each non-ideal run's scores."""
    lines = []
    if control:
        lost, won = skew_costs(rows, control)
        lines.append(f"the skew costs FedAvg {lost:+.3f} semantic P@5; FedAID wins back {won:+.3f}"
                     + (f" ({won / lost:.0%} of it)" if lost > 0 else " (no loss to win back in this run)"))
    for r in rows:
        if r["algorithm"] != "centralized":   # the ideal: every distance is measured to it
            lines.append(f"{label(r['algorithm']):>16}: semantic P@5 {r['sem_p5']:.3f} "
                         f"(chance {r['sem_p5_chance']:.3f})  worst hospital {r['worst_site_sem_p5']:.3f} "
                         f"(chance {r['worst_site_sem_p5_chance']:.3f})  distance to ideal {r['dist_to_ref']:.3f}")
    return "\n".join(lines)


def _write_tables(out: Path, result: CompareResult) -> None:
    rows = result.rows
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "results.csv", table.getvalue())
    atomic_write_text(out / "results.json", json.dumps(jsonable(rows), indent=1, allow_nan=False))
    note = ("Metrics on the validation split (fed.eval_split=val), for tuning; not test results.\n\n"
            if any(r.get("eval_split") == "val" for r in rows) else "")
    (out / "summary.md").write_text(note + markdown_table(summarize(rows)) + "\n" + chance_line(rows) + "\n")


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
