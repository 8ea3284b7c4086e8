"""Every notebook, run in JupyterLab 4 (and one in Notebook 7) in Chromium.

For each notebook: Run All from a fresh kernel, then no error/traceback/stderr
output, every widget rendered, and every slider of every figure panel redraws
its figure in place (one new image, no stacking). The fixture notebooks in
``harness`` are a permanent self-test of the harness: one that must pass in
both UIs, one whose faults must all be caught.
"""

from __future__ import annotations

import os

import harness
import pytest

pytestmark = pytest.mark.browser

NOTEBOOKS = harness.notebook_paths()


def _param(notebook):
    return pytest.param(notebook, id=notebook.stem)


def _notebook_params():
    if not NOTEBOOKS:
        return [pytest.param(None, marks=pytest.mark.skip("no notebooks/*.ipynb yet"))]
    return [_param(p) for p in NOTEBOOKS]


def _has_panels(notebook) -> bool:
    try:
        return harness.expects_panels(notebook)
    except (OSError, ValueError, KeyError):  # unreadable: its Lab test says why
        return False


def _notebook7_params():
    """Course notebooks also checked in Notebook 7: the first one with panels
    by default; BNUTILS_BROWSER_NB7=all for every notebook."""
    if os.environ.get("BNUTILS_BROWSER_NB7") == "all":
        chosen = NOTEBOOKS
    else:
        with_panels = [p for p in NOTEBOOKS if _has_panels(p)]
        chosen = (with_panels or NOTEBOOKS)[:1]
    if not chosen:
        return [pytest.param(None, marks=pytest.mark.skip("no notebooks/*.ipynb yet"))]
    return [_param(p) for p in chosen]


def _assert_clean(report: harness.NotebookReport) -> None:
    listing = "".join(f"\n  - {p}" for p in report.problems)
    assert not report.problems, f"{report.summary()}\nproblems:{listing}"


def _check(open_notebook, request, path: str, ui: str, expect_panels: bool):
    nb = open_notebook(path, ui)
    with nb.artifacts_on_failure(request.node.name):
        report = harness.check_notebook(nb, expect_panels=expect_panels)
        _assert_clean(report)
    return report


# -- the harness's self-test -------------------------------------------------


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_fixture_notebook_passes(open_notebook, request, ui):
    report = _check(open_notebook, request, harness.FIXTURE_NOTEBOOK, ui, True)
    # The fixture has 3 panels with 5 sliders: all found, all moved, each
    # change producing exactly one new image. The SelectionSlider ignores
    # typing and is moved by a click on its track; the training panel's
    # Train button (not a ToggleButtons option) is clicked.
    assert report.widgets["expected"] == report.widgets["rendered"] == 3
    assert report.panels == 3
    sliders = {s.label: s for s in report.sliders}
    assert list(sliders) == [
        "frequency (Hz)",
        "points",
        "scale s (log)",
        "shift c",
        "steps",
    ]
    kinds = [(s.is_log, s.is_int) for s in sliders.values()]
    assert kinds[:3] == [(False, False), (False, True), (True, False)]
    assert sliders["steps"].is_int
    assert sliders["shift c"].method == "click"
    assert [s.method for s in sliders.values()].count("type") == 4
    assert [s.has_button for s in sliders.values()] == [False] * 4 + [True]
    assert len(report.changes) == 5
    assert report.command == "runmenu:run-all"


def test_harness_catches_a_broken_notebook(open_notebook, request):
    """Stderr output, a panel that stops redrawing (its update raises) and a
    panel whose figures stack up must each be reported."""
    nb = open_notebook(harness.BROKEN_NOTEBOOK, "lab")
    with nb.artifacts_on_failure(request.node.name):
        report = harness.check_notebook(nb, expect_panels=True, slider_timeout=3.0)
        text = "\n".join(report.problems)
        assert "stderr: something went wrong" in text, text
        assert "panel 0 (slider 'a'): no new figure" in text, text
        assert "Error in this panel's update" in text, text
        assert "ValueError: broken on purpose" in text, text
        assert "output 0 shows 2 images, expected exactly 1" in text, text
        assert report.widgets["rendered"] == report.widgets["expected"] == 2


# -- the course notebooks ----------------------------------------------------


@pytest.mark.parametrize("notebook", _notebook_params())
def test_notebook_in_jupyterlab(open_notebook, request, notebook):
    path = f"notebooks/{notebook.name}"
    _check(open_notebook, request, path, "lab", harness.expects_panels(notebook))


@pytest.mark.parametrize("notebook", _notebook7_params())
def test_notebook_in_notebook7(open_notebook, request, notebook):
    path = f"notebooks/{notebook.name}"
    _check(open_notebook, request, path, "notebook", harness.expects_panels(notebook))
