"""Notebook 07, Batch Norm in practice: real digits, robustness, diagnostics.

What the notebook computes and shows (tested in ``tests/test_demos_practice.py``):

* :class:`RunConfig`, :func:`practice_data`, :func:`run` and :func:`compare`:
  the same network (784 -> 100 -> 100 -> 100 -> 10), data, initial weights,
  optimizer and mini-batches, trained once without and once with Batch Norm
  on the shipped MNIST digits; :func:`steps_to_target` measures how many steps
  each needs to reach a target test accuracy; :func:`plot_comparison`.
* :func:`lr_sweep` and :func:`init_scale_sweep` (both built on :func:`sweep`):
  final test accuracy of both networks over a range of learning rates or of
  initial weight scales (Ioffe & Szegedy 2015, section 3.3; the CS231n
  weight-scale experiment); :func:`plot_sweep`, :func:`sweep_rows`.
* Karpathy-style diagnostics, per hidden layer: :func:`diagnose` trains both
  networks with :func:`bnutils.train.train`'s ``record_diagnostics`` (the
  update-to-data ratio over training) and takes a :func:`layer_snapshot`
  after training (inputs and outputs of the activation, the gradients
  ``dL/dA[l]`` and ``dL/dZt[l]``, the saturated share);
  :func:`diagnostics_rows`, :func:`plot_diagnostics`.
* The exercise: :func:`saturation_share` (reference solution) and its checker
  :func:`check_saturation_share`; :func:`update_to_data_ratio`.
* :func:`training_lab`: a :class:`bnutils.widgets.TrainPanel` to train the
  network with any setting and read its curves and diagnostics.
* :func:`layer_norm` and :func:`batch_dependence`: Layer Norm normalizes each
  example over its own units, so an example's output does not depend on the
  batch it comes in; Batch Norm's does.

Layout: arrays are (units, examples) = ``(n_l, m)``; labels are int arrays of
shape ``(m,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import ipywidgets as ipw
import numpy as np

# The exercise's checker lives in bnutils.checks; re-exported for the notebook.
from bnutils.checks.saturation import check_saturation_share
from bnutils.data import load_mnist
from bnutils.layers import batchnorm_backward, batchnorm_forward
from bnutils.network import ACTIVATIONS, Network
from bnutils.optim import make_optimizer
from bnutils.plots import BN_COLOR, OKABE_ITO, PLAIN_COLOR, panel_figure, subplots
from bnutils.solutions import saturation_share
from bnutils.train import History, train
from bnutils.widgets import Progress, TrainPanel, int_slider, log_slider

__all__ = [
    "CHANCE",
    "COMPARE_CONFIG",
    "DIAGNOSTICS_CONFIG",
    "FULL_CONFIG",
    "LAB_BATCH_SIZES",
    "LAB_MAX_EXAMPLES",
    "LAYER_COLORS",
    "NOTEBOOK_CONFIG",
    "NOTEBOOK_INIT_SCALES",
    "NOTEBOOK_LRS",
    "RATIO_REFERENCE",
    "Diagnosis",
    "Run",
    "RunConfig",
    "SweepResult",
    "activation_gradients",
    "batch_dependence",
    "build_network",
    "check_saturation_share",
    "compare",
    "describe_steps",
    "diagnose",
    "diagnostics_rows",
    "init_scale_sweep",
    "layer_norm",
    "layer_snapshot",
    "lr_sweep",
    "plot_comparison",
    "plot_diagnostics",
    "plot_sweep",
    "practice_data",
    "run",
    "saturation_share",
    "steps_to_target",
    "sweep",
    "sweep_rows",
    "target_rows",
    "training_lab",
    "update_to_data_ratio",
]

#: Accuracy of guessing among the 10 digits.
CHANCE = 0.1
#: Karpathy's rule of thumb: log10(std(update) / std(param)) near -3 is healthy.
RATIO_REFERENCE = -3.0
#: Colours of hidden layers 1, 2, 3 and of the output layer (blue and
#: vermillion stay reserved for "with" and "without" Batch Norm).
LAYER_COLORS = (
    OKABE_ITO["green"],
    OKABE_ITO["orange"],
    OKABE_ITO["purple"],
    OKABE_ITO["black"],
)

_LABELS = {"plain": "without BN", "bn": "with BN"}
_COLORS = {"plain": PLAIN_COLOR, "bn": BN_COLOR}
_MARKERS = {"plain": "o", "bn": "s"}
_N_PIXELS = 784
_N_CLASSES = 10


# ----------------------------------------------------------------------------
# Runs: one configuration, trained with or without Batch Norm
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run except Batch Norm on/off.

    Attributes
    ----------
    hidden : sizes of the hidden layers; the network is
        ``784 -> hidden... -> 10``.
    activation : ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
    optimizer : ``"gd"``, ``"momentum"``, ``"rmsprop"`` or ``"adam"`` (its own
        decay rates at their defaults).
    lr : learning rate.
    weight_scale : standard deviation of the initial weights ``N(0, s^2)``
        (or ``"he"`` / ``"xavier"``).
    batch_size : examples per mini-batch.
    steps : optimizer steps.
    eval_every : record test accuracy every this many steps; ``None`` records
        only at step 0 and at the end (what a sweep needs).
    seed : seeds the weights and the order of the mini-batches; the plain and
        the BN network of one configuration start from the same ``W``.
    """

    hidden: tuple = (100, 100, 100)
    activation: str = "relu"
    optimizer: str = "gd"
    lr: float = 0.1
    weight_scale: float | str = 0.05
    batch_size: int = 60
    steps: int = 300
    eval_every: int | None = None
    seed: int = 0

    @property
    def layer_sizes(self) -> list[int]:
        """``[784, *hidden, 10]``."""
        return [_N_PIXELS, *(int(h) for h in self.hidden), _N_CLASSES]

    def describe(self) -> str:
        """One line, e.g. ``784-100-100-100-10 relu, gd lr 0.1, ...``."""
        sizes = "-".join(str(s) for s in self.layer_sizes)
        scale = (
            self.weight_scale
            if isinstance(self.weight_scale, str)
            else f"N(0, {self.weight_scale:g}^2)"
        )
        return (
            f"{sizes} {self.activation}, {self.optimizer} lr {self.lr:g}, "
            f"weights {scale}, batch {self.batch_size}, {self.steps} steps"
        )


#: The notebook's BN-vs-plain comparison: 800 steps, test accuracy every 40.
COMPARE_CONFIG = RunConfig(steps=800, eval_every=40)
#: The notebook's reduced setting for the sweeps (fits the time budget).
NOTEBOOK_CONFIG = RunConfig(steps=150)
#: The setting of ``scripts/sweeps.py`` (4,000 training images, longer runs).
FULL_CONFIG = RunConfig(steps=2000)
#: Learning rates of the notebook's sweep: 6 log-spaced values from 0.01 to 10.
NOTEBOOK_LRS = tuple(float(v) for v in np.geomspace(0.01, 10.0, 6))
#: Initial weight scales of the notebook's sweep: 1e-4 .. 1 (5 values).
NOTEBOOK_INIT_SCALES = tuple(float(v) for v in np.logspace(-4, 0, 5))
#: Karpathy's favourite pathology: tanh units with weights ~8x too large
#: (1/sqrt(784) = 0.036 would keep the first layer's spread near that of X).
DIAGNOSTICS_CONFIG = RunConfig(
    activation="tanh", weight_scale=0.3, steps=150, eval_every=10
)


def practice_data(n_train: int | None = None, n_test: int | None = None, seed=0):
    """MNIST digits for this notebook (:func:`bnutils.data.load_mnist`).

    Parameters
    ----------
    n_train : training images, 1..4000 (stratified, seeded subset) or None for
        all 4,000.
    n_test : test images, 1..1000, or None for all 1,000.
    seed : seeds the subsets.

    Returns ``MNISTData(X_train, y_train, X_test, y_test)``: X of shape
    (784, m) in [0, 1], y int of shape (m,).
    """
    return load_mnist(n_train=n_train, n_test=n_test, seed=seed)


@dataclass(eq=False)
class Run:
    """One trained network.

    ``net`` is the trained :class:`bnutils.network.Network`; ``history`` the
    :class:`bnutils.train.History` of its training.
    """

    config: RunConfig
    batchnorm: bool
    net: Network
    history: History

    @property
    def key(self) -> str:
        """``"bn"`` or ``"plain"``."""
        return "bn" if self.batchnorm else "plain"

    @property
    def label(self) -> str:
        """``"with BN"`` or ``"without BN"``."""
        return _LABELS[self.key]

    @property
    def final_test_acc(self) -> float:
        """Test accuracy at the end of training (NaN if the run diverged)."""
        return float(self.history.test_acc[-1])

    @property
    def final_loss(self) -> float:
        """Mean mini-batch loss of the last (up to) 20 steps (NaN if diverged)."""
        loss = np.asarray(self.history.step_loss, dtype=float)
        if self.history.diverged or loss.size == 0:
            return math.nan
        return float(np.mean(loss[-20:]))

    def loss_curve(self, window: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """The mini-batch loss, smoothed; see :func:`_smoothed_loss`."""
        return _smoothed_loss(self.history, window)


def _smoothed_loss(history: History, window: int = 20):
    """See :meth:`bnutils.train.History.smoothed_loss`."""
    return history.smoothed_loss(window)


def _unpack(data):
    if data is None:
        data = practice_data()
    try:
        X_train, y_train, X_test, y_test = data
    except (TypeError, ValueError):
        raise ValueError(
            "data must be (X_train, y_train, X_test, y_test), e.g. practice_data()."
        ) from None
    return X_train, y_train, X_test, y_test


def build_network(config: RunConfig, batchnorm: bool) -> Network:
    """The network of ``config``, with or without Batch Norm on its hidden layers."""
    return Network(
        config.layer_sizes,
        activation=config.activation,
        batchnorm=bool(batchnorm),
        weight_scale=config.weight_scale,
        seed=config.seed,
    )


def run(
    config: RunConfig,
    batchnorm: bool,
    data=None,
    *,
    record_diagnostics: bool = False,
    n_probe: int | None = None,
    callback=None,
) -> Run:
    """Train the network of ``config`` once.

    Parameters
    ----------
    config : the setting (see :class:`RunConfig`).
    batchnorm : Batch Norm on every hidden layer or not.
    data : ``(X_train, y_train, X_test, y_test)`` with X of shape (784, m);
        default :func:`practice_data`.
    record_diagnostics : also record the update-to-data ratio, saturation and
        gradient spread (see :func:`bnutils.train.train`).
    n_probe : the first ``n_probe`` test images are the probe batch whose
        activations :func:`bnutils.train.train` records (saturation, unit
        inputs); default 500 with ``record_diagnostics``, else 20 (records are
        then cheaper).
    callback : ``callback(step, history)`` after each record (progress bars).

    Returns a :class:`Run`. A diverging run stops early and is marked in its
    history (nothing is raised).
    """
    X_train, y_train, X_test, y_test = _unpack(data)
    if n_probe is None:
        n_probe = 500 if record_diagnostics else 20
    net = build_network(config, batchnorm)
    hist = train(
        net,
        make_optimizer(config.optimizer, config.lr),
        X_train,
        y_train,
        X_test,
        y_test,
        batch_size=int(config.batch_size),
        steps=int(config.steps),
        eval_every=int(config.eval_every or config.steps),
        probe=X_test[:, : int(n_probe)],
        record_diagnostics=record_diagnostics,
        seed=int(config.seed),
        progress=False,
        callback=callback,
    )
    return Run(config, bool(batchnorm), net, hist)


def compare(config: RunConfig, data=None, *, progress: bool = True) -> dict:
    """Train the network of ``config`` without, then with Batch Norm.

    Same data, initial weights, optimizer, learning rate and mini-batch order.
    One progress bar covers both runs (inside a notebook).

    Returns ``{"plain": Run, "bn": Run}``.
    """
    data = _unpack(data)
    runs = {}
    steps = int(config.steps)
    with Progress(2 * steps, "plain, then BN", enabled=progress) as bar:
        for i, (key, bn) in enumerate((("plain", False), ("bn", True))):

            def tick(step, _hist, offset=i * steps):
                bar.update(offset + step)

            runs[key] = run(config, bn, data, callback=tick)
    return runs


def steps_to_target(history: History, target: float = 0.9) -> int | None:
    """The first recorded step at which the test accuracy reached ``target``.

    Parameters
    ----------
    history : a :class:`bnutils.train.History` with a test set.
    target : accuracy in (0, 1], e.g. 0.9 for 90 %.

    Returns the step (an int, a multiple of the run's ``eval_every`` or its
    last step), or ``None`` when no record reached the target ("not reached
    within the run"). The accuracy is only measured at the record steps, so
    the answer is exact up to ``eval_every`` steps. NaN records (a diverged
    run) never count as reached.
    """
    target = float(target)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be an accuracy in (0, 1]; got {target}.")
    acc = np.asarray(history.test_acc, dtype=float)
    hit = np.flatnonzero(np.nan_to_num(acc, nan=-1.0) >= target)
    return int(history.step[hit[0]]) if hit.size else None


def describe_steps(history: History, target: float = 0.9) -> str:
    """``"reached 90% at step 80"`` or ``"not reached within 800 steps"``
    (``"... diverged at step k"`` for a run that diverged)."""
    s = steps_to_target(history, target)
    if s is not None:
        return f"reached {target:.0%} at step {s}"
    if history.diverged:
        return f"not reached: diverged at step {history.diverged_at}"
    return f"not reached within {history.steps_done} steps"


def target_rows(runs: dict, targets=(0.8, 0.85, 0.9)) -> list[dict]:
    """Steps each network needed to reach each target test accuracy.

    Parameters
    ----------
    runs : ``{"plain": Run, "bn": Run}`` from :func:`compare`.
    targets : accuracies in (0, 1].

    Returns one dict per target with keys ``"target"``, ``"without BN"``,
    ``"with BN"`` (a step, or ``"not within N"``) and ``"BN faster by"``
    (``"8.8x"``; ``"-"`` unless both reached it).
    """
    rows = []
    for t in targets:
        row: dict = {"target": f"{t:.0%}"}
        got = {}
        for key in ("plain", "bn"):
            h = runs[key].history
            got[key] = steps_to_target(h, t)
            row[_LABELS[key]] = (
                str(got[key]) if got[key] is not None else f"not within {h.steps_done}"
            )
        both = got["plain"] is not None and got["bn"] is not None and got["bn"] > 0
        row["BN faster by"] = f"{got['plain'] / got['bn']:.1f}x" if both else "-"
        rows.append(row)
    return rows


def plot_comparison(runs: dict, target: float = 0.9, axes=None) -> dict:
    """Loss and test accuracy against the step, without and with Batch Norm.

    Parameters
    ----------
    runs : ``{"plain": Run, "bn": Run}`` from :func:`compare`.
    target : the target accuracy, drawn as a dashed line; the step where each
        run first reached it is marked.
    axes : two Axes, or None for a new (10.5, 3.6) figure.

    Returns ``{"loss": {key: Line2D}, "acc": {key: Line2D}, "hits": {key:
    Line2D or None}}``.
    """
    if axes is None:
        _, axes = subplots(1, 2, figsize=(10.5, 3.6))
    ax_l, ax_a = axes
    loss_lines, acc_lines, hits = {}, {}, {}
    for key, r in runs.items():
        step, loss = r.loss_curve()
        (loss_lines[key],) = ax_l.plot(step, loss, color=_COLORS[key], label=r.label)
        h = r.history
        ok = np.isfinite(h.test_acc)
        s = steps_to_target(h, target)
        where = f"{target:.0%} at step {s}" if s is not None else "target not reached"
        (acc_lines[key],) = ax_a.plot(
            h.step[ok],
            100 * h.test_acc[ok],
            color=_COLORS[key],
            marker=_MARKERS[key],
            ms=3,
            label=f"{r.label} ({where})",
        )
        hits[key] = None
        if s is not None:
            hits[key] = ax_a.axvline(s, color=_COLORS[key], ls=":", lw=1.5)
    ax_l.set_yscale("log")
    batch = next(iter(runs.values())).config.batch_size
    ax_l.set_xlabel(f"step (mini-batch of {batch})")
    ax_l.set_ylabel("training loss (log scale)\nmean of the last 20 batches")
    ax_l.set_title("Training loss")
    ax_l.legend(loc="upper right")
    ax_a.axhline(
        100 * target, color="0.35", ls="--", lw=1, label=f"target {target:.0%}"
    )
    ax_a.axhline(100 * CHANCE, color="0.6", ls=":", lw=1, label="chance (10 %)")
    ax_a.set_ylim(0, 100)
    ax_a.set_xlabel("step")
    ax_a.set_ylabel("test accuracy (%)")
    ax_a.set_title("Test accuracy (1,000 held-out digits)")
    ax_a.legend(loc="lower right")
    return {"loss": loss_lines, "acc": acc_lines, "hits": hits}


# ----------------------------------------------------------------------------
# Sweeps: learning rate and initial weight scale
# ----------------------------------------------------------------------------


@dataclass(eq=False)
class SweepResult:
    """Final test accuracy of both networks over the values of one setting.

    Attributes
    ----------
    param : the swept field of :class:`RunConfig` (``"lr"`` or
        ``"weight_scale"``).
    values : the values tried, shape (n,).
    test_acc : ``{"plain": (n,), "bn": (n,)}`` final test accuracy (NaN for a
        diverged run).
    final_loss : same shapes: mean loss of the last 20 mini-batches (NaN if
        diverged).
    diverged : same keys, bool arrays (n,): the loss, a weight or a running
        statistic became NaN or infinite.
    diverged_at : same keys, int arrays (n,): the step it happened, -1 if not.
    config : the configuration shared by every run (``param`` varies).
    """

    param: str
    values: np.ndarray
    test_acc: dict
    final_loss: dict
    diverged: dict
    diverged_at: dict
    config: RunConfig

    def trains(self, key: str, threshold: float = 0.8) -> np.ndarray:
        """Bool (n,): where network ``key`` ended with test accuracy >= threshold."""
        return np.nan_to_num(self.test_acc[key], nan=-1.0) >= threshold

    def trained_values(self, key: str, threshold: float = 0.8) -> np.ndarray:
        """The values at which network ``key`` reached ``threshold``, shape (k,)."""
        return self.values[self.trains(key, threshold)]


def sweep(
    param: str,
    values,
    config: RunConfig = NOTEBOOK_CONFIG,
    data=None,
    *,
    progress: bool = True,
    description: str | None = None,
) -> SweepResult:
    """Train both networks at each value of one setting of :class:`RunConfig`.

    Parameters
    ----------
    param : ``"lr"`` or ``"weight_scale"``.
    values : positive numbers, shape (n,).
    config : every other setting; the same seed, so for each value the two
        networks start from the same weights and see the same mini-batches.
    data : ``(X_train, y_train, X_test, y_test)``; default :func:`practice_data`.
    progress : one progress bar for the 2n runs (inside a notebook).

    Returns a :class:`SweepResult`.
    """
    if param not in ("lr", "weight_scale"):
        raise ValueError(f"param must be 'lr' or 'weight_scale'; got {param!r}.")
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"values must be a non-empty 1-D list; got shape {values.shape}."
        )
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(
            f"every value of {param} must be a positive number; got {values}."
        )
    data = _unpack(data)
    n = values.size
    acc = {k: np.full(n, np.nan) for k in _LABELS}
    loss = {k: np.full(n, np.nan) for k in _LABELS}
    div = {k: np.zeros(n, dtype=bool) for k in _LABELS}
    div_at = {k: np.full(n, -1, dtype=np.int64) for k in _LABELS}
    steps = int(config.steps)
    description = description or f"{param} sweep"
    with Progress(2 * n * steps, description, enabled=progress) as bar:
        done = 0
        for i, value in enumerate(values):
            cfg = replace(config, **{param: float(value)})
            for key, bn in (("plain", False), ("bn", True)):

                def tick(step, _hist, offset=done):
                    bar.update(offset + step)

                r = run(cfg, bn, data, callback=tick)
                acc[key][i] = r.final_test_acc
                loss[key][i] = r.final_loss
                div[key][i] = r.history.diverged
                if r.history.diverged:
                    div_at[key][i] = r.history.diverged_at
                done += steps
                bar.update(done)
    return SweepResult(param, values, acc, loss, div, div_at, config)


def lr_sweep(
    lrs=NOTEBOOK_LRS, config: RunConfig = NOTEBOOK_CONFIG, data=None, *, progress=True
) -> SweepResult:
    """:func:`sweep` over learning rates (Ioffe & Szegedy 2015, section 3.3)."""
    return sweep("lr", lrs, config, data, progress=progress, description="lr sweep")


def init_scale_sweep(
    scales=NOTEBOOK_INIT_SCALES,
    config: RunConfig = NOTEBOOK_CONFIG,
    data=None,
    *,
    progress=True,
) -> SweepResult:
    """:func:`sweep` over the std of the initial weights (CS231n's experiment)."""
    return sweep(
        "weight_scale",
        scales,
        config,
        data,
        progress=progress,
        description="scale sweep",
    )


_PARAM_LABEL = {"lr": "learning rate", "weight_scale": "initial weight std"}


def sweep_rows(result: SweepResult) -> list[dict]:
    """One row per value: final test accuracy of both networks (strings).

    Keys: the parameter's name, ``"without BN"``, ``"with BN"``; a diverged run
    reads ``"diverged (step k)"``.
    """
    rows = []
    for i, v in enumerate(result.values):
        row = {_PARAM_LABEL[result.param]: f"{v:.3g}"}
        for key in ("plain", "bn"):
            if result.diverged[key][i]:
                row[_LABELS[key]] = f"diverged (step {result.diverged_at[key][i]})"
            else:
                row[_LABELS[key]] = f"{result.test_acc[key][i]:.1%}"
        rows.append(row)
    return rows


def plot_sweep(result: SweepResult, ax=None, mark: float | None = None) -> dict:
    """Final test accuracy against the swept value (log scale), both networks.

    Diverged runs are drawn as a large X on the chance line (10 %). ``mark``:
    a value to show as a dotted vertical line (e.g. the setting of the
    BN-vs-plain comparison).

    Returns ``{"lines": {key: Line2D}, "diverged": {key: Line2D}}``.
    """
    if ax is None:
        _, ax = subplots(figsize=(6.4, 3.8))
    lines, crosses = {}, {}
    for key in ("plain", "bn"):
        acc = 100 * result.test_acc[key]
        (lines[key],) = ax.plot(
            result.values,
            acc,
            color=_COLORS[key],
            marker=_MARKERS[key],
            lw=2,
            label=_LABELS[key],
        )
        d = result.diverged[key]
        (crosses[key],) = ax.plot(
            result.values[d],
            np.full(int(d.sum()), 100 * CHANCE),
            ls="none",
            marker="X",
            ms=11,
            color=_COLORS[key],
            label=f"{_LABELS[key]}: diverged (NaN)" if d.any() else None,
        )
    ax.axhline(100 * CHANCE, color="0.5", ls=":", lw=1, label="chance (10 %)")
    if mark is not None:
        ax.axvline(
            mark, color="0.3", ls="-.", lw=1, label=f"section 1 setting ({mark:g})"
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"{_PARAM_LABEL[result.param]} (log scale)")
    ax.set_ylabel(f"test accuracy after {result.config.steps} steps (%)")
    ax.set_title(f"Final test accuracy vs {_PARAM_LABEL[result.param]}")
    ax.legend(loc="best")
    return {"lines": lines, "diverged": crosses}


# ----------------------------------------------------------------------------
# Diagnostics (Karpathy): saturation, gradients, update-to-data ratio
# ----------------------------------------------------------------------------


def update_to_data_ratio(param_before, param_after) -> float:
    """``std(param_after - param_before) / std(param_before)``.

    Parameters
    ----------
    param_before, param_after : one parameter array (any shape, e.g. W[l] of
        shape (n_l, n_{l-1})) before and after one optimizer step.

    Returns the ratio (a float >= 0): the size of the step relative to the
    size of the values. Karpathy's rule of thumb: log10 of it near -3 (about
    a thousandth per step) is healthy; much lower learns slowly, much higher
    is unstable. NaN when ``std(param_before)`` is 0 (e.g. gamma = 1 at the
    start).
    """
    before = np.asarray(param_before, dtype=float)
    after = np.asarray(param_after, dtype=float)
    if before.shape != after.shape:
        raise ValueError(
            f"param_before and param_after must have the same shape; got "
            f"{before.shape} and {after.shape}."
        )
    sd = float(np.std(before))
    if sd == 0:
        return math.nan
    return float(np.std(after - before)) / sd


def _walk_back(net: Network, X, y) -> dict:
    """Training-mode forward (running statistics untouched) and a backward walk.

    Returns ``{"dA": {l: dL/dA[l]}, "dZt": {l: dL/dZt[l]}}`` for the hidden
    layers (``Zt`` is the input of the activation) and ``"dZ": {l: dL/dZ[l]}``
    for every layer ``1 .. L`` (pre-BN ``Z``); each array has shape (n_l, m).
    """
    net.forward(X, training=True, update_running=False)
    c, p = net.cache, net.params
    y = net.check_y(y, c["A0"].shape[1])
    m = y.shape[0]
    dZ = c[f"A{net.L}"].copy()
    dZ[y, np.arange(m)] -= 1
    dZ /= m
    out: dict = {"dA": {}, "dZt": {}, "dZ": {net.L: dZ}}
    for layer in range(net.L - 1, 0, -1):
        dA = p[f"W{layer + 1}"].T @ dZ
        A, Zt = c[f"A{layer}"], c[f"Zt{layer}"]
        if net.activation == "sigmoid":
            dZt = dA * A * (1 - A)
        elif net.activation == "tanh":
            dZt = dA * (1 - A * A)
        else:
            dZt = dA * (Zt > 0)
        if layer in net.bn_layers:
            dZ = batchnorm_backward(dZt, c["bn"][layer])[0]
        else:
            dZ = dZt
        out["dA"][layer], out["dZt"][layer], out["dZ"][layer] = dA, dZt, dZ
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def activation_gradients(net: Network, X, y) -> dict:
    """``dL/dA[l]`` of every hidden layer for one batch, in training mode.

    Parameters
    ----------
    net : a :class:`bnutils.network.Network`. Its parameters and running
        statistics do not change (``net.cache`` is overwritten).
    X : inputs, shape (n_x, m), m >= 2 with Batch Norm; y : int labels (m,).

    Returns ``{l: dA}`` for ``l = 1 .. L-1``, each of shape (n_l, m): the
    gradient of the mean cross-entropy with respect to the layer's output
    (Karpathy's "gradient distribution"). The walk back uses the network's
    cache and :func:`bnutils.layers.batchnorm_backward`; the weight gradients
    it implies, ``dZ[l] @ A[l-1].T``, equal those of ``net.backward`` (tested).
    """
    return _walk_back(net, X, y)["dA"]


def layer_snapshot(net: Network, X, y) -> dict:
    """Per hidden layer: what enters and leaves the activation, and gradients.

    Parameters
    ----------
    net : a trained network (unchanged, as in :func:`activation_gradients`).
    X : a probe batch, shape (784, m); y : its labels, shape (m,). With Batch
        Norm the batch is normalized with its own statistics, as in training.

    Returns a dict of ``{l: array (n_l, m)}`` for the hidden layers:
    ``"Zt"`` (the input of the activation), ``"A"`` (its output), ``"dA"``
    (``dL/dA[l]``) and ``"dZt"`` (``dL/dZt[l]``: the gradient that got through
    the activation; a saturated tanh or sigmoid, or an inactive ReLU, lets
    almost none through); and ``"saturation"``: ``{l: float}`` from
    :func:`saturation_share`.
    """
    grads = _walk_back(net, X, y)
    c = net.cache
    hidden = list(net.hidden_layers)
    return {
        "Zt": {h: c[f"Zt{h}"] for h in hidden},
        "A": {h: c[f"A{h}"] for h in hidden},
        "dA": grads["dA"],
        "dZt": grads["dZt"],
        "saturation": {h: saturation_share(c[f"A{h}"], net.activation) for h in hidden},
    }


@dataclass(eq=False)
class Diagnosis:
    """A :class:`Run` trained with ``record_diagnostics`` and a
    :func:`layer_snapshot` of the trained network on a probe batch."""

    run: Run
    snapshot: dict

    def log10_ratio(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(step, log10 update_ratio[key])`` over the finite records."""
        h = self.run.history
        r = np.asarray(h.update_ratio[key], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log10(r)
        ok = np.isfinite(lg)
        return h.step[ok].astype(float), lg[ok]


def diagnose(
    config: RunConfig = DIAGNOSTICS_CONFIG,
    data=None,
    *,
    n_probe: int = 500,
    progress: bool = True,
) -> dict:
    """Train both networks of ``config`` with diagnostics and look inside.

    The probe batch is the first ``n_probe`` test images.

    Returns ``{"plain": Diagnosis, "bn": Diagnosis}``.
    """
    X_train, y_train, X_test, y_test = _unpack(data)
    probe, y_probe = X_test[:, :n_probe], y_test[:n_probe]
    out = {}
    steps = int(config.steps)
    with Progress(2 * steps, "diagnostics", enabled=progress) as bar:
        for i, (key, bn) in enumerate((("plain", False), ("bn", True))):

            def tick(step, _hist, offset=i * steps):
                bar.update(offset + step)

            r = run(
                config,
                bn,
                (X_train, y_train, X_test, y_test),
                record_diagnostics=True,
                n_probe=n_probe,
                callback=tick,
            )
            snap = None
            if not r.history.diverged:
                snap = layer_snapshot(r.net, probe, y_probe)
            out[key] = Diagnosis(r, snap)
    return out


def _log_abs(values) -> np.ndarray:
    """log10 |v| of the non-zero entries, flattened (zeros have no logarithm)."""
    v = np.abs(np.ravel(values))
    return np.log10(v[v > 0])


def diagnostics_rows(diag: dict) -> list[dict]:
    """One row per hidden layer and network, after training.

    Keys (values are strings): ``"network"``, ``"hidden layer"``, ``"std of Zt"``
    (spread of the activation's input), ``"saturated"`` (for ReLU: dead
    units), ``"median |dL/dZt|"`` (the typical gradient that gets through the
    activation) and ``"log10 update ratio"`` of ``W[l]`` at the last record.
    """
    rows = []
    for key in ("plain", "bn"):
        d = diag[key]
        if d.snapshot is None:
            rows.append({"network": _LABELS[key], "hidden layer": "diverged"})
            continue
        for h in d.snapshot["Zt"]:
            _, lg = d.log10_ratio(f"W{h}")
            rows.append(
                {
                    "network": _LABELS[key],
                    "hidden layer": h,
                    "std of Zt": f"{np.std(d.snapshot['Zt'][h]):.2f}",
                    "saturated": f"{d.snapshot['saturation'][h]:.1%}",
                    "median |dL/dZt|": f"{np.median(np.abs(d.snapshot['dZt'][h])):.1e}",
                    "log10 update ratio": f"{lg[-1]:+.2f}" if lg.size else "n/a",
                }
            )
    return rows


def _shared_range(arrays, q: float = 99.5):
    """A histogram range covering the central ``q`` % of all the values."""
    v = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0)
    lo, hi = (float(x) for x in np.percentile(v, [100 - q, q]))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return (lo, hi)


def plot_diagnostics(diag: dict, axes=None) -> dict:
    """Karpathy's per-layer diagnostics, without (top row) and with BN (bottom).

    Columns, on the probe batch after training: histograms of the
    activation's input ``Zt[l]``, of its output ``A[l]`` (legend: saturated or
    dead share per layer) and of ``log10 |dL/dZt[l]|``, the size of the
    gradient that got through the activation (zeros left out); then log10 of
    the update-to-data ratio of each ``W[l]`` over training, with the -3
    reference line. Each column's range is shared by the two rows, so the
    rows can be compared; values outside it are not drawn.

    Parameters
    ----------
    diag : ``{"plain": Diagnosis, "bn": Diagnosis}`` from :func:`diagnose`.
    axes : a (2, 4) array of Axes, or None for a new (12.5, 6.0) figure.

    Returns ``{"hists": {(key, field, layer): list of Polygon}, "ratios":
    {(key, "W<l>"): Line2D}}``.
    """
    if axes is None:
        _, axes = subplots(2, 4, figsize=(12.5, 6.0))
    keys = ("plain", "bn")
    snaps = {k: diag[k].snapshot for k in keys}
    act = diag["bn"].run.config.activation
    what = "dead units" if act == "relu" else "saturated"
    columns = (
        ("Zt", "input of the activation, Z̃[l]", "z̃"),
        ("A", f"output A[l] = {act}(Z̃[l])", "a"),
        ("dZt", "gradient through it, dL/dZ̃[l]", "log10 |dL/dz̃|"),
    )

    def values(snap, field, h):
        return _log_abs(snap[field][h]) if field == "dZt" else np.ravel(snap[field][h])

    hists, ratios = {}, {}
    for col, (field, title, xlabel) in enumerate(columns):
        arrays = [
            values(snaps[k], field, h)
            for k in keys
            if snaps[k]
            for h in snaps[k][field]
        ]
        rng = _shared_range(arrays)
        if field == "A" and act in ("tanh", "sigmoid"):
            rng = (-1.0, 1.0) if act == "tanh" else (0.0, 1.0)
        for row, key in enumerate(keys):
            ax = axes[row, col]
            snap = snaps[key]
            ax.set_title(f"{_LABELS[key]}: {title}", color=_COLORS[key], fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("density")
            if snap is None:
                ax.text(0.5, 0.5, "diverged", ha="center", transform=ax.transAxes)
                continue
            for i, h in enumerate(snap[field]):
                label = f"layer {h}"
                if field == "A":
                    label += f": {snap['saturation'][h]:.0%} {what}"
                _, _, patches = ax.hist(
                    values(snap, field, h),
                    bins=50,
                    range=rng,
                    density=True,
                    histtype="step",
                    lw=1.6,
                    color=LAYER_COLORS[i % 3],
                    label=label,
                )
                hists[(key, field, h)] = patches
            ax.set_xlim(*rng)
            ax.legend(loc="upper left" if field == "dZt" else "upper right", fontsize=8)
    for row, key in enumerate(keys):
        ax = axes[row, 3]
        d = diag[key]
        names = [k for k in d.run.history.update_ratio if k.startswith("W")]
        for i, name in enumerate(names):
            step, lg = d.log10_ratio(name)
            (ratios[(key, name)],) = ax.plot(
                step, lg, color=LAYER_COLORS[min(i, 3)], lw=1.6, label=name
            )
        ax.axhline(RATIO_REFERENCE, color="0.3", ls="--", lw=1.2, label="-3 (healthy)")
        ax.set_ylim(-5.5, -0.5)
        ax.set_xlabel("step")
        ax.set_ylabel("log10(std(ΔW) / std(W))")
        ax.set_title(
            f"{_LABELS[key]}: update:data ratio", color=_COLORS[key], fontsize=10
        )
        ax.legend(loc="lower left", fontsize=8, ncols=3)
    return {"hists": hists, "ratios": ratios}


# ----------------------------------------------------------------------------
# Layer Norm: per example, whatever the batch
# ----------------------------------------------------------------------------


def layer_norm(Z, gamma=None, beta=None, eps: float = 1e-5):
    """Layer Normalization in the course's layout.

    Each example (column) is normalized over its own units: statistics over
    ``axis=0``, where Batch Norm takes them over the examples, ``axis=1``.

    Parameters
    ----------
    Z : shape (n_l, m); any m >= 1 (a batch of one example works).
    gamma, beta : scale and shift of each unit, shape (n_l, 1); default 1 and 0.
    eps : added to the variance inside the square root.

    Returns ``gamma * (Z - mu) / sqrt(var + eps) + beta``, shape (n_l, m), where
    ``mu`` and ``var`` (shape (1, m)) are each column's mean and biased variance.
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2 or Z.shape[0] < 2:
        raise ValueError(
            f"Z must have shape (n_l, m) with n_l >= 2 units; got {Z.shape}."
        )
    n_l = Z.shape[0]
    gamma = np.ones((n_l, 1)) if gamma is None else np.asarray(gamma, dtype=float)
    beta = np.zeros((n_l, 1)) if beta is None else np.asarray(beta, dtype=float)
    if gamma.shape != (n_l, 1) or beta.shape != (n_l, 1):
        raise ValueError(
            f"gamma and beta must have shape (n_l, 1) = ({n_l}, 1); got "
            f"{gamma.shape} and {beta.shape}."
        )
    mu = Z.mean(axis=0, keepdims=True)
    var = np.mean((Z - mu) ** 2, axis=0, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def batch_dependence(
    n_units: int = 6, batch_sizes=(2, 4, 16, 64), seed: int = 0
) -> dict:
    """One example ``x``, normalized inside batches of different sizes.

    ``x`` (shape (n_units, 1)) is the first column of each batch; the other
    columns are fresh random examples (seeded), with per-unit means and
    spreads that differ, like real pre-activations.

    Returns a dict with ``"batch_sizes"`` (k,), ``"bn"`` and ``"ln"``: (k,
    n_units) the normalized ``x`` in each batch (training-mode Batch Norm,
    Layer Norm), ``"ln_alone"`` (n_units,) Layer Norm of ``x`` on its own
    (a batch of one), and ``"bn_spread"`` / ``"ln_spread"``: the largest
    difference between the outputs for ``x`` across the batches.
    """
    batch_sizes = [int(b) for b in batch_sizes]
    if min(batch_sizes) < 2:
        raise ValueError("batch sizes must be >= 2 (Batch Norm needs two examples).")
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 2.0, size=(n_units, 1))
    stds = rng.uniform(0.5, 3.0, size=(n_units, 1))
    x = means + stds * rng.standard_normal((n_units, 1))
    ones, zeros = np.ones((n_units, 1)), np.zeros((n_units, 1))
    bn_out, ln_out = [], []
    for b in batch_sizes:
        others = means + stds * rng.standard_normal((n_units, b - 1))
        Z = np.concatenate([x, others], axis=1)
        bn_out.append(batchnorm_forward(Z, ones, zeros)[0][:, 0])
        ln_out.append(layer_norm(Z)[:, 0])
    bn_out, ln_out = np.array(bn_out), np.array(ln_out)
    return {
        "batch_sizes": np.array(batch_sizes),
        "x": x[:, 0],
        "bn": bn_out,
        "ln": ln_out,
        "ln_alone": layer_norm(x)[:, 0],
        "bn_spread": float(np.max(bn_out.max(axis=0) - bn_out.min(axis=0))),
        "ln_spread": float(np.max(ln_out.max(axis=0) - ln_out.min(axis=0))),
    }


# ----------------------------------------------------------------------------
# The training lab
# ----------------------------------------------------------------------------

#: Batch sizes the lab offers.
LAB_BATCH_SIZES = (2, 4, 8, 16, 32, 60, 128, 256)
#: The lab trains on at most this many examples (steps x batch size), so that
#: every run takes a few seconds.
LAB_MAX_EXAMPLES = 24_000


def _status(h: History, acc: float) -> str:
    if h.diverged:
        return (
            f"<b style='color:{PLAIN_COLOR}'>Diverged at step {h.diverged_at}</b>: the "
            "loss or the weights became NaN or infinite, so training stopped; the "
            "curves show the steps before. Try a smaller learning rate or weight "
            "scale, or switch Batch Norm on."
        )
    if not np.isfinite(acc) or acc < 2 * CHANCE:
        return (
            f"<b style='color:{PLAIN_COLOR}'>Did not learn</b>: the test accuracy "
            "stayed near chance (10 %)."
        )
    return "<b>Trained.</b>"


def training_lab(
    data=None,
    hidden=(100, 100, 100),
    seed: int = 0,
    max_examples: int = LAB_MAX_EXAMPLES,
    steps: int = 200,
) -> TrainPanel:
    """Train the network with any setting; read its curves and diagnostics.

    Controls: Batch Norm on/off, activation, optimizer, learning rate and
    initial weight std (log sliders), batch size, steps; a Train button and a
    progress bar. Steps are capped so that ``steps * batch_size <=
    max_examples`` (the readout says when).

    Figure: the mini-batch loss (smoothed), the test accuracy, and log10 of
    the update-to-data ratio of each ``W[l]`` with the -3 reference line; the
    previous run stays as a thin grey line on the first two. A diverging run
    shows the steps before it diverged (losses above 1e4 run off the top of
    the loss plot) and a message in the readout.

    Parameters
    ----------
    data : ``(X_train, y_train, X_test, y_test)``; default
        :func:`practice_data` (all 4,000 training images).
    hidden : hidden layer sizes.
    seed : seeds the weights and mini-batches of every run.
    max_examples : cap on ``steps * batch_size``.
    steps : the steps slider's first value (50 .. 600, a multiple of 50); the
        panel trains once with it on creation.

    Returns a :class:`bnutils.widgets.TrainPanel`; ``panel.artists`` holds the
    lines and ``panel.last_run`` the last :class:`Run`.
    """
    data = _unpack(data)
    hidden = tuple(int(h) for h in hidden)
    fig, (ax_l, ax_a, ax_r) = panel_figure(1, 3, figsize=(11.5, 3.5))
    (prev_loss,) = ax_l.plot([], [], color="0.6", lw=1.2, label="previous run")
    (loss_line,) = ax_l.plot([], [], color=BN_COLOR, lw=2, label="this run")
    ax_l.set_yscale("log")
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("training loss (log scale)")
    ax_l.set_title("Loss (mean of the last 10 batches)")
    ax_l.legend(loc="upper right", fontsize=8)
    (prev_acc,) = ax_a.plot([], [], color="0.6", lw=1.2, label="previous run")
    (acc_line,) = ax_a.plot(
        [], [], color=BN_COLOR, lw=2, marker="o", ms=3, label="this run"
    )
    ax_a.axhline(100 * CHANCE, color="0.5", ls=":", lw=1, label="chance")
    ax_a.set_ylim(0, 100)
    ax_a.set_xlabel("step")
    ax_a.set_ylabel("test accuracy (%)")
    ax_a.set_title("Test accuracy (1,000 digits)")
    ax_a.legend(loc="lower right", fontsize=8)
    n_w = len(hidden) + 1
    ratio_lines = {}
    for i in range(n_w):
        (ratio_lines[f"W{i + 1}"],) = ax_r.plot(
            [], [], color=LAYER_COLORS[min(i, 3)], lw=1.6, label=f"W{i + 1}"
        )
    ax_r.axhline(RATIO_REFERENCE, color="0.3", ls="--", lw=1.2, label="-3 (healthy)")
    ax_r.set_xlabel("step")
    ax_r.set_ylabel("log10(std(ΔW) / std(W))")
    ax_r.set_title("Update-to-data ratio")
    ax_r.legend(loc="lower left", fontsize=8, ncols=3)
    note = ax_l.text(
        0.5,
        0.5,
        "",
        ha="center",
        va="center",
        transform=ax_l.transAxes,
        color=PLAIN_COLOR,
    )
    ratio_note = ax_r.text(
        0.5,
        0.6,
        "",
        ha="center",
        va="center",
        transform=ax_r.transAxes,
        color=PLAIN_COLOR,
    )
    #: losses above this are off the top of the loss plot (a diverging run
    #: would otherwise squash every other curve to the bottom)
    loss_top = 1e4

    style = {"description_width": "initial"}
    controls = {
        "batchnorm": ipw.ToggleButtons(
            options=[("with Batch Norm", True), ("without Batch Norm", False)],
            value=True,
            description="network",
            style=style,
        ),
        "activation": ipw.Dropdown(
            options=list(ACTIVATIONS),
            value="relu",
            description="activation",
            style=style,
        ),
        "optimizer": ipw.Dropdown(
            options=[
                ("GD", "gd"),
                ("Momentum", "momentum"),
                ("RMSprop", "rmsprop"),
                ("Adam", "adam"),
            ],
            value="gd",
            description="optimizer",
            style=style,
        ),
        "lr": log_slider(
            "learning rate (log scale)", 0.1, -4.0, 1.0, continuous_update=False
        ),
        "weight_scale": log_slider(
            "initial weight std (log scale)", 0.05, -4.0, 1.0, continuous_update=False
        ),
        "batch_size": ipw.SelectionSlider(
            options=list(LAB_BATCH_SIZES),
            value=60,
            description="batch size",
            style=style,
            continuous_update=False,
        ),
        "steps": int_slider("steps", steps, 50, 600, 50, continuous_update=False),
    }
    state: dict = {"last": None, "panel": None}

    def update(
        batchnorm, activation, optimizer, lr, weight_scale, batch_size, steps, progress
    ):
        batch_size = int(batch_size)
        steps = int(steps)
        cap = max(1, int(max_examples) // batch_size)
        capped = steps > cap
        steps_run = min(steps, cap)
        config = RunConfig(
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=float(lr),
            weight_scale=float(weight_scale),
            batch_size=batch_size,
            steps=steps_run,
            eval_every=max(1, steps_run // 10),
            seed=seed,
        )

        def tick(step, _hist):
            progress(step, steps_run)

        r = run(config, bool(batchnorm), data, record_diagnostics=True, callback=tick)
        h = r.history
        color = BN_COLOR if batchnorm else PLAIN_COLOR
        # the previous run becomes the grey reference
        prev_loss.set_data(*loss_line.get_data())
        prev_acc.set_data(*acc_line.get_data())
        step, loss = _smoothed_loss(h, window=10)
        loss_line.set_data(step, loss)
        loss_line.set_color(color)
        ok = np.isfinite(h.test_acc)
        acc_line.set_data(h.step[ok].astype(float), 100 * h.test_acc[ok])
        acc_line.set_color(color)
        for name, line in ratio_lines.items():
            r_ = np.asarray(h.update_ratio.get(name, []), dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.log10(r_)
            good = np.isfinite(lg)
            line.set_data(h.step[: lg.size][good].astype(float), lg[good])
        x_max = float(max(steps_run, 1))
        for ax in (ax_l, ax_a, ax_r):
            ax.set_xlim(0, x_max)
        all_loss = np.concatenate([loss, prev_loss.get_ydata()])
        all_loss = all_loss[np.isfinite(all_loss) & (all_loss > 0)]
        if all_loss.size:
            ax_l.set_ylim(all_loss.min() * 0.8, min(all_loss.max() * 1.25, loss_top))
        note.set_text("" if loss.size else "no finite loss:\nthe run diverged at once")
        lgs = np.concatenate([ln.get_ydata() for ln in ratio_lines.values()])
        lgs = lgs[np.isfinite(lgs)]
        lo = min(-5.5, float(lgs.min()) - 0.3) if lgs.size else -5.5
        hi = max(-0.5, float(lgs.max()) + 0.3) if lgs.size else -0.5
        ax_r.set_ylim(lo, hi)
        ratio_note.set_text("" if lgs.size else "no record before\nthe run diverged")
        # the legends show the new colour of this run's lines
        ax_l.legend(loc="upper right", fontsize=8)
        ax_a.legend(loc="lower right", fontsize=8)
        state["last"] = r
        if state["panel"] is not None:
            state["panel"].last_run = r

        acc = r.final_test_acc
        finite_acc = h.test_acc[ok]
        best = f"{finite_acc.max():.1%}" if finite_acc.size else "n/a"
        parts = [_status(h, acc)]
        if capped:
            parts.append(
                f"Steps capped at {steps_run} (steps x batch size <= {max_examples:,} "
                "keeps a run to a few seconds)."
            )
        net_txt = "with" if batchnorm else "without"
        acc_txt = f"{acc:.1%}" if np.isfinite(acc) else "n/a (diverged)"
        parts.append(
            f"{net_txt} BN, {activation}, {optimizer} lr {lr:.3g}, weight std "
            f"{weight_scale:.3g}, batch {batch_size}: final test accuracy "
            f"<b>{acc_txt}</b> (best {best}) after {h.steps_done} steps, "
            f"{h.steps_per_second:.0f} steps/s."
        )
        if not h.diverged and h.saturation:
            last = max(h.saturation)
            sat = float(h.saturation[last][-1])
            what = "dead units" if activation == "relu" else "saturated units"
            if np.isfinite(sat):
                parts.append(f"Layer {last}: {sat:.0%} {what} at the end.")
        return "<br>".join(parts)

    panel = TrainPanel(controls, fig, update, title="Training lab: MNIST digits")
    panel.last_run = state["last"]
    state["panel"] = panel
    panel.artists = {
        "loss": loss_line,
        "acc": acc_line,
        "ratios": ratio_lines,
        "prev_loss": prev_loss,
        "prev_acc": prev_acc,
        "note": note,
        "ratio_note": ratio_note,
    }
    return panel
