"""`fedaid-lite sweep`: run one notebook over a parameter grid with papermill and collect one table.

Each run gets its own folder `OUT/runs/<name>/` holding the executed notebook; the notebook is passed
`OUT_DIR` (that folder) as a parameter and writes its numbers to `OUT_DIR/metrics.json` (one call:
`write_metrics(OUT_DIR, {...})`, with `flat_metrics` to name a results table's numbers). The table
(`sweep.csv`, `sweep.json`) holds the parameters and those metrics, and nothing volatile (no times or
paths), so the same sweep run twice gives identical tables. A failing combination is recorded with
its error and the others still run.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

from .history import atomic_write_text, jsonable

METRICS_FILE = "metrics.json"


def flat_metrics(rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
                 by: Sequence[str] = ("algorithm",)) -> dict[str, Any]:
    """{"<row[by[0]]>_..._<key>": row[key]} for every row and key a row has (a results table, flattened)."""
    return {"_".join([*(str(row[b]) for b in by), key]): row[key] for row in rows for key in keys
            if row.get(key) is not None}


def write_metrics(out_dir: str | Path, metrics: Mapping[str, Any], digits: int = 4,
                  keys: Sequence[str] | None = None, exact: Collection[str] = ()) -> dict[str, Any]:
    """Write `out_dir/metrics.json` (what a sweep collects): floats rounded to `digits`, None left out, NaN as null.

    `keys` keeps only those metrics (e.g. a run's headline numbers out of `History.final_metrics()`);
    `exact` names metrics written unrounded (a difference must read 0 only when it is 0).
    Returns what was written, so a notebook cell can show it.
    """
    missing = [k for k in keys or () if k not in metrics]
    if missing:
        raise KeyError(f"no metric {', '.join(missing)} to write; have: {', '.join(map(str, metrics))}")
    chosen = {k: metrics[k] for k in keys} if keys is not None else metrics
    round_it = {k for k, v in chosen.items() if k not in exact and (isinstance(v, float) or hasattr(v, "item"))}
    written = jsonable({str(k): round(float(v), digits) if k in round_it else v
                        for k, v in chosen.items() if v is not None})   # jsonable: NaN -> None (strict JSON)
    atomic_write_text(Path(out_dir) / METRICS_FILE, json.dumps(written, indent=1, sort_keys=True, allow_nan=False))
    return written


def fresh_out(out_dir: str | Path, *stale: str) -> Path:
    """`out_dir` as a Path, created, with its `stale` subfolders removed: a re-run starts fresh instead of resuming."""
    out = Path(out_dir)
    for name in stale:
        shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_grid(grid_path: str | Path, out_dir: str | Path, first_only: bool = False,
               fixed: Mapping[str, Any] | None = None) -> Path:
    """Copy a grid into `out_dir/grid.yaml`: `fixed` {PARAMETER: value} first, then the grid (each key's first
    value only with `first_only`). Returns the new file's path, for `run_sweep`."""
    import yaml  # here, not at the top: see `load_grid`

    grid = {key: values[:1] if first_only else values for key, values in load_grid(grid_path).items()}
    grid = {**{key: [value] for key, value in (fixed or {}).items()}, **grid}
    path = Path(out_dir) / "grid.yaml"
    atomic_write_text(path, yaml.safe_dump(grid, sort_keys=False))
    return path


def same_tables(sweep_a: str | Path, sweep_b: str | Path) -> bool:
    """Whether two sweeps wrote byte-for-byte identical tables (`sweep.csv` and `sweep.json`)."""
    return all((Path(sweep_a) / name).read_bytes() == (Path(sweep_b) / name).read_bytes()
               for name in ("sweep.csv", "sweep.json"))


def status_line(table: Sequence[Mapping[str, Any]]) -> str:
    """"2 runs, status ['ok']": how many runs a sweep table holds and which statuses occur."""
    return f"{len(table)} runs, status {sorted({str(row['status']) for row in table})}"


def run_parameters(sweep_dir: str | Path, run: str, notebook: str | Path) -> dict[str, Any]:
    """The parameters papermill passed to one run, as stored in its executed notebook's metadata."""
    executed = Path(sweep_dir) / "runs" / run / Path(notebook).name
    if not executed.is_file():
        raise FileNotFoundError(f"no executed notebook {executed}; run the sweep first")
    return json.loads(executed.read_text())["metadata"]["papermill"]["parameters"]


def load_grid(path: str | Path) -> dict[str, list[Any]]:
    """Read a YAML grid `{PARAMETER: [values...]}`; scalars become one-value lists."""
    import yaml  # here, not at the top: notebooks import this module for `write_metrics` only

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grid file {path} not found")
    try:
        grid = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"grid file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid file {path} must map PARAMETER names to lists of values")
    out = {}
    for key, values in grid.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(key)):
            raise ValueError(f"grid key {key!r} in {path}: notebook parameters are UPPER_CASE names")
        out[str(key)] = list(values) if isinstance(values, (list, tuple)) else [values]
        if not out[str(key)]:
            raise ValueError(f"grid key {key!r} in {path} has no values")
    return out


def expand(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order."""
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def run_name(params: Mapping[str, Any]) -> str:
    """A folder-safe, stable name for one combination."""
    text = "_".join(f"{k.lower()}-{v}" for k, v in params.items())
    return re.sub(r"[^A-Za-z0-9.\-_]+", "", text) or "run"


def run_sweep(notebook: str | Path, grid_path: str | Path, out_dir: str | Path, kernel: str | None = None,
              timeout: int = 1800) -> list[dict[str, Any]]:
    """Execute `notebook` for every grid combination; write and return the table."""
    import papermill as pm  # here, not at the top: heavy, and only a sweep needs it

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} not found")
    grid = load_grid(grid_path)
    # papermill only warns about a parameter the notebook does not have, so a typo in a grid key would
    # silently run the same notebook N times; check the keys against its `parameters` cell first.
    known = pm.inspect_notebook(str(notebook))
    unknown = [k for k in [*grid, "OUT_DIR"] if k not in known]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} not in the parameters cell of {notebook.name}; "
                         f"it takes: {', '.join(known) or 'nothing (tag a cell `parameters`)'}")
    combos = expand(grid)
    out = Path(out_dir)
    table = []
    for params in combos:
        name = run_name(params)
        run_dir = (out / "runs" / name).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        row: dict[str, Any] = {"run": name, **params}
        metrics_file = run_dir / METRICS_FILE
        metrics_file.unlink(missing_ok=True)  # a re-run into the same OUT must not pick up stale numbers
        try:
            pm.execute_notebook(str(notebook), str(run_dir / notebook.name),
                                parameters={**params, "OUT_DIR": str(run_dir)}, kernel_name=kernel,
                                cwd=str(notebook.parent.resolve()), progress_bar=False,
                                execution_timeout=timeout, log_output=False)
            if not metrics_file.is_file():
                raise RuntimeError(f"the notebook wrote no {metrics_file.name} into OUT_DIR")
            row.update(json.loads(metrics_file.read_text()))
            row["status"] = "ok"
        except Exception as err:  # one failing combination must not lose the others
            row["status"] = "failed"
            row["error"] = _first_line(err)
        table.append(row)
        _write(out, table)
    return table


def _write(out: Path, table: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in table:
        keys += [k for k in row if k not in keys]
    with open(out / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(table)
    (out / "sweep.json").write_text(json.dumps(table, indent=1, sort_keys=True))


def _first_line(err: Exception) -> str:
    text = getattr(err, "evalue", None) or str(err) or type(err).__name__
    ename = getattr(err, "ename", None)
    first = str(text).strip().splitlines()[0] if str(text).strip() else type(err).__name__
    return f"{ename}: {first}" if ename else first
