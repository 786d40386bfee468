"""The course notebooks: committed clean and well-shaped, and each one runs top to bottom with SMOKE=True.

Static checks (fast, always run): no stored outputs, exactly one `parameters` cell holding UPPER_CASE
literals with SMOKE first, the shape docs/architecture.md ("Notebooks") asks for.

Execution (marker `notebooks`): papermill runs each notebook with SMOKE=True and OUT_DIR in a temporary
folder (run A). Committed notebooks carry no outputs, so nbval has nothing to compare against there;
instead `pytest --nbval-lax` re-executes run A's copy (run B) and compares the cells marked
`# NBVAL_CHECK_OUTPUT` (rounded headline numbers) with run A's outputs: that is the check that the
numbers a class sees are seed-stable across processes, not only that the notebook does not crash.
Notebooks with no such cell are run once (a second error-only run would prove nothing new and double the
test time); 07 compares two sweeps itself, inside one run.
"""

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
COURSE = sorted(NB_DIR.glob("*.ipynb"))
ALL_NOTEBOOKS = COURSE + sorted((ROOT / "tests" / "notebooks").glob("*.ipynb"))
SANITIZE = NB_DIR / "nbval_sanitize.cfg"
SMOKE_LIMIT_S = 180   # the budget is 60 s on 2 idle cores (07: two nested runs); room for a busy CI machine
UPPER = re.compile(r"[A-Z][A-Z0-9_]*")

# Parameters that point at files next to the committed notebooks: absolute, because nbval re-runs the
# executed copy from a temporary folder.
EXTRA_PARAMETERS = {
    "07_reproducible_sweeps": {"NOTEBOOK": str(NB_DIR / "03_fedavg_biased_alignment.ipynb"),
                               "GRID": str(NB_DIR / "sweep_grid.yaml")},
}


def _ids(paths):
    return [p.stem for p in paths]


def _parameters_cells(nb):
    return [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_committed_without_outputs(path):
    # If this fails, a notebook was committed with outputs: diffs become unreadable, stale numbers ship
    # to students, and CI no longer proves the outputs come from the current code. Clear them and commit.
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_one_parameters_cell_with_smoke_first_and_literals_only(path):
    # If this fails, papermill (sweeps, CI) cannot set the notebook's parameters reliably: papermill injects
    # values after the tagged cell, so a derived value there would silently keep its old value.
    nb = nbformat.read(path, as_version=4)
    cells = _parameters_cells(nb)
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged `parameters`"
    body = ast.parse(cells[0].source).body
    names = []
    for stmt in body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), \
            f"{path.name}: parameters cell holds `{ast.unparse(stmt)}`; only NAME = literal"
        name = stmt.targets[0].id
        assert UPPER.fullmatch(name), f"{path.name}: parameter {name} is not UPPER_CASE"
        ast.literal_eval(stmt.value)  # raises on anything but a literal
        names.append(name)
    assert names and names[0] == "SMOKE", f"{path.name}: SMOKE must be the first parameter"
    # papermill's own parser skips a line with a second "=" (e.g. in its comment): such a parameter could
    # not be set by a sweep. It must see exactly the names Python sees.
    import papermill as pm
    assert list(pm.inspect_notebook(str(path))) == names, f"{path.name}: papermill cannot parse every parameter"
    assert "OUT_DIR" in names or "OUT_DIR" not in "".join(c.source for c in nb.cells)


@pytest.mark.parametrize("path", COURSE, ids=_ids(COURSE))
def test_shape_follows_the_style_guide(path):
    # If this fails, logic is leaking from the library into a notebook (docs/architecture.md, "Notebooks": thin
    # cells, no def/class outside the one "open the box" cell, no installs, downloads or %run).
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "colab-setup" not in c.metadata.get("tags", [])]
    assert len(code) <= 12, f"{path.name}: {len(code)} code cells"
    lines = sum(len([ln for ln in c.source.splitlines() if ln.strip()]) for c in code)
    assert lines <= 100, f"{path.name}: {lines} code lines"
    for c in code:
        tree = ast.parse("\n".join(ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        defines = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defines or "open the box" in c.source.lower(), f"{path.name}: def/class outside 'open the box'"
        for bad in ("!pip", "%pip", "%run", "urlretrieve", "requests.get", "wget "):
            assert bad not in c.source, f"{path.name}: `{bad}` in a cell"
    assert nb.cells[-1].cell_type == "markdown", f"{path.name}: should end with the takeaway and questions"
    # nbval honours a marker only as a whole comment line; a trailing `x  # NBVAL_CHECK_OUTPUT` is ignored,
    # so the check would silently not happen.
    for c in code:
        for line in c.source.splitlines():
            if "NBVAL_" in line:
                assert line.strip().lstrip("#").strip() in ("NBVAL_CHECK_OUTPUT", "NBVAL_SKIP", "NBVAL_IGNORE_OUTPUT"), \
                    f"{path.name}: `{line.strip()}`: put the nbval marker on a comment line of its own"


def _papermill(path: Path, out: Path, parameters: dict) -> float:
    import papermill as pm

    start = time.perf_counter()
    pm.execute_notebook(str(path), str(out), parameters=parameters, cwd=str(NB_DIR), kernel_name="python3",
                        progress_bar=False, execution_timeout=600, log_output=False)
    return time.perf_counter() - start


@pytest.mark.notebooks
@pytest.mark.parametrize("path", COURSE, ids=_ids(COURSE))
def test_runs_with_smoke_and_checked_numbers_are_seed_stable(path, tmp_path):
    # If this fails, a student pressing "Run all" (or CI) would hit an error, a SMOKE run blew its time
    # budget, or a headline number printed by a `# NBVAL_CHECK_OUTPUT` cell changed between two runs
    # with the same seed (nbval prints the differing cell).
    out_dir = tmp_path / "out"
    executed = tmp_path / path.name
    params = {"SMOKE": True, **EXTRA_PARAMETERS.get(path.stem, {})}
    source = nbformat.read(path, as_version=4)
    names = [t.targets[0].id for t in ast.parse(_parameters_cells(source)[0].source).body]
    if "OUT_DIR" in names:
        params["OUT_DIR"] = str(out_dir)
    seconds = _papermill(path, executed, params)
    print(f"\nSMOKE wall time {path.stem}: {seconds:.1f} s")
    assert seconds <= SMOKE_LIMIT_S, f"{path.name} took {seconds:.0f} s with SMOKE=True"
    # Code cells only: 07's prose mentions the metrics.json its sweep's runs write, but 07 writes none itself.
    if "OUT_DIR" in names and "metrics.json" in "".join(c.source for c in source.cells if c.cell_type == "code"):
        metrics = json.loads((out_dir / "metrics.json").read_text())
        assert metrics and all(isinstance(v, (int, float, str)) for v in metrics.values())
    if not any("NBVAL_CHECK_OUTPUT" in c.source for c in source.cells):
        return
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "--nbval-sanitize-with", str(SANITIZE), "-q", "-o", "addopts=", "--rootdir", str(tmp_path), str(executed)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, env={**os.environ})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_sanitize_file_parses_and_masks_volatile_text_only():
    # If this fails, nbval would read no rules from the sanitize file (its format is strict: `regex: ` then
    # `replace: ` on the next line) or the rules would also mask the seed-stable numbers they must leave alone.
    from nbval.plugin import get_sanitize_patterns

    rules = get_sanitize_patterns(SANITIZE.read_text())
    assert len(rules) >= 5
    sample = "took 12.5 s at 2026-11-29 04:00:01, saved to /tmp/x/runs/a 0x7f3a\n  i2t_r5: 0.233\n2 rounds x 6 steps"
    for regex, replace in rules:
        sample = re.sub(regex, replace, sample)
    assert "12.5" not in sample and "0x7f3a" not in sample and "/tmp/x" not in sample
    assert "i2t_r5: 0.233" in sample and "2 rounds x 6 steps" in sample
