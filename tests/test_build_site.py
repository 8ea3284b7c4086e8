"""scripts/build_site.py without a kernel or a browser: how executed outputs
become static ones, the series map, links and the size budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bnutils import plots, widgets

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "build_site", ROOT / "scripts" / "build_site.py"
)
build_site = importlib.util.module_from_spec(_spec)
sys.modules["build_site"] = build_site  # dataclasses look their module up
_spec.loader.exec_module(build_site)


def _panel(fail_below=None):
    fig, ax = plots.panel_figure()
    (ln,) = ax.plot([0.0, 1.0], [0.0, 1.0])

    def update(a):
        if fail_below is not None and a < fail_below:
            raise ValueError("too small")
        ln.set_ydata([0.0, a])
        return f"a = {a:.1f}"

    slider = widgets.float_slider("a", 1.0, 0.0, 2.0, 0.5)
    return widgets.Panel({"a": slider}, fig, update, title="demo")


def _page(outputs, name="01_demo.ipynb"):
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "source": "# 01 · A demo\n\ntext",
                "metadata": {},
            },
            {"cell_type": "code", "source": "x", "outputs": outputs, "metadata": {}},
        ],
        "metadata": {"widgets": {"state": {}}},
    }
    return build_site.Page(Path(name), nb=nb)


def _display(data):
    return {"output_type": "display_data", "data": data, "metadata": {}}


def test_staticize_keeps_the_twin_and_drops_widgets_without_one(monkeypatch):
    monkeypatch.setenv(widgets.STATIC_TWINS_ENV, "1")
    bundle = _panel()._repr_mimebundle_()
    progress = {
        "text/plain": "IntProgress(value=3, max=10)",
        build_site.WIDGET_VIEW: {"model_id": "x"},
    }
    page = _page([_display(dict(bundle)), _display(progress)])
    build_site.staticize(page)
    (kept,) = page.nb["cells"][1]["outputs"]
    assert set(kept["data"]) == {"text/html"}, "only the twin is left"
    assert page.twins == 1 and page.positions == 5
    assert page.dropped_widgets == ["IntProgress"]
    assert "widgets" not in page.nb["metadata"], "no widget state: no CDN manager"
    assert page.title == "01 · A demo"


def test_staticize_fails_on_a_twin_position_that_raised(monkeypatch):
    monkeypatch.setenv(widgets.STATIC_TWINS_ENV, "1")
    bundle = _panel(fail_below=0.4)._repr_mimebundle_()
    page = _page([_display(dict(bundle))])
    with pytest.raises(build_site.SiteError, match="update raised"):
        build_site.staticize(page)


def test_staticize_collects_stderr():
    page = _page([{"output_type": "stream", "name": "stderr", "text": "Warning: x"}])
    build_site.staticize(page)
    assert page.stderr == ["cell 1: Warning: x"]


def _start_page(table: str):
    nb = {"cells": [{"cell_type": "markdown", "source": table, "metadata": {}}]}
    return build_site.Page(Path("00_start_here.ipynb"), nb=nb)


def test_series_map_links_each_row_to_its_page():
    table = (
        "## map\n\n| notebook | what it teaches | time |\n|---|---|---|\n"
        "| **00 start here** | how | 15 min |\n| **01 inputs** | $x$ | 30 min |\n"
        "| **02 missing** | not built | 5 min |\n\nafter"
    )
    pages = [_start_page(table), build_site.Page(Path("01_inputs.ipynb"))]
    linked = build_site._series_map(pages).splitlines()
    assert linked[0] == "| notebook | what it teaches | time |"
    assert linked[2] == "| [**00 start here**](00_start_here.html) | how | 15 min |"
    assert linked[3] == "| [**01 inputs**](01_inputs.html) | $x$ | 30 min |"
    assert linked[4] == "| **02 missing** | not built | 5 min |", "no page, no link"
    assert len(linked) == 5


def test_index_needs_the_series_map_of_00(tmp_path):
    pages = [_start_page("no table here")]
    with pytest.raises(build_site.SiteError, match="series map"):
        build_site.render_index(pages, tmp_path, "now")


def test_links_to_built_notebooks_point_at_their_pages():
    pages = [build_site.Page(Path("03_net.ipynb"))]
    text = (
        '<a href="03_net.ipynb#sec">x</a> <a href="../notebooks/03_net.ipynb">y</a> '
        '<a href="04_other.ipynb">z</a>'
    )
    out = build_site._link_notebooks(text, pages)
    assert '<a href="03_net.html#sec">' in out and '<a href="03_net.html">' in out
    assert '<a href="04_other.ipynb">' in out, "not on the site: left alone"


def test_size_budget_is_enforced(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("x")
    page = build_site.Page(Path("01_big.ipynb"))
    (tmp_path / page.name).write_bytes(b"0" * 3 * 1024 * 1024)
    assert build_site.size_report(tmp_path, [page], 8.0, 40.0) == []
    problems = build_site.size_report(tmp_path, [page], 2.0, 2.5)
    assert len(problems) == 2
    assert "01_big.html is 3.0 MB, over the 2 MB page budget" in problems[0]
    assert "over the 2.5 MB budget" in problems[1]


def test_unknown_notebook_prefix_is_an_error():
    with pytest.raises(build_site.SiteError, match="starts with"):
        build_site.select_notebooks(["99"], [])


def test_mathjax_is_installed_as_one_file_with_svg_output():
    es5 = build_site.mathjax_dir()
    assert (es5 / "tex-svg-full.js").stat().st_size > 1_000_000
