"""Imports point down (docs/architecture.md): read every module's imports with `ast` and check the layering."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "fedaid_lite"
HEAVY_UI = {"umap", "plotly", "ipywidgets", "flwr", "IPython", "anywidget", "papermill"}
ONLY_IN = {"umap": {"viz/"}, "ipywidgets": {"dashboard/widgets.py"}, "flwr": {"flower/"},
           "plotly": {"viz/", "dashboard/"}}
CORE = {"names", "config", "constraints", "data", "model", "losses", "dro", "metrics", "train", "protocol",
        "algorithms", "fedaid", "registry", "rounds", "federated", "history", "evaluate", "checkpoint", "probes",
        "ideal", "pretrain", "pretrain_objectives", "stats"}
UPPER = {"viz", "dashboard", "cli", "cli_options", "cli_import", "flower", "experiments", "sweep"}


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


def _module(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(("fedaid_lite", *parts))


def _top_level_imports(path: Path) -> set[str]:
    """fedaid_lite modules imported at module level (what runs on import, so what can form a circle)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {m for m in _imports_of(node, path) if m.startswith("fedaid_lite.")}
    return found


def _imports_of(node: ast.AST, path: Path) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if not node.level:
        return {node.module or ""}
    package = ("fedaid_lite", *path.relative_to(PKG).parent.parts)
    base = package[: len(package) - (node.level - 1)]
    mod = ".".join((*base, node.module)) if node.module else ".".join(base)
    return {mod} | ({f"{mod}.{a.name}" for a in node.names} if node.module is None else set())


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


def test_no_import_circle_between_modules():
    # If this fails, two modules import each other (directly or round about): import order starts to matter
    # and one of them hides the dependency in a function (as algorithms.make_algorithm once did with fedaid).
    modules = {_module(p): p for p in _files()}
    graph = {m: {i for i in _top_level_imports(p) if i in modules and i != m} for m, p in modules.items()}
    # A package's __init__ re-exporting its submodules is not a circle of the submodules among themselves.
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    graph = {m: {i for i in deps if not (i in packages and m.startswith(i + "."))} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import circle: " + " -> ".join(stack[stack.index(n):] + [n])
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_algorithm_layers():
    # The registry is the only module that knows every algorithm; the protocol knows none; losses know nothing.
    imports = {p.relative_to(PKG).as_posix(): _imports(p) for p in _files()}
    assert "fedaid_lite.fedaid" not in imports["algorithms.py"] and "fedaid_lite.registry" not in imports["algorithms.py"]
    assert not {m for m in imports["protocol.py"] if m in ("fedaid_lite.algorithms", "fedaid_lite.fedaid")}
    assert not [m for m in imports["losses.py"] if m.startswith("fedaid_lite")]
    users = sorted(f for f, mods in imports.items() if "fedaid_lite.fedaid" in mods)
    assert users == ["registry.py"], f"only the registry imports FedAID, not {users}"


def test_modules_stay_small():
    # Modules <= ~300 lines (the house rule), core and upper layers alike: a file past that has grown a second job.
    for path in _files():
        assert len(path.read_text().splitlines()) <= 320, f"{path.relative_to(PKG)} is over ~300 lines"
