"""Every notebook meets the series' standard (shared/docs/notebook-standard.md).

Static checks read the stored notebook; the run check executes it top to bottom
from a fresh kernel, then runs every cell once more in the same kernel (a learner
re-running cells), and fails on any error or any output on stderr (warnings land
there).

Speed is not asserted here: a busy CI machine must not fail a correct checkout.
``make bench-notebooks`` (scripts/bench_notebooks.py) measures each notebook's
wall time, CPU time and peak memory against the standard's targets; this test
only prints the run times it saw. The per-cell timeout of the kernel client is a
hang guard, minutes beyond any budget.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

#: Seconds a single cell may run before the client gives up: a hang guard only.
CELL_TIMEOUT = 600

if not NOTEBOOKS:  # pragma: no cover - the series always has notebooks
    pytest.skip("no notebooks in notebooks/", allow_module_level=True)


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _markdown(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        assert not cell.get("outputs"), f"cell {i} stored with outputs"
        assert cell.get("execution_count") is None, f"cell {i} stored with a count"
    assert "widgets" not in nb["metadata"], "widget state stored in metadata"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_reading_structure(path):
    nb = _read(path)
    md = _markdown(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(
        "# "
    ), "the notebook opens with a '# Title' markdown cell"
    head = "\n".join(md[:3]).lower()
    assert "objective" in head or "you will" in head, "learning objectives first"
    assert re.search(r"\d+\s*(min|minutes)", head), "a rough time near the top"
    assert "prerequisite" in head or "before you start" in head or "know" in head
    tail = "\n".join(md[-3:]).lower()
    assert "summary" in tail, "a summary at the end"
    if not path.stem.startswith("00"):
        assert "<details>" in tail, "check-your-understanding answers in <details>"
    assert re.search(r"[\uac00-\ud7a3]", "\n".join(md)), "Korean terms at first use"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_imports_the_installed_package(path):
    nb = _read(path)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 2, "a notebook without code"
    # Right after the title: the Colab set-up cell (tests/test_colab_cell.py
    # checks its content), then the notebook's own setup cell.
    assert nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith(
        "# Colab set-up"
    ), "the Colab set-up cell follows the title cell: run `make colab-cells`"
    assert code[0] == nb.cells[1].source
    setup = code[1]
    assert "bnutils" in setup, "the code cell after the Colab cell imports bnutils"
    for src in code:
        assert "sys.path" not in src, "no sys.path hacks: the package is installed"
        assert not re.search(r"^\s*from\s+\S+\s+import\s+\*", src, re.M), (
            "no star imports"
        )


def _stderr_or_error(cell) -> list[str]:
    found = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            found.append(out.get("text", "")[:500])
        if out.get("output_type") == "error":
            found.append(f"{out.get('ename')}: {out.get('evalue')}")
    return found


def _kernel_seconds(cell, fallback: float) -> float:
    """How long the kernel spent on the cell: from its execute_input broadcast to
    its execute_reply (what the learner waits for), by the kernel's timestamps.

    The client-side wall time can include the client's own hiccups (a missed
    wake-up once made nbclient wait for its full timeout on a cell that the
    kernel had finished in 0.2 s); it is the fallback when timestamps are absent.
    """
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", ""))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", ""))
    except (KeyError, ValueError):
        return fallback
    return max((end - start).total_seconds(), 0.0)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runs_clean_and_twice(path):
    from nbclient import NotebookClient

    nb = _read(path)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        record_timing=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    problems, totals = [], []
    with client.setup_kernel():
        for run in (1, 2):
            total = 0.0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                t0 = time.perf_counter()
                client.execute_cell(cell, index)
                total += _kernel_seconds(cell, fallback=time.perf_counter() - t0)
                problems += [
                    f"run {run}, cell {index}: {p}" for p in _stderr_or_error(cell)
                ]
            totals.append(total)
    print(
        f"\n{path.name}: {totals[0]:.1f} s from a fresh kernel, {totals[1]:.1f} s "
        "rerun (informational; make bench-notebooks measures speed)"
    )
    assert not problems, "errors or stderr output:\n" + "\n".join(problems)
