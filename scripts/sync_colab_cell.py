"""Make every notebook Colab-ready (``make colab-cells``): its set-up cell and its
collapsed cells.

The cell sits right after each notebook's title cell. Outside Colab it does
nothing. In Colab it installs ``bnutils`` from the repository with a normal
(non-editable) pip install, so it imports at once without restarting the
runtime, and switches on Colab's custom widget manager so the sliders show.

The repository's address has one home: ``[project.urls] Repository`` in
pyproject.toml. A fork changes it there and runs this script again; the script
is idempotent (it replaces the cell it wrote before, wherever it now is) and
``tests/test_colab_cell.py`` fails, naming this command, when a notebook's cell
disagrees with the address.

Collapsed code cells (worked answers): JupyterLab and Notebook 7 collapse a
code cell whose metadata has ``jupyter.source_hidden = true``; Colab ignores
that key and collapses a cell with ``"cellView": "form"`` instead, showing the
title of its first line, ``# @title ...``. The script gives every cell with
``source_hidden`` both, so a worked answer stays closed in Colab too (the
``source_hidden`` key is the one to set; the script derives the rest). It
writes ``# @title`` with a space, as ``ruff format`` does; Colab reads both
spellings. A cell that is no longer hidden loses its ``cellView`` and the
default title line the script wrote.

    python scripts/sync_colab_cell.py           # write the cells where needed
    python scripts/sync_colab_cell.py --check   # exit 1 and list what differs
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

#: First line of the cell: how the script finds the cell it wrote.
MARKER = "# Colab set-up: installs the course package in Colab; does nothing elsewhere."

#: Part of the placeholder address in pyproject.toml until the project has a
#: published repository; the cell then stops in Colab with an explanation.
PLACEHOLDER = "EDIT-ME"

#: A stable cell id, so rewriting the same cell changes nothing.
CELL_ID = "colab-setup"


def repository_url(pyproject: Path = PYPROJECT) -> str:
    """``[project.urls] Repository`` of pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the one key by hand
        section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        key = section and re.search(
            r'^Repository\s*=\s*"([^"]+)"', section.group(1), re.M
        )
        url = key.group(1) if key else None
    else:
        url = tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository")
    if not url:
        raise SystemExit(
            f"{pyproject}: set [project.urls] Repository to the repository's address"
        )
    return url.rstrip("/")


def cell_source(url: str) -> str:
    """The cell's code for repository ``url``."""
    stop = ""
    if PLACEHOLDER in url:
        stop = (
            f'    if "{PLACEHOLDER}" in REPOSITORY:  # still the placeholder\n'
            "        raise RuntimeError(\n"
            '            "The repository address of this copy is not set yet: set "\n'
            '            "[project.urls] Repository in pyproject.toml and run "\n'
            '            "`make colab-cells`, or install bnutils by hand."\n'
            "        )\n"
        )
    return (
        f"{MARKER}\n"
        "# The repository's address comes from pyproject.toml ([project.urls]\n"
        "# Repository), written here by scripts/sync_colab_cell.py.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import importlib\n"
        "    import subprocess\n"
        "\n"
        f'    REPOSITORY = "{url}"\n'
        f"{stop}"
        '    pip = [sys.executable, "-m", "pip", "install", "--quiet"]\n'
        '    subprocess.run([*pip, f"bnutils @ git+{REPOSITORY}"], check=True)\n'
        "    importlib.invalidate_caches()  # bnutils imports without a restart\n"
        "\n"
        "    from google.colab import output\n"
        "\n"
        "    output.enable_custom_widget_manager()  # so the sliders show"
    )


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def sync(nb: dict, url: str) -> bool:
    """Put the cell right after the title cell; True when ``nb`` changed."""
    want = cell_source(url)
    cells = nb["cells"]
    ours = [i for i, c in enumerate(cells) if _source(c).startswith(MARKER)]
    if ours == [1] and _source(cells[1]) == want:
        return False
    for i in reversed(ours):
        del cells[i]
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {},
        "outputs": [],
        "source": want.splitlines(keepends=True),
    }
    cells.insert(1, cell)
    return True


#: The first-line prefix of a Colab form title (``#@title`` is read as well).
TITLE_PREFIX = "# @title"

#: The title of a collapsed cell that has none yet.
DEFAULT_TITLE = "Worked answer (double-click to show the code)"


def _hidden(cell: dict) -> bool:
    jupyter = cell.get("metadata", {}).get("jupyter", {})
    return cell.get("cell_type") == "code" and jupyter.get("source_hidden") is True


def _titled(source: str) -> str:
    """``source`` with a ``# @title`` first line (an existing title is kept)."""
    first, nl, rest = source.partition("\n")
    stripped = first.lstrip()
    if stripped.startswith("#@title"):
        return f"{TITLE_PREFIX}{stripped[len('#@title') :]}{nl}{rest}"
    if stripped.startswith(TITLE_PREFIX):
        return source
    return f"{TITLE_PREFIX} {DEFAULT_TITLE}\n{source}"


def _untitled(source: str) -> str:
    """``source`` without the default title line the script wrote, if it has it."""
    default = f"{TITLE_PREFIX} {DEFAULT_TITLE}\n"
    return source[len(default) :] if source.startswith(default) else source


def sync_forms(nb: dict) -> bool:
    """Collapse in Colab the cells JupyterLab collapses; True when ``nb`` changed."""
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.setdefault("metadata", {})
        src = _source(cell)
        if _hidden(cell):
            want = _titled(src)
            if meta.get("cellView") != "form":
                meta["cellView"] = "form"
                changed = True
        elif meta.get("cellView") == "form":
            del meta["cellView"]
            want = _untitled(src)
            changed = True
        else:
            continue
        if want != src:
            cell["source"] = want.splitlines(keepends=True)
            changed = True
    return changed


def check_forms(nb: dict) -> str | None:
    """Which collapsed cells Colab would not collapse, or None."""
    bad = []
    for i, cell in enumerate(nb.get("cells", [])):
        form = cell.get("metadata", {}).get("cellView") == "form"
        first = _source(cell).lstrip().split("\n", 1)[0]
        titled = first.startswith((TITLE_PREFIX, "#@title"))
        if _hidden(cell) and not (form and titled):
            bad.append(f"cell {i} is collapsed (source_hidden) but not a Colab form")
        elif cell.get("cell_type") == "code" and form and not _hidden(cell):
            bad.append(f"cell {i} is a Colab form but not collapsed (source_hidden)")
    return "; ".join(bad) or None


def check(nb: dict, url: str) -> str | None:
    """Why the notebook's Colab cell is not what ``url`` asks for, or None."""
    cells = nb.get("cells", [])
    ours = [i for i, c in enumerate(cells) if _source(c).startswith(MARKER)]
    if not ours:
        return "no Colab set-up cell"
    if ours != [1]:
        return f"the Colab set-up cell is at {ours}, not right after the title"
    if _source(cells[1]) != cell_source(url):
        found = re.search(r'REPOSITORY = "([^"]*)"', _source(cells[1]))
        return (
            f"its Colab cell installs from {found.group(1) if found else '?'} but "
            f"pyproject.toml's [project.urls] Repository is {url}"
            if found and found.group(1) != url
            else "its Colab cell differs from the one scripts/sync_colab_cell.py writes"
        )
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report")
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    url = repository_url()
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    bad = 0
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if args.check:
            whys = [why for why in (check(nb, url), check_forms(nb)) if why]
            if whys:
                bad += 1
                print(f"{path}: {'; '.join(whys)}")
            continue
        wrote = [
            what
            for what, changed in (
                ("the Colab set-up cell", sync(nb, url)),
                ("the Colab forms of its collapsed cells", sync_forms(nb)),
            )
            if changed
        ]
        if wrote:
            path.write_text(
                json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            print(f"{path}: wrote {' and '.join(wrote)}")
    if bad:
        print("Run `make colab-cells` to write the cells again.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
