"""Binder/Colab badges and the Colab set-up cell come from the one repository URL in pyproject.toml."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import badges  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_everything_is_up_to_date():
    # If this fails, someone moved the repository URL or added a notebook without running
    # `python tools/badges.py`, and some badge or install cell points to the wrong place.
    assert badges.run(check=True) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badges_open_this_notebook_from_the_pyproject_repository(path):
    # If this fails, a student clicking Binder/Colab would land on another notebook or another repository.
    repo = badges.repository_url()
    slug = repo.removeprefix("https://github.com/")
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "badges" in first.metadata.get("tags", [])
    links = re.findall(r"\]\((https://[^)]+)\)", first.source)
    rel = f"notebooks/{path.name}"
    assert f"https://mybinder.org/v2/gh/{slug}/{badges.BRANCH}?labpath={rel}" in links
    assert f"https://colab.research.google.com/github/{slug}/blob/{badges.BRANCH}/{rel}" in links


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_setup_cell_is_guarded_and_installs_from_the_repository(path):
    # If this fails, the set-up cell would pip-install outside Colab (on Binder, in CI) or install
    # the package from somewhere other than this repository.
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if "colab-setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1 and nb.cells.index(setup[0]) <= 2
    src = setup[0].source
    assert 'if "google.colab" in sys.modules:' in src and f"git+{badges.repository_url()}" in src
    assert "!pip" not in src and "torch" not in src.split("\n", 1)[1]


def test_readme_badges_follow_the_repository():
    # If this fails, the README's badges point to another repository than pyproject.toml says.
    text = (ROOT / "README.md").read_text()
    assert badges.badge_line(badges.repository_url(), "notebooks/00_start_here.ipynb") in text


def test_moving_the_repository_rewrites_every_badge(tmp_path):
    # If this fails, changing [project.urls] Repository would leave stale links behind.
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://github.com/me/fork"\n')
    (tmp_path / "README.md").write_text("# x\n<!-- badges: generated -->\nOLD\ntext\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "notebooks" / "00_start_here.ipynb")
    assert badges.run(check=False, root=tmp_path) == ["notebooks/00_start_here.ipynb", "README.md"]
    assert badges.run(check=True, root=tmp_path) == []  # idempotent
    cells = nbformat.read(tmp_path / "notebooks" / "00_start_here.ipynb", as_version=4).cells
    assert [c.source.split("\n")[0][:7] for c in cells] == ["[![Bind", "# Title", "# Colab", "x = 1"]
    assert "github/me/fork/blob/main/notebooks/00_start_here.ipynb" in cells[0].source
    readme = (tmp_path / "README.md").read_text()
    assert "gh/me/fork/main?labpath=notebooks/00_start_here.ipynb" in readme and "OLD" not in readme


def test_bad_repository_url_is_a_clear_error(tmp_path):
    # If this fails, a non-GitHub URL would produce broken badges instead of an error naming the field.
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "gitlab.com/x"\n')
    with pytest.raises(ValueError, match=r"\[project.urls\] Repository"):
        badges.repository_url(tmp_path / "pyproject.toml")
