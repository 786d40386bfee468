"""Write the Binder/Colab badges and the Colab set-up cell of every notebook, and the README badge line.

The one source of truth is `[project.urls] Repository` in pyproject.toml. Run after the repository
moves (or after adding a notebook):

    python tools/badges.py            # rewrite what is out of date
    python tools/badges.py --check    # exit 1 and list what is out of date (tests/test_badges.py)

Each notebook gets, as its first two cells, a markdown cell tagged `badges` (Binder opens that very
notebook via `labpath`, Colab via its GitHub path) and a code cell tagged `colab-setup` that installs
the package only when running inside Colab. Cells already carrying those tags are updated in place,
so the rest of the notebook is untouched. In README.md the line after the
`<!-- badges: ... -->` marker is replaced.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BRANCH = "main"
BADGES_TAG = "badges"
SETUP_TAG = "colab-setup"
README_MARKER = "<!-- badges:"


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """`[project.urls] Repository` from pyproject.toml, checked to be a github.com/<owner>/<repo> URL."""
    data = tomllib.loads(pyproject.read_text())
    url = data.get("project", {}).get("urls", {}).get("Repository", "")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url.rstrip("/")):
        raise ValueError(f"{pyproject}: [project.urls] Repository must be https://github.com/<owner>/<repo>, "
                         f"got {url!r}")
    return url.rstrip("/").removesuffix(".git")


def binder_url(repo: str, path: str) -> str:
    """mybinder.org link that opens `path` (relative to the repository root) in JupyterLab."""
    slug = repo.removeprefix("https://github.com/")
    return f"https://mybinder.org/v2/gh/{slug}/{BRANCH}?labpath={path}"


def colab_url(repo: str, path: str) -> str:
    """Colab link that opens `path` straight from GitHub."""
    slug = repo.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/{path}"


def badge_line(repo: str, path: str) -> str:
    """The markdown badge pair for one notebook."""
    return (f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(repo, path)}) "
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(repo, path)})")


def setup_source(repo: str) -> str:
    """The guarded Colab install cell (a no-op everywhere else)."""
    return (
        "# Colab only: install fedaid-lite (Binder and local installs already have it; Colab keeps its own torch).\n"
        "import subprocess, sys\n"
        "if \"google.colab\" in sys.modules:\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\",\n"
        f"                    \"fedaid-lite[notebooks] @ git+{repo}\"], check=True)"
    )


def _tagged(cell: dict, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def update_notebook(nb: nbformat.NotebookNode, repo: str, path: str) -> bool:
    """Put the badge cell first and the Colab cell second (creating or updating them); True if changed."""
    before = nbformat.writes(nb)
    badge = next((c for c in nb.cells if _tagged(c, BADGES_TAG)), None)
    setup = next((c for c in nb.cells if _tagged(c, SETUP_TAG)), None)
    if badge is None:
        badge = nbformat.v4.new_markdown_cell(metadata={"tags": [BADGES_TAG]}, id="badges")
    if setup is None:
        setup = nbformat.v4.new_code_cell(metadata={"tags": [SETUP_TAG]}, id="colab-setup")
    badge.source = badge_line(repo, path)
    setup.source = setup_source(repo)
    setup.outputs, setup.execution_count = [], None
    rest = [c for c in nb.cells if c is not badge and c is not setup]
    nb.cells = [badge, rest[0], setup, *rest[1:]] if rest and rest[0].cell_type == "markdown" else [badge, setup, *rest]
    return nbformat.writes(nb) != before


def update_readme(text: str, repo: str) -> str:
    """README text with the line after the badge marker replaced by the badges for notebook 00."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(README_MARKER) and i + 1 < len(lines):
            lines[i + 1] = badge_line(repo, "notebooks/00_start_here.ipynb") + "\n"
            return "".join(lines)
    raise ValueError(f"README.md has no line starting with {README_MARKER!r}; add it above the badge line")


def run(check: bool, root: Path = ROOT) -> list[str]:
    """Update (or, with `check`, only list) every out-of-date file; returns their paths."""
    repo = repository_url(root / "pyproject.toml")
    stale = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        rel = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        if update_notebook(nb, repo, rel):
            stale.append(rel)
            if not check:
                nbformat.write(nb, path)
    readme = root / "README.md"
    if readme.is_file():
        text = readme.read_text()
        new = update_readme(text, repo)
        if new != text:
            stale.append("README.md")
            if not check:
                readme.write_text(new)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1 if any)")
    args = parser.parse_args(argv)
    try:
        stale = run(args.check)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verb = "out of date" if args.check else "updated"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
