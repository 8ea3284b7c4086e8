"""The Colab set-up cell of every notebook (scripts/sync_colab_cell.py).

Outside Colab it does nothing; in Colab it pip-installs bnutils (not editable)
from the repository address of pyproject.toml's [project.urls] Repository and
switches on Colab's widget manager. Every notebook's cell must agree with that
one address.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location(
    "sync_colab_cell", ROOT / "scripts" / "sync_colab_cell.py"
)
sync_colab_cell = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync_colab_cell)

URL = sync_colab_cell.repository_url()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_colab_cell_matches_the_repository_address(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    why = sync_colab_cell.check(nb, URL)
    assert why is None, (
        f"{path.name}: {why}. The address lives in pyproject.toml ([project.urls] "
        "Repository); run `make colab-cells` to write the cell again."
    )


def test_a_stale_address_is_reported_with_both_addresses():
    nb = {"cells": [{"cell_type": "markdown", "source": "# T"}]}
    sync_colab_cell.sync(nb, "https://example.org/old/repo")
    why = sync_colab_cell.check(nb, "https://example.org/new/repo")
    assert "installs from https://example.org/old/repo" in why
    assert "Repository is https://example.org/new/repo" in why


def test_sync_is_idempotent_and_moves_the_cell_after_the_title():
    title = {"cell_type": "markdown", "source": "# Title"}
    setup = {"cell_type": "code", "source": "import bnutils", "outputs": []}
    nb = {"cells": [title, setup]}
    assert sync_colab_cell.sync(nb, URL) is True
    assert sync_colab_cell.sync(nb, URL) is False, "a second run changes nothing"
    assert [c["cell_type"] for c in nb["cells"]] == ["markdown", "code", "code"]
    assert nb["cells"][2] is setup
    nb["cells"].insert(0, nb["cells"].pop(1))  # someone moved it to the top
    assert sync_colab_cell.check(nb, URL) is not None
    assert sync_colab_cell.sync(nb, URL) is True
    assert sync_colab_cell.check(nb, URL) is None and len(nb["cells"]) == 3


def _run_cell(source: str, monkeypatch, colab: bool):
    """Execute the cell's code as a kernel would; returns what it did."""
    calls = {"pip": [], "widgets": 0}

    def fake_run(cmd, check=False, **kw):
        calls["pip"].append(list(cmd))
        assert check, "a failed install must stop the cell"
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    if colab:
        colab_mod = types.ModuleType("google.colab")
        output = types.ModuleType("google.colab.output")

        def enable():
            calls["widgets"] += 1

        output.enable_custom_widget_manager = enable
        colab_mod.output = output
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
        monkeypatch.setitem(sys.modules, "google.colab.output", output)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "<colab cell>", "exec"), {})
    return calls


def test_cell_does_nothing_outside_colab(monkeypatch):
    calls = _run_cell(sync_colab_cell.cell_source(URL), monkeypatch, colab=False)
    assert calls == {"pip": [], "widgets": 0}


def test_cell_in_colab_installs_normally_from_the_repository(monkeypatch):
    url = "https://github.com/someone/batchnorm-course"
    calls = _run_cell(sync_colab_cell.cell_source(url), monkeypatch, colab=True)
    (cmd,) = calls["pip"]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert cmd[-1] == f"bnutils @ git+{url}"
    assert "-e" not in cmd and "--editable" not in cmd, "editable needs a restart"
    assert calls["widgets"] == 1


def test_placeholder_address_stops_in_colab_with_an_explanation(monkeypatch):
    url = f"https://github.com/{sync_colab_cell.PLACEHOLDER}/x"
    with pytest.raises(RuntimeError, match=r"\[project.urls\] Repository"):
        _run_cell(sync_colab_cell.cell_source(url), monkeypatch, colab=True)
    # and outside Colab the placeholder is harmless
    assert _run_cell(sync_colab_cell.cell_source(url), monkeypatch, colab=False) == {
        "pip": [],
        "widgets": 0,
    }


def test_repository_address_has_one_home(tmp_path):
    """pyproject.toml holds it once; the README's Colab section points there and
    describes the same install as the cell, without a second copy of it."""
    assert (ROOT / "pyproject.toml").read_text().count(URL) == 1
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Run in Colab") :]
    section = section[: section.find("\n## ", 1)]
    for needed in ("[project.urls]", "make colab-cells", "bnutils @ git+"):
        assert needed in section, f"README's Colab section lacks {needed!r}"
    assert "enable_custom_widget_manager" in section
    if sync_colab_cell.PLACEHOLDER in URL:
        assert sync_colab_cell.PLACEHOLDER in section, "say the address is unset"
    fake = tmp_path / "pyproject.toml"
    fake.write_text(
        '[project]\nname = "x"\n[project.urls]\nRepository = "https://a/b/"\n'
    )
    assert sync_colab_cell.repository_url(fake) == "https://a/b"


# Collapsed cells: JupyterLab honours metadata jupyter.source_hidden, Colab only
# "cellView": "form" with a "# @title" first line; the script derives the second
# from the first.


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_collapsed_cells_are_colab_forms(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    why = sync_colab_cell.check_forms(nb)
    assert why is None, f"{path.name}: {why}. Run `make colab-cells`."


def _code(source, hidden=False, **meta):
    if hidden:
        meta["jupyter"] = {"source_hidden": True}
    return {"cell_type": "code", "metadata": meta, "source": source, "outputs": []}


def test_sync_forms_collapses_hidden_cells_in_colab_and_is_idempotent():
    answer = _code("x = 1\nprint(x)", hidden=True)
    shown = _code("y = 2")
    nb = {"cells": [{"cell_type": "markdown", "source": "# T"}, answer, shown]}
    assert sync_colab_cell.check_forms(nb) == (
        "cell 1 is collapsed (source_hidden) but not a Colab form"
    )
    assert sync_colab_cell.sync_forms(nb) is True
    assert answer["metadata"]["cellView"] == "form"
    assert answer["metadata"]["jupyter"] == {"source_hidden": True}
    title = f"# @title {sync_colab_cell.DEFAULT_TITLE}\n"
    assert "".join(answer["source"]) == title + "x = 1\nprint(x)"
    assert shown["metadata"] == {} and shown["source"] == "y = 2"
    assert sync_colab_cell.check_forms(nb) is None
    before = json.dumps(nb)
    assert sync_colab_cell.sync_forms(nb) is False, "a second run changes nothing"
    assert json.dumps(nb) == before


def test_sync_forms_keeps_an_own_title_and_writes_it_as_ruff_does():
    own = _code("#@title My answer\nx = 1\n", hidden=True)
    spaced = _code("# @title Another\nx = 1\n", hidden=True)
    nb = {"cells": [own, spaced]}
    sync_colab_cell.sync_forms(nb)
    assert "".join(own["source"]) == "# @title My answer\nx = 1\n"
    assert "".join(spaced["source"]) == "# @title Another\nx = 1\n"
    assert sync_colab_cell.check_forms(nb) is None


def test_sync_forms_undoes_itself_when_a_cell_is_shown_again():
    cell = _code("x = 1", hidden=True)
    nb = {"cells": [cell]}
    sync_colab_cell.sync_forms(nb)
    del cell["metadata"]["jupyter"]  # the author shows the cell again
    assert "not collapsed" in sync_colab_cell.check_forms(nb)
    assert sync_colab_cell.sync_forms(nb) is True
    assert cell["metadata"] == {} and "".join(cell["source"]) == "x = 1"
    assert sync_colab_cell.check_forms(nb) is None


def test_ruff_format_leaves_the_title_line_alone(tmp_path):
    """The title the script writes survives `make format` (ruff turns '#@title'
    into '# @title', so the script writes the latter)."""
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.exists(), "ruff (a test dependency) belongs next to this Python"
    src = tmp_path / "cell.py"
    text = f"# @title {sync_colab_cell.DEFAULT_TITLE}\nx = 1\n"
    src.write_text(text)
    subprocess.run([str(ruff), "format", "--quiet", str(src)], check=True)
    assert src.read_text() == text
