"""The shared slider-panel wiring and progress bar, without a browser."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import pytest

from bnutils import plots, widgets


def _panel():
    fig, ax = plots.panel_figure()
    (ln,) = ax.plot([0.0, 1.0], [0.0, 1.0])

    def update(a):
        if a < 0:
            raise ValueError("a must be >= 0")
        ln.set_ydata([0.0, a])
        return f"a = {a:.2f}"

    slider = widgets.float_slider("a (units)", 1.0, -1.0, 2.0, 0.1)
    return widgets.Panel({"a": slider}, fig, update, title="demo"), ln


def test_panel_draws_once_on_creation_and_on_every_change():
    panel, ln = _panel()
    assert panel.n_updates == 1
    assert panel.readout.value == "a = 1.00"
    panel.controls["a"].value = 1.5
    assert panel.n_updates == 2
    np.testing.assert_array_equal(ln.get_ydata(), [0.0, 1.5])
    assert panel.readout.value == "a = 1.50"


def test_panel_shows_errors_instead_of_swallowing_them():
    panel, ln = _panel()
    panel.controls["a"].value = -0.5
    assert panel.error == "ValueError: a must be >= 0"
    assert "a must be &gt;= 0" in panel.readout.value
    panel.controls["a"].value = 0.5  # and recovers
    assert panel.error is None
    np.testing.assert_array_equal(ln.get_ydata(), [0.0, 0.5])


def test_panel_output_has_a_fixed_height_from_the_figure():
    panel, _ = _panel()
    fig = panel.fig
    assert panel.out.layout.height == f"{int(fig.get_figheight() * fig.dpi) + 12}px"
    assert isinstance(panel.widget, W.VBox)
    assert panel.artists == {} and panel.data == {}, "declared for the builders"


def test_train_panel_runs_on_click_not_on_change():
    fig, ax = plots.panel_figure()
    (ln,) = ax.plot([0.0], [0.0])
    calls = []

    def train(steps, progress):
        for k in range(steps):
            progress(k + 1, steps)
        calls.append(steps)
        ln.set_ydata([float(steps)])

    slider = widgets.int_slider("steps", 3, 1, 10)
    panel = widgets.TrainPanel({"steps": slider}, fig, train)
    assert calls == [3] and panel.bar.value == 3 and panel.bar.max == 3
    slider.value = 5
    assert calls == [3], "changing a control must not retrain"
    panel.click()
    assert calls == [3, 5]
    assert ln.get_ydata()[0] == 5.0
    assert not panel.button.disabled


def test_progress_is_silent_outside_a_notebook():
    with widgets.Progress(10, "x") as bar:
        bar.update(4)
    assert bar.bar is None and bar.value == 4


def test_log_slider_spans_the_requested_decades():
    s = widgets.log_slider("lr", 0.01, -4, 0)
    assert s.min == -4 and s.max == 0 and s.value == pytest.approx(0.01)


def test_palette_is_okabe_ito_and_bn_colours_differ():
    assert plots.BN_COLOR != plots.PLAIN_COLOR
    assert plots.color_cycle()[0] == plots.OKABE_ITO["blue"]
    _fig, ax = plots.panel_figure(1, 2)
    assert len(ax) == 2
    bars = plots.hist(np.arange(10.0), bins=5, ax=ax[0])
    assert len(bars) == 5
    line = plots.line([0, 1], [2, 3], ax=ax[1])
    np.testing.assert_array_equal(line.get_ydata(), [2, 3])


def test_render_gives_a_png_of_the_fixed_figure_size():
    panel, _ = _panel()
    png = panel.render()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    fig = panel.fig
    assert (width, height) == (
        round(fig.get_figwidth() * fig.dpi),
        round(fig.get_figheight() * fig.dpi),
    )


def test_layout_is_solved_once_then_frozen():
    panel, _ln = _panel()
    assert panel.fig.get_layout_engine() is not None
    panel.render()
    assert panel.fig.get_layout_engine() is None, "later renders skip the layout"
    pos = panel.fig.axes[0].get_position().bounds
    panel.controls["a"].value = 1.9
    panel.render()
    assert panel.fig.axes[0].get_position().bounds == pos


def test_train_panel_keeps_solving_its_layout():
    fig, ax = plots.panel_figure()
    ax.plot([0.0], [0.0])
    panel = widgets.TrainPanel({}, fig, lambda progress: None)
    panel.render()
    assert panel.fig.get_layout_engine() is not None


def test_panel_figures_keep_one_renderer_across_redraws():
    panel, _ln = _panel()
    panel.render()
    first = panel.fig.canvas.get_renderer()
    panel.controls["a"].value = 0.3
    panel.render()
    assert panel.fig.canvas.get_renderer() is first, "text caches live in the renderer"
