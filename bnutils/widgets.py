"""Wiring between controls and figures: compute function -> artists -> widgets.

Works with ipywidgets 7.7 (Colab) and 8.x, with the inline matplotlib backend.

* :class:`Panel` binds controls (sliders, dropdowns) to an ``update`` callback
  that changes the data of a figure's artists; the figure is shown again in an
  ``Output`` of fixed height (no stacking, no page jump). Errors inside the
  callback are shown in the panel, never swallowed.
* :class:`TrainPanel` is the same for work that trains: a button starts it, a
  progress bar shows it, and controls don't retrain on every tick.
* :class:`Progress` is the progress bar the training loop uses; it prints
  nothing and draws nothing when switched off or outside a notebook.

Panels are tested without a browser: set ``panel.controls["name"].value`` and
look at the figure's artists.
"""

from __future__ import annotations

import html
import io
import time
import traceback
from collections.abc import Callable, Mapping

import ipywidgets as W
from IPython.display import Image, clear_output, display

__all__ = [
    "Panel",
    "Progress",
    "TrainPanel",
    "float_slider",
    "int_slider",
    "log_slider",
]

_STYLE = {"description_width": "initial"}


def float_slider(description, value, min, max, step, readout_format=".2f", **kw):
    """A FloatSlider with a readable label and the series' layout."""
    return W.FloatSlider(
        value=value,
        min=min,
        max=max,
        step=step,
        description=description,
        readout_format=readout_format,
        style=_STYLE,
        layout=W.Layout(width="420px"),
        **kw,
    )


def int_slider(description, value, min, max, step=1, **kw):
    """An IntSlider with a readable label and the series' layout."""
    return W.IntSlider(
        value=value,
        min=min,
        max=max,
        step=step,
        description=description,
        style=_STYLE,
        layout=W.Layout(width="420px"),
        **kw,
    )


def log_slider(description, value, min, max, base=10.0, readout_format=".3g", **kw):
    """A FloatLogSlider; ``min`` and ``max`` are exponents of ``base``."""
    return W.FloatLogSlider(
        value=value,
        base=base,
        min=min,
        max=max,
        step=(max - min) / 40,
        description=description,
        readout_format=readout_format,
        style=_STYLE,
        layout=W.Layout(width="420px"),
        **kw,
    )


class Panel:
    """Controls bound to a figure through an ``update`` callback.

    Parameters
    ----------
    controls : name -> widget; ``update`` is called with ``name=widget.value``.
    fig : the figure whose artists ``update`` changes (see
        :func:`bnutils.plots.panel_figure`).
    update : ``update(**values) -> str | None``; it changes artists' data (and
        axis limits) and may return a short HTML/text readout shown under the
        figure.
    height : fixed height of the figure area, so the page doesn't jump.
    title : optional heading above the controls.
    auto : call ``update`` when a control changes (False for a Train button).
    freeze_layout : after the first render, keep the axes where the figure's
        layout engine (constrained layout) placed them instead of solving the
        layout again on every update: about half the time of a redraw. Pass
        False for a figure whose tick labels change width a lot as it updates.

    Attributes ``artists`` and ``data`` (dicts, empty at first) are where a
    panel's builder names the artists it updates and the arrays it plots, so
    tests and curious learners can inspect them.
    """

    def __init__(
        self,
        controls: Mapping[str, W.Widget],
        fig,
        update: Callable[..., str | None],
        *,
        height: str | None = None,
        title: str | None = None,
        auto: bool = True,
        freeze_layout: bool = True,
    ):
        self.controls = dict(controls)
        self.freeze_layout = freeze_layout
        self.artists: dict = {}
        self.data: dict = {}
        self.fig = fig
        self._update = update
        if height is None:
            height = f"{int(fig.get_figheight() * fig.dpi) + 12}px"
        self.out = W.Output(layout=W.Layout(height=height, overflow="hidden"))
        self.readout = W.HTML(value="")
        self.error: str | None = None
        self.n_updates = 0
        self.last_update_seconds = float("nan")
        children = []
        if title:
            children.append(W.HTML(f"<b>{html.escape(title)}</b>"))
        children.append(W.VBox(list(self.controls.values())))
        children += [self.out, self.readout]
        self.widget = W.VBox(children)
        if auto:
            for w in self.controls.values():
                w.observe(self._on_change, names="value")
        self.refresh()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {k: w.value for k, w in self.controls.items() if hasattr(w, "value")}

    def _on_change(self, _change) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Run ``update`` with the current values and show the figure again."""
        t0 = time.perf_counter()
        try:
            text = self._update(**self.values())
        except Exception as exc:  # shown to the learner, not swallowed
            self.error = f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc(limit=4)
            self.readout.value = (
                "<pre style='color:#D55E00'>Error in this panel's update:\n"
                f"{html.escape(tb)}</pre>"
            )
            return
        self.error = None
        self.n_updates += 1
        self.readout.value = "" if text is None else str(text)
        if _in_notebook():  # outside a kernel there is nothing to show
            png = self.render()
            with self.out:
                clear_output(wait=True)
                display(Image(data=png, format="png"))
        self.last_update_seconds = time.perf_counter() - t0

    def render(self) -> bytes:
        """The figure as PNG bytes, at its fixed size (no tight bounding box:
        that would draw the figure twice and let the image size jump)."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.fig.dpi)
        if self.freeze_layout and self.fig.get_layout_engine() is not None:
            # The first draw placed the axes; without an engine later draws keep
            # those positions and skip the layout pass (and its extra draw).
            self.fig.set_layout_engine(None)
        return buf.getvalue()

    def _ipython_display_(self) -> None:
        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        # ipywidgets 8 front ends use the mime bundle of the wrapped widget.
        return self.widget._repr_mimebundle_(**kwargs)


class Progress:
    """A progress bar for loops in notebooks; silent when ``enabled`` is False.

    ``with Progress(total, "training") as bar: bar.update(k)``. Outside a
    notebook (no IPython kernel) it draws nothing.
    """

    def __init__(self, total: int, description: str = "", enabled: bool = True):
        self.total = max(int(total), 1)
        self.description = description
        self.enabled = bool(enabled) and _in_notebook()
        self.bar = None
        self.value = 0

    def __enter__(self):
        if self.enabled:
            self.bar = W.IntProgress(
                value=0,
                min=0,
                max=self.total,
                description=self.description,
                style=_STYLE,
                layout=W.Layout(width="420px"),
            )
            display(self.bar)
        return self

    def update(self, value: int) -> None:
        self.value = int(value)
        if self.bar is not None:
            self.bar.value = min(self.value, self.total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.value = self.total if exc[0] is None else self.bar.value
            self.bar.bar_style = "success" if exc[0] is None else "danger"


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class TrainPanel(Panel):
    """A :class:`Panel` whose ``update`` trains: it runs when the button is
    clicked (once at creation, so the figure is never empty), not on every
    control change. ``update`` receives a ``progress`` keyword: a callable
    ``progress(done, total)`` that drives the panel's progress bar.
    """

    def __init__(self, controls, fig, update, *, button_text="Train", **kw):
        self.button = W.Button(description=button_text, button_style="primary")
        self.bar = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="420px"))
        self._train = update
        controls = dict(controls)
        kw.setdefault("freeze_layout", False)  # training curves rescale a lot
        super().__init__(controls, fig, self._run, auto=False, **kw)
        self.widget.children = (
            *self.widget.children[:-2],
            W.HBox([self.button, self.bar]),
            *self.widget.children[-2:],
        )
        self.button.on_click(lambda _b: self.refresh())

    def _progress(self, done: int, total: int) -> None:
        self.bar.max = max(int(total), 1)
        self.bar.value = min(int(done), self.bar.max)

    def _run(self, **values):
        self.button.disabled = True
        try:
            return self._train(progress=self._progress, **values)
        finally:
            self.button.disabled = False

    def click(self) -> None:
        """Press the Train button (for tests and scripted demos)."""
        self.refresh()
