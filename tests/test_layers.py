"""Imports point down (docs/architecture.md): read every module's imports with `ast` and check the layering."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "fedaid_lite"
HEAVY_UI = {"umap", "plotly", "ipywidgets", "flwr", "IPython", "anywidget", "papermill"}
ONLY_IN = {"umap": {"viz/"}, "ipywidgets": {"dashboard/widgets.py"}, "flwr": {"flower/"},
           "plotly": {"viz/", "dashboard/"}}
CORE = {"names", "config", "constraints", "data", "model", "losses", "dro", "metrics", "train", "algorithms",
        "federated", "history", "evaluate", "fedaid", "protocol", "checkpoint", "probes", "ideal", "pretrain"}
UPPER = {"viz", "dashboard", "cli", "cli_import", "flower", "experiments", "sweep"}


def _imports(path: Path) -> set[str]:
    """Top-level module names and fedaid_lite submodules imported anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                package = ("fedaid_lite", *path.relative_to(PKG).parent.parts)
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join((*base, node.module)) if node.module else ".".join(base)
                found.add(mod)
                if node.module is None:
                    found |= {f"{mod}.{a.name}" for a in node.names}
            else:
                found.add(node.module or "")
    return found


def _files():
    return sorted(PKG.rglob("*.py"))


def test_ui_and_engine_packages_only_where_allowed():
    # If this fails, a core module pulls in a UI or Flower package and slows every import (and Flower clients).
    for path in _files():
        rel = path.relative_to(PKG).as_posix()
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top in ONLY_IN:
                assert any(rel.startswith(a) or rel == a for a in ONLY_IN[top]), f"{rel} imports {mod}"


def test_core_never_imports_upper_layers():
    # Imports point down: the core must not depend on viz, widgets, cli, experiments or flower.
    for path in _files():
        rel = path.relative_to(PKG)
        first = rel.parts[0].removesuffix(".py")
        if first not in CORE:
            continue
        for mod in _imports(path):
            parts = mod.split(".")
            if parts[0] == "fedaid_lite" and len(parts) > 1:
                assert parts[1] not in UPPER, f"{rel} (core) imports {mod}"


def test_import_fedaid_lite_stays_light():
    # `import fedaid_lite` (and the config) must not load umap, plotly, ipywidgets or flwr.
    code = ("import sys, fedaid_lite, fedaid_lite.config, fedaid_lite.data, fedaid_lite.federated; "
            "print(','.join(sorted(m for m in %r if m in sys.modules)))" % sorted(HEAVY_UI))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
