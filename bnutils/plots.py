"""One shared figure style for the series, and small plotting helpers.

Plotting helpers take ``ax=None`` and return their artists: they receive arrays
and draw; they compute nothing. Colours come from the Okabe-Ito palette, which
stays distinguishable under the common forms of colour blindness.

Two kinds of figure:

* Static figures in a notebook cell: :func:`subplots` (pyplot, shown inline at
  the end of the cell).
* Figures owned by a widget panel: :func:`panel_figure`, a
  :class:`matplotlib.figure.Figure` that pyplot does not track, so it is never
  shown twice and re-running a cell does not leak figures.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "BN_COLOR",
    "OKABE_ITO",
    "PLAIN_COLOR",
    "STYLE",
    "color_cycle",
    "hist",
    "line",
    "panel_figure",
    "subplots",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}

#: The series always draws "with Batch Norm" in blue and "without" in vermillion.
BN_COLOR = OKABE_ITO["blue"]
PLAIN_COLOR = OKABE_ITO["vermillion"]

_CYCLE = [
    OKABE_ITO[k]
    for k in ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "black")
]

STYLE = {
    "axes.prop_cycle": mpl.cycler(color=_CYCLE),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "figure.autolayout": False,
    "figure.constrained_layout.use": True,
    "image.cmap": "viridis",
}


def color_cycle() -> list[str]:
    """The series' colour order (Okabe-Ito)."""
    return list(_CYCLE)


def subplots(nrows: int = 1, ncols: int = 1, figsize=(6.4, 3.6), **kwargs):
    """``plt.subplots`` with the series' style, for static figures."""
    import matplotlib.pyplot as plt

    with mpl.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, **kwargs)
    _apply_style(fig)
    return fig, axes


def panel_figure(nrows: int = 1, ncols: int = 1, figsize=(8.0, 3.4), **kwargs):
    """A figure for a widget panel: fixed size, not tracked by pyplot.

    Returns ``(fig, axes)`` like ``plt.subplots``. Update the artists' data in the
    panel's callback instead of drawing a new figure.
    """
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=figsize, dpi=STYLE["figure.dpi"], layout="constrained")
        # An Agg canvas of its own keeps one renderer across redraws, and with it
        # the renderer's text and mathtext caches (a fresh renderer per savefig
        # would parse every $...$ label again on every slider move).
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=True, **kwargs)
    _apply_style(fig)
    return fig, axes


def _apply_style(fig) -> None:
    """Apply the style to a figure's axes after creation (rc_context only affects
    artists created inside it; ticks and titles created later need this)."""
    for ax in np.atleast_1d(fig.axes):
        ax.grid(True, alpha=STYLE["grid.alpha"])
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
        ax.set_prop_cycle(STYLE["axes.prop_cycle"])


def _ax(ax):
    if ax is None:
        _, ax = subplots()
    return ax


def line(x, y, ax=None, **kwargs):
    """Draw ``y`` against ``x``; returns the Line2D."""
    ax = _ax(ax)
    (artist,) = ax.plot(np.asarray(x), np.asarray(y), **kwargs)
    return artist


def hist(values, bins=40, ax=None, range=None, **kwargs):
    """A histogram of ``values`` (flattened); returns the bar container."""
    ax = _ax(ax)
    values = np.asarray(values).ravel()
    kwargs.setdefault("alpha", 0.7)
    _, _, bars = ax.hist(values, bins=bins, range=range, **kwargs)
    return bars
