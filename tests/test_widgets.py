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


# -- static twins (the reading copy of make site) ------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _every_control_panel():
    """One panel with every control type the series uses, each visibly moving
    a different part of the figure."""
    fig, ax = plots.panel_figure()
    (ln,) = ax.plot([0.0, 1.0], [0.0, 1.0])
    ax.set(xlim=(0, 4), ylim=(-4, 40))
    calls = []

    def update(a, n, lr, m, act, bn, grid):
        calls.append((a, n, lr, m, act, bn, grid))
        y = [a, n / 10, np.log10(lr), m / 10, {"relu": 1, "tanh": 2}[act] + 3 * bn]
        ln.set_data(np.arange(5), y)
        ax.grid(grid)
        return f"a={a:.2f} n={n} lr={lr:.3g} m={m} {act} bn={bn} grid={grid}"

    controls = {
        "a": widgets.float_slider("a", 1.0, -1.0, 2.0, 0.1),
        "n": widgets.int_slider("n", 30, 10, 100, 5),
        "lr": widgets.log_slider("lr", 0.01, -4.0, 0.0),
        "m": W.SelectionSlider(options=[1, 2, 4, 8, 16, 32], value=8, description="m"),
        "act": W.Dropdown(options=[("ReLU", "relu"), ("tanh", "tanh")], value="tanh"),
        "bn": W.ToggleButtons(options=[("with BN", True), ("without", False)]),
        "grid": W.Checkbox(value=True, description="grid"),
    }
    panel = widgets.Panel(controls, fig, update, title="every control")
    panel.twin_points = 5  # fewer renders for the tests
    return panel, ln, calls


def test_twin_grids_cover_every_control_type_around_the_current_value():
    panel, _ln, _calls = _every_control_panel()
    axes = {n: widgets._control_axis(n, w, 9) for n, w in panel.controls.items()}
    a = axes["a"]
    assert a.kind == "range" and len(a.values) == 9
    assert a.values[0] == -1.0 and a.values[-1] == pytest.approx(2.0)
    assert a.values[a.default] == 1.0 and a.labels[a.default] == "1.00"
    assert np.all(np.diff(a.values) > 0)
    n = axes["n"]
    assert all(isinstance(v, int) and (v - 10) % 5 == 0 for v in n.values)
    assert n.values[n.default] == 30 and (n.values[0], n.values[-1]) == (10, 100)
    lr = axes["lr"]
    np.testing.assert_allclose(lr.values[0], 1e-4)
    np.testing.assert_allclose(lr.values[-1], 1.0)
    assert lr.values[lr.default] == pytest.approx(0.01)
    assert axes["m"].kind == "range" and axes["m"].labels == [
        "1",
        "2",
        "4",
        "8",
        "16",
        "32",
    ]
    assert axes["m"].values[axes["m"].default] == 8
    assert axes["act"].kind == "select" and axes["act"].labels == ["ReLU", "tanh"]
    assert axes["act"].values == ["relu", "tanh"] and axes["act"].default == 1
    assert axes["bn"].kind == "select" and axes["bn"].values == [True, False]
    assert axes["grid"].kind == "checkbox" and axes["grid"].default == 1


def test_twin_star_moves_each_control_alone_and_leaves_the_panel_as_it_was():
    panel, ln, calls = _every_control_panel()
    y_before = np.array(ln.get_ydata(), copy=True)
    values_before, updates_before = panel.values(), panel.n_updates
    twin = panel.static_twin()
    moving = twin.moving
    sizes = [len(a.values) for a in moving]
    assert twin.mode == "star"
    assert twin.n_positions == 1 + sum(n - 1 for n in sizes)
    default = tuple(a.default for a in moving)
    for combo in twin.positions:  # every position differs from the defaults once
        assert sum(c != d for c, d in zip(combo, default, strict=True)) <= 1
    assert len(calls) == 1 + twin.n_positions + 1, "creation, grid, restore"
    assert calls[-1] == calls[0], "update called again with the current values"
    np.testing.assert_array_equal(ln.get_ydata(), y_before)
    assert panel.values() == values_before and panel.n_updates == updates_before
    assert twin.errors == []
    # every position draws a different figure and says so in its readout
    assert len(twin.images) == twin.n_positions == len(twin.readouts)
    for png in twin.images:
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert _png_size(png) == _png_size(panel.render())


def test_twin_renders_every_combination_when_that_is_small():
    fig, ax = plots.panel_figure()
    (ln,) = ax.plot([0.0, 1.0], [0.0, 1.0])

    def update(a, on):
        ln.set_ydata([0.0, a + 5 * on])
        return f"a = {a:.1f}, on = {on}"

    controls = {
        "a": widgets.float_slider("a", 1.0, 0.0, 2.0, 0.5),
        "on": W.Checkbox(value=False, description="on"),
    }
    twin = widgets.Panel(controls, fig, update).static_twin()
    assert twin.mode == "product" and twin.n_positions == 5 * 2
    assert set(twin.positions) == {(i, j) for i in range(5) for j in range(2)}
    assert twin.readouts[twin.positions[(4, 1)][1]] == "a = 2.0, on = True"
    assert "10 precomputed positions (every combination" in twin.note()


def test_twin_keeps_failing_positions_with_the_error_and_lists_them():
    panel, _ln = _panel()  # update raises for a < 0; the slider reaches -1
    twin = panel.static_twin()
    assert twin.errors and all("a must be >= 0" in e for e in twin.errors)
    assert any("Error in this panel's update" in r for r in twin.readouts)
    assert panel.error is None, "the live panel is untouched"


def test_twin_html_has_inputs_data_and_the_note():
    import json
    import re

    panel, _ln, _calls = _every_control_panel()
    twin = panel.static_twin()
    page = twin.html()
    assert f'data-bn-positions="{twin.n_positions}"' in page
    assert f"Static copy: {twin.n_positions} precomputed positions" in page
    assert page.count('type="range"') == 4  # a, n, lr and the SelectionSlider
    assert page.count("<select") == 2 and page.count('type="checkbox"') == 1
    assert '<option value="1" selected>tanh</option>' in page
    payload = re.search(r'class="bn-twin-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(payload)
    assert len(data["pos"]) == twin.n_positions and len(data["img"]) == len(twin.images)
    default = ",".join(str(a.default) for a in twin.moving)
    assert data["pos"][default] == [0, 0]
    assert data["img"][0] in page.split("bn-twin-data")[0], "the default image shows"
    assert "http" not in page.replace("data:image/png", ""), "nothing external"


def test_train_panel_twin_is_its_default_run_and_does_not_retrain():
    fig, ax = plots.panel_figure()
    (ln,) = ax.plot([0.0], [0.0])
    calls = []

    def train(steps, opt, progress):
        calls.append(steps)
        ln.set_data(np.arange(steps), np.arange(steps) ** 0.5)
        return f"trained {steps} steps with {opt}"

    controls = {
        "steps": widgets.int_slider("steps", 3, 1, 10),
        "opt": W.Dropdown(options=["gd", "adam"], value="adam", description="opt"),
    }
    panel = widgets.TrainPanel(controls, fig, train, title="lab")
    twin = panel.static_twin()
    assert calls == [3], "no training for the twin"
    assert twin.mode == "train" and twin.n_positions == 1
    assert [a.kind for a in twin.axes] == ["fixed", "fixed"]
    assert [a.labels[0] for a in twin.axes] == ["3", "adam"]
    page = twin.html()
    assert "Training needs a live kernel" in page
    assert "trained 3 steps with adam" in page
    assert "data-bn-axis=" not in page, "nothing to move"


def test_disabled_and_unknown_controls_stay_fixed():
    fig, ax = plots.panel_figure()
    ax.plot([0.0], [0.0])
    controls = {
        "a": widgets.float_slider("a", 1.0, 0.0, 2.0, 0.5, disabled=True),
        "name": W.Text(value="x", description="name"),
        "go": W.Button(description="go"),  # no value: not part of the twin
    }
    twin = widgets.Panel(controls, fig, lambda a, name: name).static_twin()
    assert [a.name for a in twin.axes] == ["a", "name"]
    assert [a.kind for a in twin.axes] == ["fixed", "fixed"]
    assert twin.n_positions == 1 and twin.mode == "single"


def test_twin_is_only_in_the_mime_bundle_when_switched_on(monkeypatch):
    panel, _ln = _panel()
    monkeypatch.delenv(widgets.STATIC_TWINS_ENV, raising=False)
    live = panel._repr_mimebundle_()
    assert "text/html" not in live
    assert "application/vnd.jupyter.widget-view+json" in live
    monkeypatch.setenv(widgets.STATIC_TWINS_ENV, "1")
    site = panel._repr_mimebundle_()
    assert (
        site["application/vnd.jupyter.widget-view+json"]
        == (live["application/vnd.jupyter.widget-view+json"])
    ), "a live front end still gets the widget"
    assert 'class="bn-twin"' in site["text/html"]


def test_compact_png_is_smaller_and_the_same_size():
    panel, _ln = _panel()
    png = panel.render()
    small = widgets._compact_png(png)
    assert len(small) < len(png) and _png_size(small) == _png_size(png)
