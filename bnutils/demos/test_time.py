"""Notebook 06, Batch Norm at test time: its figures, panels and bookkeeping.

The computations the notebook teaches are written in its cells: the training
loop that records every mini-batch's statistics, the exponentially weighted
average and its bias correction, the population statistics of Ioffe &
Szegedy's Algorithm 2, the accuracy of the running, bias-corrected and
population estimates early in training, the frameworks' update rules, and
folding Batch Norm into W and b. This module keeps what would only clutter
them:

* :func:`plot_prediction_histograms` (and :func:`class_histogram`): predicted
  classes in training mode with a batch of one against inference mode.
* :func:`ewma_panel`: running estimates of a unit's mean and variance against
  the truth, on streams of mini-batches drawn by :func:`make_stream` from a
  known (fixed or drifting) distribution; :func:`ema`, :func:`bias_corrected`,
  :func:`running_estimates`, :func:`effective_window` and
  :func:`bessel_factor` compute what it draws.
* :func:`plot_warmup`: test accuracy against training steps for several
  estimates of the statistics.
* The frameworks' conventions, simulated with numpy alone:
  :data:`CONVENTIONS`, :func:`pytorch_running_update`,
  :func:`keras_running_update`, :func:`cs231n_running_update`,
  :func:`simulate_convention`, :func:`single_example_training`,
  :func:`conventions_rows` / :func:`conventions_html` (the table), and the
  momentum direction mix-up (:func:`plot_momentum_confusion`,
  :func:`momentum_panel`).

Arrays follow the course's layout (units, examples) = ``(n_l, m)``; a stream
of ``T`` mini-batches of one unit is a ``(T, m)`` array (one row per batch).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import ipywidgets as ipw
import numpy as np
from matplotlib.patches import Rectangle

from bnutils import plots, widgets
from bnutils.layers import BatchNorm

__all__ = [
    "CONVENTIONS",
    "DRIFT_MEAN",
    "DRIFT_MEAN_STEPS",
    "DRIFT_VAR_STEPS",
    "HEADERS",
    "RMS_TAIL_STEPS",
    "STREAM_MEAN",
    "STREAM_VAR",
    "Convention",
    "StatStream",
    "bessel_factor",
    "bias_corrected",
    "class_histogram",
    "conventions_html",
    "conventions_rows",
    "cs231n_running_update",
    "effective_window",
    "ema",
    "ewma_panel",
    "keras_running_update",
    "make_stream",
    "momentum_panel",
    "plot_momentum_confusion",
    "plot_prediction_histograms",
    "plot_warmup",
    "pytorch_running_update",
    "running_estimates",
    "simulate_convention",
    "single_example_training",
]

#: The known distribution of the stream of mini-batches: mean 3, variance 4.
STREAM_MEAN = 3.0
STREAM_VAR = 4.0
#: Drifting stream: the mean rises by DRIFT_MEAN * (1 - exp(-t / DRIFT_MEAN_STEPS))
#: and the variance shrinks by the factor exp(-t / DRIFT_VAR_STEPS) (4 -> 1.0 at
#: t = 500), as a unit's statistics move while the weights before it learn.
DRIFT_MEAN = 2.0
DRIFT_MEAN_STEPS = 250.0
DRIFT_VAR_STEPS = 500.0 / math.log(4.0)
#: The ewma panel's readout gives the RMS error of the running averages over the
#: last RMS_TAIL_STEPS steps (all steps if there are fewer).
RMS_TAIL_STEPS = 200
#: Columns of noise drawn per step, so a stream's first m columns don't depend on
#: m (moving the batch-size slider keeps the same random numbers).
_STREAM_WIDTH = 64


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------


def _check_ema_beta(ema_beta) -> float:
    try:
        b = float(ema_beta)
    except (TypeError, ValueError):
        raise ValueError(
            f"ema_beta must be a number in [0, 1); got {ema_beta!r}."
        ) from None
    if not 0.0 <= b < 1.0:
        raise ValueError(
            f"ema_beta must be in [0, 1); got {b}. It is the weight of the old value "
            "in v = ema_beta * v + (1 - ema_beta) * theta, e.g. 0.9."
        )
    return b


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------
# The batch-of-one collapse: a figure
# --------------------------------------------------------------------------


def _fixed_layout(fig, **margins) -> None:
    """Fixed margins instead of constrained layout: a static figure is drawn
    twice by the notebook's inline backend (once to find its bounding box), and
    solving the layout each time cost as much as drawing it."""
    fig.set_layout_engine(None)
    fig.subplots_adjust(**margins)


def class_histogram(labels, n_classes: int = 10) -> np.ndarray:
    """How many times each class appears: int array of shape (n_classes,).
    labels : int array of shape (m,) with values in [0, n_classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D int array; got {labels.dtype} {labels.shape}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}).")
    return np.bincount(labels, minlength=n_classes)


def plot_prediction_histograms(y_true, pred_training, pred_inference):
    """Bar charts of the predicted classes, training mode (one example per
    batch) on the left and inference mode on the right, with the true class
    counts as black markers.

    y_true, pred_training, pred_inference : int labels, shape (m,).
    Returns ``(fig, axes, bars)`` with the two bar containers.
    """
    y_true = np.asarray(y_true)
    n_classes = int(max(10, y_true.max() + 1))
    true_counts = class_histogram(y_true, n_classes)
    classes = np.arange(n_classes)
    fig, axes = plots.subplots(1, 2, figsize=(9.6, 3.4), sharey=True)
    _fixed_layout(fig, left=0.08, right=0.99, bottom=0.15, top=0.84, wspace=0.06)
    bars = []
    for ax, pred, color, title in (
        (
            axes[0],
            pred_training,
            plots.PLAIN_COLOR,
            "Training mode, one example per batch",
        ),
        (
            axes[1],
            pred_inference,
            plots.BN_COLOR,
            "Inference mode (running statistics)",
        ),
    ):
        counts = class_histogram(np.asarray(pred), n_classes)
        acc = float(np.mean(np.asarray(pred) == y_true))
        bars.append(ax.bar(classes, counts, color=color, alpha=0.85, label="predicted"))
        ax.plot(
            classes, true_counts, "_", color="black", ms=18, mew=2, label="true count"
        )
        ax.set_xticks(classes)
        ax.set_xlabel("digit class")
        ax.set_title(f"{title}\naccuracy {100 * acc:.1f} %")
    axes[0].set_ylabel(f"number of test images (of {y_true.size})")
    # both panels: the black marks matter most on the left, where the bars miss them
    axes[0].legend(loc="upper left")
    axes[1].legend(loc="upper right")
    return fig, axes, bars


# --------------------------------------------------------------------------
# Exponentially weighted averages
# --------------------------------------------------------------------------


def ema(values, ema_beta: float, v0):
    """The course's exponentially weighted average of a stream.

    ``v_t = ema_beta * v_{t-1} + (1 - ema_beta) * theta_t`` from ``v_0 = v0``.

    Parameters
    ----------
    values : the stream theta_1 .. theta_T, shape (T,) or (T, ...) (one row
        per step).
    ema_beta : weight of the old value, in [0, 1).
    v0 : the initial value, a scalar or an array of the shape of one row.

    Returns
    -------
    v : shape of ``values``; ``v[t - 1]`` is v_t, the average after step t.
    """
    b = _check_ema_beta(ema_beta)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(
            f"values must be a stream of shape (T, ...), T >= 1; got {values.shape}."
        )
    out = np.empty_like(values)
    v = np.broadcast_to(np.asarray(v0, dtype=np.float64), values.shape[1:]).copy()
    for t in range(values.shape[0]):  # one step of time per iteration
        v = b * v + (1.0 - b) * values[t]
        out[t] = v
    return out


def bias_corrected(v, ema_beta: float, v0):
    """Remove the initial value's share from an EMA: ``(v_t - beta^t v_0) /
    (1 - beta^t)``, for t = 1 .. T.

    With ``v_0 = 0`` this is the course's ``v_t / (1 - beta^t)``. For a
    constant stream it gives the constant exactly, from the first step.

    v : EMA values v_1 .. v_T as returned by :func:`ema`, shape (T,) or (T, ...).
    Returns an array of the shape of ``v``.
    """
    b = _check_ema_beta(ema_beta)
    v = np.asarray(v, dtype=np.float64)
    t = np.arange(1, v.shape[0] + 1).reshape((-1,) + (1,) * (v.ndim - 1))
    w = b**t  # weight of v0 in v_t, shape (T, 1, ...)
    return (v - w * np.asarray(v0, dtype=np.float64)) / (1.0 - w)


def effective_window(ema_beta: float) -> float:
    """``1 / (1 - ema_beta)``: roughly how many recent steps the EMA averages
    (the course's rule of thumb: 10 for 0.9)."""
    return 1.0 / (1.0 - _check_ema_beta(ema_beta))


def bessel_factor(m: int) -> float:
    """``m / (m - 1)``, which turns the biased batch variance into an unbiased
    estimate of the population variance (2.0 at m = 2, 1.033 at m = 32)."""
    m = _check_int(m, "m", 2)
    return m / (m - 1)


@dataclass
class StatStream:
    """A stream of ``T`` mini-batches of one unit.

    Attributes
    ----------
    batches : shape (T, m), row t-1 is mini-batch t.
    true_mean, true_var : the distribution each batch is drawn from, (T,).
    """

    batches: np.ndarray
    true_mean: np.ndarray
    true_var: np.ndarray

    @property
    def m(self) -> int:
        """Examples per mini-batch."""
        return int(self.batches.shape[1])

    @property
    def mu_B(self) -> np.ndarray:
        """Each batch's mean, shape (T,)."""
        return self.batches.mean(axis=1)

    @property
    def var_B(self) -> np.ndarray:
        """Each batch's biased variance (divides by m), shape (T,)."""
        return self.batches.var(axis=1)


def make_stream(
    steps: int = 500,
    m: int = 16,
    mean: float = STREAM_MEAN,
    var: float = STREAM_VAR,
    drift: bool = False,
    seed: int = 0,
) -> StatStream:
    """Mini-batches of one unit drawn from N(mean_t, var_t).

    Without drift, ``mean_t = mean`` and ``var_t = var``. With drift, ``mean_t
    = mean + DRIFT_MEAN (1 - exp(-t / DRIFT_MEAN_STEPS))`` and ``var_t = var
    exp(-t / DRIFT_VAR_STEPS)`` (3 -> 4.7 and 4 -> 1 over 500 steps): what a
    unit's statistics do while the weights before it keep learning.

    The first m columns of the noise do not depend on m (for m <= 64), so the
    same seed with a larger m adds examples to the same batches.

    Returns a :class:`StatStream` with ``batches`` of shape (steps, m).
    """
    steps = _check_int(steps, "steps", 1)
    m = _check_int(m, "m", 2)
    if not var > 0:
        raise ValueError(f"var must be positive; got {var}.")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((steps, max(m, _STREAM_WIDTH)))[:, :m]
    t = np.arange(1, steps + 1, dtype=np.float64)
    if drift:
        true_mean = mean + DRIFT_MEAN * (1.0 - np.exp(-t / DRIFT_MEAN_STEPS))
        true_var = var * np.exp(-t / DRIFT_VAR_STEPS)
    else:
        true_mean = np.full(steps, float(mean))
        true_var = np.full(steps, float(var))
    batches = true_mean[:, None] + np.sqrt(true_var)[:, None] * noise
    return StatStream(batches, true_mean, true_var)


def running_estimates(
    stream: StatStream, ema_beta: float, unbiased: bool = True
) -> dict:
    """Running mean and variance of a stream, as BatchNorm keeps them, and
    their bias-corrected versions.

    The mean starts at 0 and the variance at 1 (the package's and PyTorch's
    initial values); the variance fed in is ``m / (m - 1) * var_B`` when
    ``unbiased`` (the package's convention), else ``var_B``.

    Returns a dict of arrays of shape (T,): ``"mean"``, ``"var"`` (the EMAs
    after each step) and ``"mean_hat"``, ``"var_hat"`` (bias-corrected).
    """
    fed = stream.var_B * (bessel_factor(stream.m) if unbiased else 1.0)
    mean = ema(stream.mu_B, ema_beta, 0.0)
    var = ema(fed, ema_beta, 1.0)
    return {
        "mean": mean,
        "var": var,
        "mean_hat": bias_corrected(mean, ema_beta, 0.0),
        "var_hat": bias_corrected(var, ema_beta, 1.0),
    }


def _limits(*arrays, pad: float = 0.08):
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    span = max(hi - lo, 1e-3)
    return lo - pad * span, hi + pad * span


def ewma_panel(seed: int = 0) -> widgets.Panel:
    """Running estimates of a unit's mean and variance against the truth.

    Controls: ``"ema_beta"`` (0.5 .. 0.999), ``"steps"`` (1 .. 500), ``"m"``
    (examples per mini-batch, 2 .. 64) and ``"population"`` (``"fixed"``: mean
    3, variance 4; ``"drifting"``: see :func:`make_stream`). Left: batch means,
    the running mean (from 0), its bias-corrected version and the true mean.
    Right: the same for the variance (running value from 1, fed the unbiased
    batch variance). The shaded band is the last ``1 / (1 - ema_beta)`` steps.
    Readout: each estimate's error at the last step, the initial values'
    weight ``ema_beta^t``, and the RMS error and range of the running mean and
    variance over the last :data:`RMS_TAIL_STEPS` steps (all, if fewer).

    ``panel.artists`` maps names (``"mean_ema"``, ``"var_hat"``, ...) to
    artists; ``panel.last`` holds the last update's numbers, for tests
    (``"rms"``: key -> (RMS error, min, max) over the last ``"n_tail"`` steps).
    """
    fig, (ax_m, ax_v) = plots.panel_figure(1, 2, figsize=(10.0, 4.3))
    c = plots.OKABE_ITO
    art = {}
    for key, ax in (("mean", ax_m), ("var", ax_v)):
        (art[f"{key}_batch"],) = ax.plot(
            [],
            [],
            "o",
            ms=2.5,
            color="#999999",
            alpha=0.6,
            label="each mini-batch's μ_B (left) and m/(m−1)·σ²_B (right)",
        )
        (art[f"{key}_true"],) = ax.plot(
            [], [], "--", color=c["black"], lw=1.4, label="true (population) value"
        )
        (art[f"{key}_ema"],) = ax.plot(
            [],
            [],
            "-",
            color=plots.BN_COLOR,
            lw=2.2,
            marker="o",
            markevery=[-1],
            label="running average (EMA)",
        )
        (art[f"{key}_hat"],) = ax.plot(
            [],
            [],
            "-",
            color=c["green"],
            lw=1.6,
            marker="o",
            markevery=[-1],
            label="bias-corrected EMA",
        )
        rect = Rectangle(
            (0, 0),
            1,
            1,
            transform=ax.get_xaxis_transform(),
            color=c["orange"],
            alpha=0.15,
            lw=0,
            label="last 1/(1−β) steps (effective window)",
        )
        ax.add_patch(rect)
        art[f"{key}_window"] = rect
        ax.set_xlabel("training step t (mini-batches seen)")
    ax_m.set_ylabel("estimate of the unit's mean")
    ax_v.set_ylabel("estimate of the unit's variance")
    ax_m.set_title("Running mean (starts at 0)")
    ax_v.set_title("Running variance (starts at 1; fed m/(m−1)·σ²_B)")
    handles = [
        art[k]
        for k in ("mean_batch", "mean_true", "mean_ema", "mean_hat", "mean_window")
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3)
    panel_last: dict = {}

    def update(ema_beta, steps, m, population):
        b = _check_ema_beta(ema_beta)
        T = _check_int(steps, "steps", 1)
        stream = make_stream(T, int(m), drift=population == "drifting", seed=seed)
        est = running_estimates(stream, b, unbiased=True)
        t = np.arange(0, T + 1)
        window = effective_window(b)
        # At t = 0 both streams (fixed and drifting) have mean 3 and variance 4.
        for key, batch, true, true0, v0 in (
            ("mean", stream.mu_B, stream.true_mean, STREAM_MEAN, 0.0),
            (
                "var",
                stream.var_B * bessel_factor(stream.m),
                stream.true_var,
                STREAM_VAR,
                1.0,
            ),
        ):
            ax = ax_m if key == "mean" else ax_v
            ema_line = np.r_[v0, est[key]]
            art[f"{key}_batch"].set_data(t[1:], batch)
            art[f"{key}_true"].set_data(t, np.r_[true0, true])
            art[f"{key}_ema"].set_data(t, ema_line)
            art[f"{key}_hat"].set_data(t[1:], est[f"{key}_hat"])
            lo_b, hi_b = np.quantile(batch, [0.03, 0.97])
            ax.set_ylim(*_limits(ema_line, est[f"{key}_hat"], true, [lo_b, hi_b]))
            ax.set_xlim(0, max(T, 5))
            rect = art[f"{key}_window"]
            rect.set_x(max(0.0, T - window))
            rect.set_width(min(window, T))
        w_init = b**T
        # round first: 1 / (1 - 0.9) is 10.000000000000002 in floating point
        n_recent = min(math.ceil(round(window, 9)), T)
        share = 1.0 - b**n_recent
        err = {
            "mean": est["mean"][-1] - stream.true_mean[-1],
            "mean_hat": est["mean_hat"][-1] - stream.true_mean[-1],
            "var": est["var"][-1] - stream.true_var[-1],
            "var_hat": est["var_hat"][-1] - stream.true_var[-1],
        }
        # RMS error and range of the raw running averages over the recent steps
        n_tail = min(RMS_TAIL_STEPS, T)
        recent = {}
        for key in ("mean", "var"):
            tail = est[key][-n_tail:]
            true_key = "true_mean" if key == "mean" else "true_var"
            e = tail - getattr(stream, true_key)[-n_tail:]
            recent[key] = (
                float(np.sqrt(np.mean(e**2))),
                float(tail.min()),
                float(tail.max()),
            )
        panel_last.clear()
        panel_last.update(
            err=err,
            w_init=w_init,
            window=window,
            est=est,
            stream=stream,
            rms=recent,
            n_tail=n_tail,
        )
        return (
            f"β = {b:.3f}: effective window 1/(1−β) = <b>{window:.0f}</b> steps "
            f"(the last {n_recent} carry {100 * share:.0f} % of the weight); initial "
            "values still "
            f"weigh β<sup>t</sup> = <b>{w_init:.3f}</b> at t = {T}.<br>"
            f"At step {T}: true mean {stream.true_mean[-1]:.2f}, running mean "
            f"{est['mean'][-1]:.2f} (error <b>{err['mean']:+.2f}</b>), bias-corrected "
            f"{est['mean_hat'][-1]:.2f} (error <b>{err['mean_hat']:+.2f}</b>).<br>"
            f"True variance {stream.true_var[-1]:.2f}, running variance "
            f"{est['var'][-1]:.2f} (error <b>{err['var']:+.2f}</b>), bias-corrected "
            f"{est['var_hat'][-1]:.2f} (error <b>{err['var_hat']:+.2f}</b>).<br>"
            f"Over the last {n_tail} steps (t = {T - n_tail + 1}–{T}): running mean "
            f"RMS error <b>{recent['mean'][0]:.2f}</b> (between "
            f"{recent['mean'][1]:.2f} and {recent['mean'][2]:.2f}), running variance "
            f"RMS error <b>{recent['var'][0]:.2f}</b> (between "
            f"{recent['var'][1]:.2f} and {recent['var'][2]:.2f})."
        )

    controls = {
        "ema_beta": widgets.float_slider(
            "ema_beta (weight of the old value)",
            0.9,
            0.5,
            0.999,
            0.001,
            readout_format=".3f",
        ),
        "steps": widgets.int_slider("training steps t", 100, 1, 500),
        "m": widgets.int_slider("m: examples per mini-batch", 16, 2, 64),
        "population": ipw.Dropdown(
            options=[
                ("fixed: mean 3, variance 4", "fixed"),
                ("drifting: the weights before the unit keep learning", "drifting"),
            ],
            value="fixed",
            description="population",
            style={"description_width": "initial"},
            layout=ipw.Layout(width="420px"),
        ),
    }
    panel = widgets.Panel(
        controls, fig, update, title="Running averages of μ and σ² vs the truth"
    )
    panel.artists = art
    panel.last = panel_last
    return panel


# --------------------------------------------------------------------------
# Running averages vs population statistics early in training: a figure
# --------------------------------------------------------------------------


def plot_warmup(steps, accuracies: dict):
    """Test accuracy against training steps (log scale), one line per estimate
    of the Batch Norm statistics.

    Parameters
    ----------
    steps : the checkpoints, shape (K,), positive.
    accuracies : label -> test accuracies in [0, 1] at the checkpoints, (K,)
        each. Labels containing ``"corrected"`` are drawn dashed in the colour
        of the line before them; a label containing ``"population"`` is drawn
        in green with square markers.

    Returns ``(fig, ax, lines)`` with one Line2D per label, in order.
    """
    steps = np.asarray(steps)
    if steps.ndim != 1 or steps.size == 0 or np.any(steps <= 0):
        raise ValueError(
            f"steps must be positive checkpoints, shape (K,); got {steps}."
        )
    fig, ax = plots.subplots(figsize=(7.6, 4.0))
    _fixed_layout(fig, left=0.09, right=0.98, bottom=0.13, top=0.92)
    palette = iter(
        [plots.BN_COLOR, plots.OKABE_ITO["orange"], plots.OKABE_ITO["purple"]]
    )
    color = plots.BN_COLOR
    lines = []
    for label, acc in accuracies.items():
        acc = np.asarray(acc, dtype=float)
        if acc.shape != steps.shape:
            raise ValueError(
                f"accuracies[{label!r}] has shape {acc.shape}; expected {steps.shape}."
            )
        style = {"marker": "o", "ls": "-"}
        if "population" in label:
            style = {"marker": "s", "ls": "-", "color": plots.OKABE_ITO["green"]}
        elif "corrected" in label:
            style = {"marker": "^", "ls": "--", "color": color}
        else:
            color = next(palette, plots.OKABE_ITO["black"])
            style["color"] = color
        lines.append(plots.line(steps, 100 * acc, ax=ax, label=label, lw=1.8, **style))
    ax.set_xscale("log")
    ax.set_xticks(steps, [str(int(s)) for s in steps])
    ax.minorticks_off()
    ax.set_ylim(0, 100)
    ax.set_xlabel("training steps (log scale)")
    ax.set_ylabel("test accuracy, inference mode (%)")
    ax.set_title("Early in training the raw running averages still remember 0 and 1")
    ax.legend(loc="lower right")
    return fig, ax, lines


# --------------------------------------------------------------------------
# Framework conventions, simulated with numpy
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Convention:
    """How one library keeps Batch Norm's running statistics.

    ema_beta_of_momentum: ``"1 - p"`` (PyTorch) or ``"p"`` (Keras, CS231n):
    how the library's ``momentum`` maps to the course's ``ema_beta``.
    """

    name: str
    update: str
    default_momentum: float
    ema_beta_of_momentum: str
    var_fed: str
    eps: float
    init_mean: float
    init_var: float

    def ema_beta(self, momentum: float | None = None) -> float:
        """The course's ema_beta for this library's ``momentum`` (default: its own)."""
        p = self.default_momentum if momentum is None else float(momentum)
        return 1.0 - p if self.ema_beta_of_momentum == "1 - p" else p


#: The conventions of reference.md's table, typed in from the libraries' documentation
#: (Keras: Keras 3). "bnutils" is this package.
CONVENTIONS = {
    "PyTorch": Convention(
        "PyTorch BatchNorm1d",
        "r = (1 - p) r + p x",
        0.1,
        "1 - p",
        "unbiased",
        1e-5,
        0.0,
        1.0,
    ),
    "Keras": Convention(
        "Keras 3 BatchNormalization",
        "r = mom r + (1 - mom) x",
        0.99,
        "p",
        "biased",
        1e-3,
        0.0,
        1.0,
    ),
    "CS231n": Convention(
        "CS231n assignment",
        "r = mom r + (1 - mom) x",
        0.9,
        "p",
        "biased",
        1e-5,
        0.0,
        0.0,
    ),
    "bnutils": Convention(
        "bnutils.BatchNorm", "r = β r + (1 - β) x", 0.9, "p", "unbiased", 1e-5, 0.0, 1.0
    ),
}


def _batch_stats(Z):
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"Z must have shape (n_l, m); got {Z.shape}.")
    mu = Z.mean(axis=1, keepdims=True)
    var = np.mean((Z - mu) ** 2, axis=1, keepdims=True)
    return Z, mu, var


def pytorch_running_update(running_mean, running_var, Z, momentum: float = 0.1):
    """PyTorch's rule: ``r = (1 - p) r + p x`` with the *unbiased* batch variance.

    running_mean, running_var : shape (n_l, 1). Z : one mini-batch, (n_l, m).
    Returns the new ``(running_mean, running_var)``. A batch of one raises
    ValueError, as PyTorch does in training mode.
    """
    Z, mu, var = _batch_stats(Z)
    m = Z.shape[1]
    if m < 2:
        raise ValueError(
            "Expected more than 1 value per channel when training, got input size "
            f"({m}, {Z.shape[0]})  [PyTorch's error, simulated]"
        )
    p = float(momentum)
    unbiased = var * m / (m - 1)
    return (1 - p) * running_mean + p * mu, (1 - p) * running_var + p * unbiased


def keras_running_update(running_mean, running_var, Z, momentum: float = 0.99):
    """Keras 3's rule: ``r = mom r + (1 - mom) x`` with the *biased* batch variance
    (older tf.keras fed m/(m-1) sigma_B^2 in its fused kernel, used for conv layers).

    running_mean, running_var : (n_l, 1). Z : (n_l, m). Returns the new pair.
    """
    _, mu, var = _batch_stats(Z)
    mom = float(momentum)
    return mom * running_mean + (1 - mom) * mu, mom * running_var + (1 - mom) * var


def cs231n_running_update(running_mean, running_var, Z, momentum: float = 0.9):
    """CS231n's rule: Keras's formula (biased variance) with ``momentum = 0.9``
    (its running statistics start at 0 and 0). Shapes as in
    :func:`keras_running_update`."""
    return keras_running_update(running_mean, running_var, Z, momentum)


_UPDATES = {
    "PyTorch": pytorch_running_update,
    "Keras": keras_running_update,
    "CS231n": cs231n_running_update,
}


def simulate_convention(batches, name: str, momentum: float | None = None):
    """Feed a stream of mini-batches to one library's running-statistics rule.

    Parameters
    ----------
    batches : shape (T, n_l, m): T mini-batches in the course's layout.
    name : ``"PyTorch"``, ``"Keras"`` or ``"CS231n"``.
    momentum : the library's ``momentum`` (default: its own default).

    Returns
    -------
    (means, vars) : running statistics after each step, shape (T, n_l) each,
    starting from the library's initial values.
    """
    if name not in _UPDATES:
        raise ValueError(f"name must be one of {sorted(_UPDATES)}; got {name!r}.")
    batches = np.asarray(batches, dtype=np.float64)
    if batches.ndim != 3:
        raise ValueError(f"batches must have shape (T, n_l, m); got {batches.shape}.")
    conv = CONVENTIONS[name]
    p = conv.default_momentum if momentum is None else float(momentum)
    T, n_l, _ = batches.shape
    rm = np.full((n_l, 1), conv.init_mean)
    rv = np.full((n_l, 1), conv.init_var)
    means, variances = np.empty((T, n_l)), np.empty((T, n_l))
    for t in range(T):  # one step of time per iteration
        rm, rv = _UPDATES[name](rm, rv, batches[t], p)
        means[t], variances[t] = rm[:, 0], rv[:, 0]
    return means, variances


def single_example_training(name: str, z, gamma, beta):
    """What a library's BN layer outputs in training mode for a batch of one.

    z : one example, shape (n_l, 1). gamma, beta : shape (n_l, 1).
    PyTorch and bnutils raise ValueError; Keras and CS231n normalize the
    example with its own statistics (variance 0), which gives exactly
    ``beta`` (CS231n's beta starts at 0: all zeros). Returns shape (n_l, 1).
    """
    if name not in CONVENTIONS:
        raise ValueError(f"name must be one of {sorted(CONVENTIONS)}; got {name!r}.")
    z = np.asarray(z, dtype=np.float64)
    if name == "bnutils":
        bn = BatchNorm(z.shape[0])
        bn.gamma, bn.beta = np.asarray(gamma, float), np.asarray(beta, float)
        return bn.forward(z, training=True)
    if name == "PyTorch":
        pytorch_running_update(np.zeros_like(gamma), np.ones_like(gamma), z)
    z, mu, var = _batch_stats(z)
    return gamma * (z - mu) / np.sqrt(var + CONVENTIONS[name].eps) + beta


def _momentum_text(name: str) -> str:
    conv = CONVENTIONS[name]
    if name == "bnutils":
        return f"ema_beta = {conv.ema_beta():g}"
    return f"momentum {conv.default_momentum:g} → ema_beta {conv.ema_beta():g}"


def _fmt(x) -> str:
    return f"{float(x):.3f}"


def conventions_rows(steps: int = 30, m: int = 8, seed: int = 0) -> list[dict]:
    """The conventions table, with computed rows.

    A stream of ``steps`` mini-batches of ``m`` examples of one unit from
    N(3, 4) goes through each library's rule with its default momentum (and
    through :class:`bnutils.layers.BatchNorm`); a single example goes through
    each library's training mode.

    Returns a list of dicts, one per row: ``{"": what, "PyTorch": ...,
    "Keras": ..., "CS231n": ..., "bnutils": ...}`` (strings).
    """
    stream = make_stream(steps, m, seed=seed)
    batches = stream.batches[:, None, :]  # (T, 1, m)
    final = {}
    for name in ("PyTorch", "Keras", "CS231n"):
        means, variances = simulate_convention(batches, name)
        final[name] = (means[-1, 0], variances[-1, 0])
    bn = BatchNorm(1, ema_beta=CONVENTIONS["bnutils"].ema_beta())
    for t in range(steps):
        bn.forward(batches[t], training=True)
    final["bnutils"] = (bn.running_mean[0, 0], bn.running_var[0, 0])
    z1 = np.array([[2.5]])
    gamma, beta = np.array([[1.5]]), np.array([[0.7]])
    single = {}
    for name in CONVENTIONS:
        try:
            out = single_example_training(name, z1, gamma, beta)
            single[name] = f"outputs {_fmt(out[0, 0])} = β: the input is lost"
        except ValueError as err:
            first = str(err).split(".")[0]
            cut = first if len(first) <= 64 else first[:64].rsplit(" ", 1)[0] + " …"
            # PyTorch is not installed: its message is this module's copy of it
            label = (
                "ValueError (message simulated)" if name == "PyTorch" else "ValueError"
            )
            single[name] = f"{label}: {cut}"
    names = list(CONVENTIONS)
    rows = [
        {"": "running update", **{n: CONVENTIONS[n].update for n in names}},
        {"": "default momentum → ema_beta", **{n: _momentum_text(n) for n in names}},
        {
            "": "variance fed to the running average",
            **{n: CONVENTIONS[n].var_fed for n in names},
        },
        {"": "eps", **{n: f"{CONVENTIONS[n].eps:g}" for n in names}},
        {
            "": "initial running mean / var",
            **{
                n: f"{CONVENTIONS[n].init_mean:g} / {CONVENTIONS[n].init_var:g}"
                for n in names
            },
        },
        {
            "": f"simulated: running mean after {steps} batches (true 3)",
            **{n: _fmt(final[n][0]) for n in names},
        },
        {
            "": f"simulated: running var after {steps} batches (true 4)",
            **{n: _fmt(final[n][1]) for n in names},
        },
        {
            "": "simulated: training mode, batch of one (z = 2.5, γ = 1.5, β = 0.7)",
            **single,
        },
    ]
    return rows


#: Column headers of the HTML table: the Keras facts are those of Keras 3
#: (standalone Keras 2.1.3-2.x and tf.keras's fused kernel fed m/(m-1) sigma_B^2).
HEADERS = {"Keras": "Keras 3"}


def conventions_html(rows: list[dict] | None = None) -> str:
    """:func:`conventions_rows` as an HTML table (column names from :data:`HEADERS`)."""
    rows = conventions_rows() if rows is None else rows
    cols = list(rows[0])
    head = "".join(
        f"<th style='text-align:left'>{html.escape(HEADERS.get(c, c))}</th>"
        for c in cols
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='text-align:left'>{'<b>' if j == 0 else ''}"
            f"{html.escape(str(r[c]))}{'</b>' if j == 0 else ''}</td>"
            for j, c in enumerate(cols)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _momentum_lines(stream: StatStream, p: float):
    """Running means of a stream under both readings of a momentum ``p``:
    PyTorch's (ema_beta = 1 - p) and Keras's (ema_beta = p). Each (T,)."""
    return ema(stream.mu_B, 1.0 - p, 0.0), ema(stream.mu_B, p, 0.0)


def _draw_momentum(ax, stream: StatStream, p: float) -> dict:
    t = np.arange(1, stream.batches.shape[0] + 1)
    torch_line, keras_line = _momentum_lines(stream, p)
    art = {}
    (art["batch"],) = ax.plot(
        t,
        stream.mu_B,
        "o",
        ms=2.5,
        color="#999999",
        alpha=0.7,
        label=f"each mini-batch's mean (m = {stream.m})",
    )
    (art["true"],) = ax.plot(
        t, stream.true_mean, "--", color="black", lw=1.4, label="true mean 3"
    )
    (art["torch"],) = ax.plot(
        t,
        torch_line,
        color=plots.BN_COLOR,
        lw=2.2,
        label=f"PyTorch reading: ema_beta = 1 − p = {1 - p:.2f}",
    )
    (art["keras"],) = ax.plot(
        t,
        keras_line,
        color=plots.PLAIN_COLOR,
        lw=1.5,
        label=f"Keras reading: ema_beta = p = {p:.2f}",
    )
    ax.set_xlabel("training step t")
    ax.set_ylabel("running mean of the unit")
    ax.set_ylim(_limits(stream.mu_B, [0.0]))
    ax.set_xlim(0, t[-1])
    return art


def _tail_rms(line, truth, n_tail: int = 100) -> float:
    return float(np.sqrt(np.mean((line[-n_tail:] - truth[-n_tail:]) ** 2)))


def plot_momentum_confusion(
    p: float = 0.1, steps: int = 300, m: int = 16, seed: int = 1
):
    """The same number ``p`` read as PyTorch's momentum (ema_beta = 1 - p) and
    as Keras's (ema_beta = p): running means of one stream from N(3, 4).

    Returns ``(fig, ax, artists, rms)`` where ``rms`` maps ``"torch"`` and
    ``"keras"`` to the root-mean-square error of each running mean against
    the true mean over the last 100 steps.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1); got {p}.")
    stream = make_stream(steps, m, seed=seed)
    fig, ax = plots.subplots(figsize=(8.0, 3.8))
    _fixed_layout(fig, left=0.09, right=0.98, bottom=0.13, top=0.91)
    art = _draw_momentum(ax, stream, p)
    ax.set_title(
        f"momentum = {p:g}: PyTorch averages ~{1 / p:.0f} batches, "
        f"the flipped reading ~{1 / (1 - p):.1f}"
    )
    ax.legend(loc="lower right", ncols=2)
    torch_line, keras_line = _momentum_lines(stream, p)
    rms = {
        "torch": _tail_rms(torch_line, stream.true_mean),
        "keras": _tail_rms(keras_line, stream.true_mean),
    }
    return fig, ax, art, rms


def momentum_panel(steps: int = 300, m: int = 16, seed: int = 1) -> widgets.Panel:
    """A slider for the number ``p`` typed as "momentum"; the running mean of a
    stream from N(3, 4) under PyTorch's reading (ema_beta = 1 - p) and Keras's
    (ema_beta = p). Readout: effective windows and the RMS error of each over
    the last 100 steps.

    Control ``"p"`` (0.01 .. 0.99). ``panel.artists`` has the lines ``"torch"``
    and ``"keras"``; ``panel.last`` the last RMS errors.
    """
    stream = make_stream(steps, m, seed=seed)
    fig, ax = plots.panel_figure(figsize=(9.0, 4.0))
    art = _draw_momentum(ax, stream, 0.1)
    ax.set_title("One number, two libraries: which way does “momentum” point?")
    fig.legend(handles=list(art.values()), loc="outside lower center", ncols=2)
    last: dict = {}

    def update(p):
        p = float(p)
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in (0, 1); got {p}.")
        t = np.arange(1, steps + 1)
        torch_line, keras_line = _momentum_lines(stream, p)
        art["torch"].set_data(t, torch_line)
        art["keras"].set_data(t, keras_line)
        art["torch"].set_label(f"PyTorch reading: ema_beta = 1 − p = {1 - p:.2f}")
        art["keras"].set_label(f"Keras reading: ema_beta = p = {p:.2f}")
        fig.legends[0].get_texts()[2].set_text(art["torch"].get_label())
        fig.legends[0].get_texts()[3].set_text(art["keras"].get_label())
        rms_t = _tail_rms(torch_line, stream.true_mean)
        rms_k = _tail_rms(keras_line, stream.true_mean)
        last.update(torch=rms_t, keras=rms_k)
        return (
            f"p = {p:.2f}. PyTorch reading: ema_beta = {1 - p:.2f}, window "
            f"1/(1−β) = {1 / p:.1f} steps, RMS error over the last 100 steps "
            f"<b>{rms_t:.3f}</b>.<br>Keras reading: ema_beta = {p:.2f}, window "
            f"{1 / (1 - p):.1f} steps, RMS error <b>{rms_k:.3f}</b>. "
            f"(A single batch mean is typically off by σ/√m = {2 / math.sqrt(m):.2f}.)"
        )

    controls = {
        "p": widgets.float_slider(
            "momentum p (the number you typed)", 0.1, 0.01, 0.99, 0.01
        )
    }
    panel = widgets.Panel(
        controls, fig, update, title="PyTorch's momentum vs Keras's momentum"
    )
    panel.artists = art
    panel.last = last
    return panel
