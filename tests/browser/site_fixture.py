"""A small notebook with every kind of panel and control, for the reading-copy
test: built into the reduced site that ``make test`` checks in Chromium."""

from __future__ import annotations

from pathlib import Path

#: The fixture's file name (its page is ``site_fixture.html``).
NAME = "site_fixture.ipynb"

#: (panel title, control kinds of its twin): what the page must show.
EXPECTED_TWINS = {
    "Two sliders": ("range", "range"),
    "Log, selection and dropdown": ("range", "range", "select"),
    "Toggles and a checkbox": ("select", "checkbox"),
    "Train on click": ("fixed", "fixed"),
}

_CELLS = [
    (
        "markdown",
        r"""
# Site self-test: every kind of panel

Maths inline, $\tilde z = \gamma z_{\text{norm}} + \beta$, and displayed:

$$\mu = \frac{1}{m} \sum_{i=1}^{m} z^{(i)}$$

A link to [notebook 00](00_start_here.ipynb) that the site points at its page.
""",
    ),
    (
        "code",
        """
%matplotlib inline
import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from bnutils import plots, widgets
""",
    ),
    (
        "code",
        """
fig, ax = plt.subplots(figsize=(4, 2))
ax.plot([0, 1, 2], [0, 1, 4], label="a static figure")
ax.set(title="static", xlabel="x", ylabel="y")
plt.show()
""",
    ),
    (
        "code",
        """
def two_sliders():
    fig, ax = plots.panel_figure(figsize=(4.0, 2.0))
    t = np.linspace(0.0, 1.0, 200)
    (ln,) = ax.plot(t, np.sin(2 * np.pi * t))
    ax.set(title="sine", xlabel="t (s)", ylabel="amplitude", ylim=(-2.1, 2.1))

    def update(freq, amp):
        ln.set_ydata(amp / 5 * np.sin(2 * np.pi * freq * t))
        return f"frequency <b>{freq:.2f}</b> Hz, amplitude {amp}"

    controls = {
        "freq": widgets.float_slider("frequency (Hz)", 1.0, 0.5, 5.0, 0.05),
        "amp": widgets.int_slider("amplitude (fifths)", 5, 1, 10),
    }
    return widgets.Panel(controls, fig, update, title="Two sliders")


two_sliders()
""",
    ),
    (
        "code",
        """
def log_selection_dropdown():
    fig, ax = plots.panel_figure(figsize=(4.0, 2.0))
    x = np.linspace(-3.0, 3.0, 61)
    (ln,) = ax.plot(x, np.tanh(x))
    ax.set(title="f(s x) + c", xlabel="x", ylabel="y", ylim=(-2.5, 2.5))

    def update(scale, shift, fn):
        ln.set_ydata({"tanh": np.tanh, "sin": np.sin}[fn](scale * x) + shift)
        return f"s = {scale:.3g}, c = {shift}, f = {fn}"

    controls = {
        "scale": widgets.log_slider("scale s (log)", 1.0, -2.0, 2.0),
        "shift": W.SelectionSlider(
            options=[-1.0, -0.5, 0.0, 0.5, 1.0], value=0.0, description="shift c"
        ),
        "fn": W.Dropdown(
            options=[("tanh", "tanh"), ("sine", "sin")], value="tanh", description="f"
        ),
    }
    return widgets.Panel(controls, fig, update, title="Log, selection and dropdown")


log_selection_dropdown()
""",
    ),
    (
        "code",
        """
def toggles():
    fig, ax = plots.panel_figure(figsize=(4.0, 2.0))
    (ln,) = ax.plot([0, 1], [0, 1])
    ax.set(title="a line", xlabel="x", ylabel="y", ylim=(-3, 3))

    def update(sign, steep):
        ln.set_ydata([0, sign * (2 if steep else 1)])
        return f"sign {sign:+d}, steep: {steep}"

    controls = {
        "sign": W.ToggleButtons(options=[("up", 1), ("down", -1)], description="sign"),
        "steep": W.Checkbox(value=False, description="steep"),
    }
    return widgets.Panel(controls, fig, update, title="Toggles and a checkbox")


toggles()
""",
    ),
    (
        "code",
        """
def train_panel():
    fig, ax = plots.panel_figure(figsize=(4.0, 2.0))
    (ln,) = ax.plot([0.0], [1.0])
    ax.set(title="a fake training curve", xlabel="step", ylabel="loss", ylim=(0, 1.05))

    def update(steps, shape, progress):
        t = np.arange(steps + 1)
        loss = np.exp(-t / 20.0) if shape == "exp" else 1.0 / (1.0 + t / 10.0)
        for k in range(0, steps + 1, 10):
            progress(k, steps)
        ln.set_data(t, loss)
        ax.set_xlim(0, steps)
        return f"final loss {loss[-1]:.3f}"

    controls = {
        "steps": widgets.int_slider("steps", 100, 50, 300, 10),
        "shape": W.Dropdown(options=["exp", "hyperbolic"], description="curve"),
    }
    return widgets.TrainPanel(controls, fig, update, title="Train on click")


train_panel()
""",
    ),
]


def write(path: Path) -> Path:
    """Write the fixture notebook to ``path`` (a directory or a file name)."""
    import nbformat

    path = Path(path)
    if path.is_dir():
        path = path / NAME
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in _CELLS:
        make = (
            nbformat.v4.new_code_cell
            if kind == "code"
            else nbformat.v4.new_markdown_cell
        )
        nb.cells.append(make(src.strip("\n")))
    nbformat.write(nb, str(path))
    return path
