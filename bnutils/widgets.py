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

Static twins (the reading copy built by ``make site``): when the environment
variable :data:`STATIC_TWINS_ENV` is ``"1"`` (``scripts/build_site.py`` sets it
for the kernels it starts), a displayed panel's output also carries a
``text/html`` twin made by :meth:`Panel.static_twin`: the figure pre-rendered
over a grid of control values, plain HTML inputs and a few lines of inline
JavaScript that swap the image and the readout. A live front end still shows
the widget (it ranks the widget view above HTML); a static page shows the twin.
Without the variable nothing changes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import ipywidgets as W
from IPython.display import Image, clear_output, display

__all__ = [
    "STATIC_TWINS_ENV",
    "Panel",
    "Progress",
    "StaticTwin",
    "TrainPanel",
    "float_slider",
    "int_slider",
    "log_slider",
    "static_twins_enabled",
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
        self.title = title
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
            self.readout.value = _error_html(traceback.format_exc(limit=4))
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
        if static_twins_enabled():
            display(self._mimebundle(), raw=True)
        else:
            display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        # ipywidgets 8 front ends use the mime bundle of the wrapped widget.
        return self._mimebundle(**kwargs)

    def _mimebundle(self, **kwargs) -> dict:
        """The widget's mime bundle, plus the static twin as ``text/html`` when
        :func:`static_twins_enabled` (a live front end still shows the widget)."""
        bundle = _widget_bundle(self.widget, **kwargs)
        if static_twins_enabled():
            bundle["text/html"] = self.static_twin().html()
        return bundle

    #: Grid points per slider in a static twin (the current value is one of them).
    twin_points = 9
    #: A twin precomputes every combination of its controls' grids when there are
    #: at most this many; otherwise each control moves on its own grid with the
    #: others at their current values.
    twin_max_product = 30

    def static_twin(self) -> StaticTwin:
        """The panel's figure pre-rendered over a grid of control values.

        Each control gets a grid around its current value (sliders
        :attr:`twin_points` values spread over their range, selections and
        checkboxes every option). When the product of the grids has at most
        :attr:`twin_max_product` positions every combination is rendered
        ("product"); otherwise each control moves on its own grid with the others
        at their current values ("star"). ``update`` is called directly (the
        controls' values, the Output and the readout widget are not touched) and
        called once more with the current values at the end, so the figure is
        left as it was. A position whose ``update`` raises is kept, with the
        error as its readout, and listed in ``StaticTwin.errors``.
        """
        current = self.values()
        axes = [  # a control without a value (a button) has no place in the twin
            _control_axis(name, w, self.twin_points)
            for name, w in self.controls.items()
            if hasattr(w, "value")
        ]
        moving = [a for a in axes if a.kind != "fixed"]
        combos = _twin_positions(moving, self.twin_max_product)
        twin = StaticTwin(
            title=self.title,
            axes=axes,
            mode="product"
            if len(combos) == math.prod(len(a.values) for a in moving)
            and len(moving) > 1
            else ("star" if len(moving) > 1 else "single"),
        )
        try:
            for combo in combos:
                values = dict(current)
                for axis, k in zip(moving, combo, strict=True):
                    values[axis.name] = axis.values[k]
                try:
                    text = self._update(**values)
                    readout = "" if text is None else str(text)
                except Exception as exc:  # kept, and reported by the site build
                    readout = _error_html(traceback.format_exc(limit=4))
                    twin.errors.append(
                        f"{_describe(values)}: {type(exc).__name__}: {exc}"
                    )
                twin.add(combo, self.render(), readout)
        finally:
            with _suppress_all():
                self._update(**current)
        return twin


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

    def static_twin(self) -> StaticTwin:
        """The run on screen (the default run, made at creation) as one image,
        with the settings it used: training needs a live kernel, so nothing is
        retrained here."""
        axes = [
            _fixed_axis(name, w)
            for name, w in self.controls.items()
            if hasattr(w, "value")
        ]
        twin = StaticTwin(title=self.title, axes=axes, mode="train")
        twin.add((), self.render(), self.readout.value)
        return twin


# --------------------------------------------------------------------------
# Static twins: a panel pre-rendered for a page without a kernel
# --------------------------------------------------------------------------

#: Environment variable that switches static twins on (``"1"``); set by
#: ``scripts/build_site.py`` for the kernels that execute the reading copy.
STATIC_TWINS_ENV = "BNUTILS_STATIC_TWINS"


def static_twins_enabled() -> bool:
    """Whether displayed panels also carry a static twin (see the module doc)."""
    return os.environ.get(STATIC_TWINS_ENV) == "1"


def _error_html(tb: str) -> str:
    return (
        "<pre class='bn-panel-error' style='color:#D55E00'>"
        f"Error in this panel's update:\n{html.escape(tb)}</pre>"
    )


class _suppress_all:
    """``contextlib.suppress(Exception)`` that stays readable in a traceback."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, Exception)


def _describe(values: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def _widget_bundle(widget, **kwargs) -> dict:
    """A widget's mime bundle under ipywidgets 8 (``_repr_mimebundle_``) and
    7.7 (which builds the same two entries in ``_ipython_display_``)."""
    rep = getattr(widget, "_repr_mimebundle_", None)
    data = rep(**kwargs) if rep is not None else None
    if isinstance(data, tuple):
        data = data[0]
    if data:
        return dict(data)
    return {
        "text/plain": repr(widget),
        "application/vnd.jupyter.widget-view+json": {
            "version_major": 2,
            "version_minor": 0,
            "model_id": widget.model_id,
        },
    }


@dataclass
class _Axis:
    """One control of a static twin: the values it takes and their labels."""

    name: str
    label: str
    kind: str  # "range", "select", "checkbox" or "fixed"
    values: list
    labels: list[str]
    default: int = 0


def _format(value, fmt: str | None) -> str:
    if isinstance(value, bool) or fmt is None:
        return str(value)
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def _label(name: str, w) -> str:
    return str(getattr(w, "description", "") or name)


def _fixed_axis(name: str, w) -> _Axis:
    value = getattr(w, "value", None)
    if hasattr(w, "options") and hasattr(w, "index") and w.index is not None:
        text = str(list(_options(w)[0])[w.index])
    else:
        text = _format(value, getattr(w, "readout_format", None))
    return _Axis(name, _label(name, w), "fixed", [value], [text], 0)


def _options(w) -> tuple[list[str], list]:
    """(labels, values) of a selection widget (ipywidgets 7.7 and 8)."""
    labels = getattr(w, "_options_labels", None)
    values = getattr(w, "_options_values", None)
    if labels is None or values is None:  # pragma: no cover - both versions have them
        full = [o if isinstance(o, tuple) else (str(o), o) for o in w.options]
        labels, values = [lab for lab, _ in full], [v for _, v in full]
    return [str(lab) for lab in labels], list(values)


def _spread(n_total: int, keep: int, n: int) -> list[int]:
    """About ``n`` indices of ``range(n_total)`` spread evenly, ``keep`` among
    them, sorted."""
    if n_total <= n:
        return list(range(n_total))
    picks = {round(i * (n_total - 1) / (n - 1)) for i in range(n)}
    nearest = min(picks, key=lambda i: abs(i - keep))
    return sorted((picks - {nearest}) | {keep})


def _numeric_grid(lo: float, hi: float, step: float, value: float, n: int) -> list:
    """Up to ``n`` points from ``lo`` to ``hi`` on the slider's ``step`` grid,
    ``value`` exactly among them."""
    if not step or step <= 0 or hi <= lo:
        return [value]
    n_steps = math.floor((hi - lo) / step + 1e-9)
    keep = round((value - lo) / step)
    ks = _spread(n_steps + 1, min(max(keep, 0), n_steps), n)
    points = [round(lo + k * step, 12) for k in ks]
    points = [value if k == keep else p for k, p in zip(ks, points, strict=True)]
    if value not in points:  # a value off the step grid
        points = sorted({*points, value})
    return points


def _control_axis(name: str, w, points: int) -> _Axis:
    """The grid a static twin uses for one control (every control type the
    series uses: Float/Int/FloatLog/Selection sliders, Dropdown, ToggleButtons,
    RadioButtons, Checkbox, ToggleButton; anything else stays fixed)."""
    if getattr(w, "disabled", False):
        return _fixed_axis(name, w)
    label = _label(name, w)
    if isinstance(w, W.Checkbox | W.ToggleButton):
        return _Axis(
            name, label, "checkbox", [False, True], ["off", "on"], int(w.value)
        )
    if hasattr(w, "options") and hasattr(w, "index"):
        if w.index is None or isinstance(w.index, tuple):  # no selection / a range
            return _fixed_axis(name, w)
        labels, values = _options(w)
        ks = _spread(
            len(values), w.index, points if isinstance(w, W.SelectionSlider) else 12
        )
        kind = "range" if isinstance(w, W.SelectionSlider) else "select"
        return _Axis(
            name,
            label,
            kind,
            [values[k] for k in ks],
            [labels[k] for k in ks],
            ks.index(w.index),
        )
    fmt = getattr(w, "readout_format", None)
    if isinstance(w, W.FloatLogSlider):
        exp = math.log(w.value, w.base)
        exps = _numeric_grid(w.min, w.max, w.step, exp, points)
        values = [w.value if e == exp else float(w.base**e) for e in exps]
    elif isinstance(w, W.IntSlider):
        values = [int(v) for v in _numeric_grid(w.min, w.max, w.step, w.value, points)]
    elif isinstance(w, W.FloatSlider):
        values = [
            float(v) for v in _numeric_grid(w.min, w.max, w.step, w.value, points)
        ]
    else:
        return _fixed_axis(name, w)
    return _Axis(
        name,
        label,
        "range",
        values,
        [_format(v, fmt) for v in values],
        values.index(w.value),
    )


def _twin_positions(axes: list[_Axis], max_product: int) -> list[tuple[int, ...]]:
    """Every combination of the axes' grids when there are at most
    ``max_product``, else each axis on its own with the others at their
    defaults (the defaults first)."""
    sizes = [len(a.values) for a in axes]
    if math.prod(sizes) <= max_product:
        return list(itertools.product(*(range(n) for n in sizes)))
    base = tuple(a.default for a in axes)
    combos = [base]
    for i, axis in enumerate(axes):
        for k in range(len(axis.values)):
            if k != axis.default:
                combos.append((*base[:i], k, *base[i + 1 :]))
    return combos


def _compact_png(png: bytes) -> bytes:
    """The same image as a smaller PNG: at most 256 colours (a figure of flat
    colours and anti-aliased lines barely changes) and zlib at its best."""
    try:
        from PIL import Image  # matplotlib depends on Pillow
    except ImportError:  # pragma: no cover
        return png
    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")
    small = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=0)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True)
    out = buf.getvalue()
    return out if len(out) < len(png) else png


@dataclass
class StaticTwin:
    """A panel pre-rendered over a grid of its control values.

    ``axes`` are all the panel's controls (those of kind ``"fixed"`` don't
    move); ``positions`` maps a tuple of grid indices of the moving axes to
    ``(image index, readout index)``; ``images`` (compressed PNG bytes) and
    ``readouts`` (HTML) are deduplicated. ``mode`` is ``"single"`` (one moving
    control), ``"product"`` (every combination), ``"star"`` (each control on
    its own, the others at their defaults) or ``"train"`` (a training panel's
    default run). ``errors`` lists the positions whose update raised.
    """

    title: str | None
    axes: list[_Axis]
    mode: str
    images: list[bytes] = field(default_factory=list)
    readouts: list[str] = field(default_factory=list)
    positions: dict[tuple[int, ...], tuple[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _seen: dict = field(default_factory=dict, repr=False)

    @property
    def moving(self) -> list[_Axis]:
        return [a for a in self.axes if a.kind != "fixed"]

    @property
    def n_positions(self) -> int:
        return len(self.positions)

    def add(self, combo: tuple[int, ...], png: bytes, readout: str) -> None:
        """Record the image and readout shown at grid position ``combo``."""
        key = hashlib.sha1(png).hexdigest()
        if key not in self._seen:
            self._seen[key] = len(self.images)
            self.images.append(_compact_png(png))
        if readout not in self.readouts:
            self.readouts.append(readout)
        self.positions[tuple(combo)] = (self._seen[key], self.readouts.index(readout))

    def note(self) -> str:
        """The sentence under the figure saying what the static copy holds."""
        n = self.n_positions
        if self.mode == "train":
            return (
                "Static copy: the default run with the settings above. Training "
                "needs a live kernel: run this notebook to train with other settings."
            )
        how = {
            "single": "",
            "product": " (every combination of the controls)",
            "star": " (each control moves on its own; the others return to their "
            "defaults)",
        }[self.mode]
        return (
            f"Static copy: {n} precomputed position{'s' if n != 1 else ''}{how}. "
            "Run the notebook for the live panel."
        )

    def html(self) -> str:
        """A self-contained HTML block: inputs, image, readout and the few lines
        of inline JavaScript that swap them."""
        default = tuple(a.default for a in self.moving)
        img, txt = self.positions[default]
        rows = []
        for i, axis in enumerate(self.axes):
            label = html.escape(axis.label)
            shown = html.escape(axis.labels[axis.default])
            attr = f'data-bn-axis="{i}" aria-label="{label}"'
            if axis.kind == "range":
                inp = (
                    f'<input type="range" {attr} min="0" max="{len(axis.values) - 1}"'
                    f' step="1" value="{axis.default}">'
                )
            elif axis.kind == "select":
                opts = "".join(
                    f'<option value="{k}"{" selected" if k == axis.default else ""}>'
                    f"{html.escape(t)}</option>"
                    for k, t in enumerate(axis.labels)
                )
                inp = f"<select {attr}>{opts}</select>"
            elif axis.kind == "checkbox":
                checked = " checked" if axis.default else ""
                inp = f'<input type="checkbox" {attr}{checked}>'
            else:
                inp = (
                    f'<input type="text" value="{shown}" disabled aria-label="{label}">'
                )
                shown = ""
            rows.append(
                f'<label class="bn-twin-control"><span>{label}</span> {inp} '
                f'<output class="bn-twin-value">{shown}</output></label>'
            )
        data = {
            "axes": [
                {"kind": a.kind, "labels": a.labels, "default": a.default}
                for a in self.axes
            ],
            "pos": {",".join(map(str, k)): v for k, v in self.positions.items()},
            "img": [base64.b64encode(b).decode("ascii") for b in self.images],
            "txt": self.readouts,
        }
        payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
        title = (
            f'<div class="bn-twin-title"><b>{html.escape(self.title)}</b></div>'
            if self.title
            else ""
        )
        src = base64.b64encode(self.images[img]).decode("ascii")
        alt = html.escape(self.title or "panel figure")
        return (
            f'<div class="bn-twin" data-bn-twin="{self.mode}" '
            f'data-bn-positions="{self.n_positions}">'
            f"{_TWIN_STYLE}{title}"
            f'<div class="bn-twin-controls">{"".join(rows)}</div>'
            f'<img class="bn-twin-image" alt="{alt}"'
            f' src="data:image/png;base64,{src}">'
            f'<div class="bn-twin-readout">{self.readouts[txt]}</div>'
            f'<p class="bn-twin-note">{html.escape(self.note())}</p>'
            f'<script type="application/json" class="bn-twin-data">{payload}</script>'
            f"<script>{_TWIN_JS}</script></div>"
        )


_TWIN_STYLE = (
    "<style>.bn-twin{border:1px solid #ddd;padding:8px;margin:4px 0;max-width:100%}"
    ".bn-twin-control{display:flex;gap:8px;align-items:center;margin:2px 0}"
    ".bn-twin-control>span{min-width:16em}.bn-twin-control input[type=range]"
    "{width:240px}.bn-twin-image{display:block;max-width:100%;margin:6px 0}"
    ".bn-twin-note{color:#555;font-style:italic;font-size:90%}</style>"
)

# Swaps the image and the readouts when an input moves. A position that was not
# precomputed (a "star" twin) sends the other controls back to their defaults.
_TWIN_JS = """(function (root) {
  var d = JSON.parse(root.querySelector("script.bn-twin-data").textContent);
  var ins = Array.prototype.slice.call(root.querySelectorAll("[data-bn-axis]"));
  function get(el) { return el.type === "checkbox" ? +el.checked : +el.value; }
  function put(el, k) {
    if (el.type === "checkbox") el.checked = !!k; else el.value = k;
  }
  function key() { return ins.map(get).join(","); }
  function show(moved) {
    if (!(key() in d.pos)) ins.forEach(function (el) {
      if (el !== moved) put(el, d.axes[+el.dataset.bnAxis].default);
    });
    var p = d.pos[key()];
    var img = root.querySelector("img.bn-twin-image");
    img.src = "data:image/png;base64," + d.img[p[0]];
    var out = root.querySelector(".bn-twin-readout");
    out.innerHTML = d.txt[p[1]];
    ins.forEach(function (el) {
      el.parentNode.querySelector("output").textContent =
        d.axes[+el.dataset.bnAxis].labels[get(el)];
    });
    if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([out]);
  }
  ins.forEach(function (el) {
    el.addEventListener("input", function () { show(el); });
    el.addEventListener("change", function () { show(el); });
  });
})(document.currentScript.parentNode);"""
