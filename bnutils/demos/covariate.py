"""Figures, panels and bookkeeping for notebook 05, "Covariate shift and why
Batch Norm helps". The notebook computes the lesson in its cells (the training
runs, the layer-3 forward pass under perturbed weights, the drift measures, the
noisy-BN identity, the gradient-change measurement); this module holds what
they use (tests: ``tests/test_demos_covariate.py``):

* **Covariate shift** (the lecture's black cats vs coloured cats):
  :func:`fit_cat_classifier` trains a linear classifier once on
  :func:`bnutils.data.shifted_cats` at ``shift = 0``; :func:`shift_accuracy`
  measures it on test sets whose inputs moved while the labelling rule stayed
  the same; :func:`covariate_shift_panel` puts the shift on a slider.
* **The lecture's picture of internal covariate shift**:
  :func:`weight_perturbation_panel` moves the earlier layers' weights with a
  slider and shows the distribution of a later layer's input, with and without
  Batch Norm, computed by a function the notebook defines.
* **Ioffe & Szegedy (2015), Figure 1**: :func:`figure1_network` (the paper's
  MNIST network: 784 -> 3 x 100 sigmoid -> 10 softmax, weights N(0, 0.05^2),
  with and without Batch Norm; trained with :func:`bnutils.train.train` on
  batches of :data:`FIGURE1_BATCH`);
  :func:`plot_figure1` draws test accuracy and the 15th/50th/85th percentiles of
  one sigmoid's input; :func:`percentile_drift` measures how much they move
  (from any step on, and relative to the current spread), for
  ``scripts/reproduce_figure1.py``.
* **Exercise** (warm-up): :func:`percentiles_over_training` (the reference
  solution) and its checker :func:`check_percentiles_over_training`.
* **What later research found, Santurkar et al. (2018)**:
  :class:`NoisyBNNetwork` ("noisy BN": random, time-varying shifts and scales
  after every Batch Norm layer) and :func:`flat_gradient`, a network's
  gradient as a function of one flat parameter vector, for the gradient-change
  exercise.
* **The paper's 50,000 steps**: :func:`figure1_full_results` reads the saved
  summary of ``scripts/reproduce_figure1.py --kinds plain,bn,noisy,xavier
  --extras`` (``bnutils/datafiles/figure1_full.npz``, written from that run's
  ``figure1.json`` by :func:`save_figure1_full`), so the notebook can print
  every full-run number it quotes.

Layout as everywhere in the series: arrays are (units, examples) = ``(n_l, m)``;
labels ``y`` are int arrays of shape ``(m,)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

# The exercise's checker lives in bnutils.checks; re-exported for the notebook.
from bnutils.checks.percentiles import check_percentiles_over_training
from bnutils.data import cat_boundary, cat_label, shifted_cats
from bnutils.network import Network
from bnutils.optim import GD
from bnutils.plots import (
    BN_COLOR,
    OKABE_ITO,
    PLAIN_COLOR,
    panel_figure,
    subplots,
)
from bnutils.solutions import percentiles_over_training
from bnutils.threads import limit_blas_threads
from bnutils.train import History, train
from bnutils.widgets import Panel, float_slider, int_slider

__all__ = [
    "FIGURE1_BATCH",
    "FIGURE1_DTYPE",
    "FIGURE1_FULL_FILE",
    "FIGURE1_LR",
    "FIGURE1_PAPER_STEPS",
    "FIGURE1_SIZES",
    "FIGURE1_WEIGHT_SCALE",
    "KIND_COLORS",
    "KIND_LABELS",
    "NOISE_SCALE_MAX",
    "NOISE_SHIFT_MAX",
    "PROBE_LAYER",
    "CatClassifier",
    "NoisyBNNetwork",
    "check_percentiles_over_training",
    "covariate_shift_panel",
    "figure1_full_results",
    "figure1_network",
    "fit_cat_classifier",
    "flat_gradient",
    "percentile_drift",
    "percentiles_over_training",
    "plot_figure1",
    "save_figure1_full",
    "shift_accuracy",
    "weight_perturbation_panel",
]

#: Layer sizes of Ioffe & Szegedy's MNIST network (Figure 1).
FIGURE1_SIZES = (784, 100, 100, 100, 10)
#: Standard deviation of the initial weights (the paper: "small random
#: Gaussian values"; 0.05 is a common recreation).
FIGURE1_WEIGHT_SCALE = 0.05
#: Mini-batch size of the paper.
FIGURE1_BATCH = 60
#: Learning rate of plain mini-batch gradient descent. The paper states neither
#: optimizer nor learning rate; 1.0 trains both networks (in a trial run at 0.5
#: the network without Batch Norm stayed at chance level for its first 800 steps).
FIGURE1_LR = 1.0
#: Floating-point type of the Figure-1 networks and data.
FIGURE1_DTYPE = np.float32
#: Training steps of the paper's Figure 1.
FIGURE1_PAPER_STEPS = 50_000
#: The saved summary of the 50,000-step run (package data, bnutils/datafiles).
FIGURE1_FULL_FILE = "figure1_full.npz"
#: The command whose figure1.json :func:`save_figure1_full` summarizes.
FIGURE1_FULL_COMMAND = (
    "python scripts/reproduce_figure1.py --kinds plain,bn,noisy,xavier --extras"
)
#: The hidden layer whose unit is probed: the last one, as in the paper.
PROBE_LAYER = 3

#: Noisy BN: the shift ``c_t`` of each unit is drawn from U(-NOISE_SHIFT_MAX,
#: NOISE_SHIFT_MAX) at every training step.
NOISE_SHIFT_MAX = 1.0
#: Noisy BN: the scale ``s_t`` of each unit is ``exp(u)`` with
#: ``u ~ U(-ln NOISE_SCALE_MAX, ln NOISE_SCALE_MAX)``, i.e. between 1/2 and 2.
NOISE_SCALE_MAX = 2.0

#: The runs of this notebook (without BN, with BN, with noisy BN) and of
#: scripts/reproduce_figure1.py (also: without BN, Xavier initialization).
KIND_LABELS = {
    "plain": "without BN",
    "bn": "with BN",
    "noisy": "noisy BN",
    "xavier": "without BN, Xavier init",
}
KIND_COLORS = {
    "plain": PLAIN_COLOR,
    "bn": BN_COLOR,
    "noisy": OKABE_ITO["green"],
    "xavier": OKABE_ITO["orange"],
}

_CAT_COLOR = OKABE_ITO["orange"]
_OTHER_COLOR = OKABE_ITO["sky_blue"]


# ---------------------------------------------------------------------------
# 1. Covariate shift: a classifier trained on black cats meets coloured cats
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class CatClassifier:
    """A linear (softmax) classifier trained once on the black cats.

    Attributes
    ----------
    net : the trained :class:`~bnutils.network.Network` ``[2, 2]`` (no hidden
        layer: softmax regression on the two features).
    X_train : training inputs, shape (2, m); row 0 fur colour, row 1 shape score.
    y_train : training labels, shape (m,), 1 = cat.
    """

    net: Network
    X_train: np.ndarray
    y_train: np.ndarray

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (m,), for inputs X of shape (2, m)."""
        return self.net.predict(X)

    def accuracy(self, X, y) -> float:
        """Share of correct predictions on X (2, m) with labels y (m,)."""
        return self.net.accuracy(X, y)

    def boundary(self, colour) -> np.ndarray:
        """The learned decision boundary: the shape score at which the
        classifier switches from "not cat" to "cat", for each colour value.

        ``colour`` any shape; returns the same shape. The boundary is the line
        ``w1 * colour + w2 * shape + b = 0`` with ``w = W[1] - W[0]`` and
        ``b = b[1] - b[0]`` (equal softmax scores of the two classes).
        """
        W, b = self.net.params["W1"], self.net.params["b1"]
        w = W[1] - W[0]
        c = float(b[1, 0] - b[0, 0])
        colour = np.asarray(colour, dtype=np.float64)
        return -(w[0] * colour + c) / w[1]


def fit_cat_classifier(
    m: int = 400, seed: int = 0, steps: int = 300, lr: float = 0.5
) -> CatClassifier:
    """Train a softmax regression on the training distribution (``shift = 0``).

    Full-batch gradient descent on ``m`` examples of
    :func:`bnutils.data.shifted_cats` (black cats: fur colour ~ N(0, 1)).

    Parameters
    ----------
    m : number of training examples.
    seed : seed of the training set and of the initial weights.
    steps, lr : gradient-descent steps and learning rate.
    """
    X, y = shifted_cats(m=m, shift=0.0, seed=seed)
    net = Network([2, 2], batchnorm=False, weight_scale=0.01, seed=seed)
    opt = GD(lr)
    train(net, opt, X, y, batch_size=m, steps=steps, eval_every=steps, progress=False)
    return CatClassifier(net, X, y)


def shift_accuracy(
    classifier: CatClassifier, shifts, m: int = 2000, seed: int = 1
) -> np.ndarray:
    """Accuracy of a trained classifier on test sets moved by each shift.

    Each test set is ``shifted_cats(m, shift, seed)``: the same draws slid
    sideways, labelled by the fixed rule :func:`bnutils.data.cat_label`.

    Parameters
    ----------
    classifier : from :func:`fit_cat_classifier`.
    shifts : shape (n_shifts,): means of the fur-colour feature.
    m, seed : size and seed of the test sets (use a seed other than the
        training seed for independent test data).

    Returns
    -------
    accuracy : shape (n_shifts,), values in [0, 1].
    """
    shifts = np.atleast_1d(np.asarray(shifts, dtype=np.float64))
    if shifts.ndim != 1 or not np.all(np.isfinite(shifts)):
        raise ValueError(
            f"shifts must be a 1-D array of finite numbers; got shape {shifts.shape}."
        )
    acc = np.empty(shifts.shape[0])
    for i, s in enumerate(shifts):
        X, y = shifted_cats(m=m, shift=float(s), seed=seed)
        acc[i] = classifier.accuracy(X, y)
    return acc


def covariate_shift_panel(
    classifier: CatClassifier | None = None,
    max_shift: float = 4.0,
    m_test: int = 600,
    seed: int = 1,
) -> Panel:
    """A slider moves the test distribution; the accuracy follows.

    Left: the training inputs (grey), the test inputs at the chosen shift
    (orange = cat, light blue = not a cat, black crosses = misclassified), the
    true boundary (dashed, never changes) and the learned linear boundary
    (blue). Right: test accuracy against the shift (computed once), with a
    marker at the slider's shift. The classifier is trained once; moving the
    slider only re-evaluates it.

    Parameters
    ----------
    classifier : from :func:`fit_cat_classifier` (trained here when None).
    max_shift : largest shift on the slider (the slider starts at 0).
    m_test, seed : size and seed of the test sets drawn.
    """
    clf = fit_cat_classifier() if classifier is None else classifier
    grid = np.round(np.linspace(0.0, max_shift, 41), 10)
    curve = shift_accuracy(clf, grid, m=m_test, seed=seed)

    fig, (ax, ax_acc) = panel_figure(1, 2, figsize=(9.6, 3.8))
    Xtr = clf.X_train
    ax.scatter(Xtr[0], Xtr[1], s=6, color="0.75", label="training inputs (shift 0)")
    empty = np.zeros((0, 2))
    cats = ax.scatter([], [], s=12, color=_CAT_COLOR, label="test: cat")
    others = ax.scatter([], [], s=12, color=_OTHER_COLOR, label="test: not a cat")
    wrong = ax.scatter(
        [], [], s=22, marker="x", color="black", linewidths=0.9, label="misclassified"
    )
    x_lo, x_hi = -3.5, max_shift + 3.5
    xs = np.linspace(x_lo, x_hi, 200)
    ax.plot(xs, cat_boundary(xs), "k--", lw=1.2, label="true rule (fixed)")
    ax.plot(xs, clf.boundary(xs), color=BN_COLOR, lw=2, label="learned boundary")
    y_hi = float(cat_boundary(x_hi)) + 3.0
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(-4.0, y_hi)
    ax.set_xlabel("feature 1: fur colour (0 = black)")
    ax.set_ylabel("feature 2: shape score")
    ax.legend(loc="upper left", fontsize=8)
    title = ax.set_title("")

    ax_acc.plot(grid, 100 * curve, color=BN_COLOR, lw=2, label="test accuracy")
    ax_acc.axhline(50, color="0.5", ls=":", lw=1, label="chance (50 %)")
    (marker,) = ax_acc.plot([], [], "o", color=PLAIN_COLOR, ms=8, label="this shift")
    ax_acc.set_xlim(-0.1, max_shift + 0.1)
    ax_acc.set_ylim(40, 102)
    ax_acc.set_xlabel("shift of the test inputs (mean fur colour)")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_title("Accuracy against the shift (trained at 0)")
    ax_acc.legend(loc="lower left")
    base_acc = float(curve[0])

    def update(shift: float) -> str:
        X, y = shifted_cats(m=m_test, shift=float(shift), seed=seed)
        pred = clf.predict(X)
        pts = X.T
        cats.set_offsets(pts[y == 1] if np.any(y == 1) else empty)
        others.set_offsets(pts[y == 0] if np.any(y == 0) else empty)
        bad = pred != y
        wrong.set_offsets(pts[bad] if np.any(bad) else empty)
        acc = float(np.mean(~bad))
        marker.set_data([float(shift)], [100 * acc])
        title.set_text(f"Test inputs at shift {shift:.1f}")
        same_rule = bool(np.array_equal(cat_label(X), y))
        return (
            f"Shift {shift:.1f}: test accuracy <b>{100 * acc:.1f} %</b> "
            f"(at the training distribution, shift 0: {100 * base_acc:.1f} %); "
            f"{int(bad.sum())} of {m_test} misclassified. The labels still follow "
            f"the same rule: {'yes' if same_rule else 'NO'}; only P(x) moved."
        )

    controls = {
        "shift": float_slider(
            "shift of the test inputs (mean fur colour)", 0.0, 0.0, max_shift, 0.1
        )
    }
    panel = Panel(
        controls, fig, update, title="Covariate shift: black cats -> coloured cats"
    )
    panel.artists = {
        "cats": cats,
        "others": others,
        "wrong": wrong,
        "marker": marker,
    }
    panel.data = {"grid": grid, "curve": curve}
    return panel


# ---------------------------------------------------------------------------
# 2. Ioffe & Szegedy (2015), Figure 1
# ---------------------------------------------------------------------------


class NoisyBNNetwork(Network):
    """A Batch Norm network with "noisy BN" (Santurkar et al. 2018, section 2.1).

    After every Batch Norm layer, each unit's output is moved and stretched by
    random numbers that change at every training step::

        Z_tilde_noisy[l] = Z_tilde[l] * s_t[l] + c_t[l]      s_t, c_t: (n_l, 1)

    so the distribution that the next sigmoid sees has a non-zero mean and a
    non-unit variance that jump around during training: deliberately *more*
    internal covariate shift than without Batch Norm. Distributions, drawn
    independently for every unit and every step from ``noise_rng``:

    * ``c_t ~ U(-noise_shift, noise_shift)``;
    * ``s_t = exp(u)``, ``u ~ U(-ln noise_scale, ln noise_scale)`` (between
      ``1/noise_scale`` and ``noise_scale``, median 1).

    The paper draws its noise per example; here one shift and one scale per
    unit move the whole distribution of that unit, which is what "covariate
    shift" means.

    When the noise changes: a training-mode forward pass that updates the
    running statistics (one training step: :meth:`loss_and_grads`,
    :meth:`forward`, :func:`bnutils.train.train`) draws new ``s_t, c_t``; a
    training-mode pass that doesn't (``update_running=False``: the probe of
    :func:`~bnutils.train.train`, :meth:`inspect`, :meth:`loss` with
    ``training=True``) reuses the current ones, so the probe sees what the
    network saw at that step. Inference mode (``training=False``: accuracy,
    predictions) has no noise, like dropout at test time.

    The noise is the same as running Batch Norm with ``gamma * s_t`` and
    ``beta * s_t + c_t`` in place of ``gamma`` and ``beta``; the backward pass
    multiplies the gradients of ``gamma`` and ``beta`` by ``s_t``.

    Parameters
    ----------
    layer_sizes, activation, weight_scale, ema_beta, eps, seed, dtype : as for
        :class:`~bnutils.network.Network` (``batchnorm`` is always True).
    noise_shift : half-width of the shift distribution (>= 0).
    noise_scale : largest scale factor (>= 1).
    noise_seed : seed of the noise (default: ``seed + 1``).

    Attributes
    ----------
    noise : hidden layer l -> ``(s_t, c_t)``, each of shape (n_l, 1): the
        current noise (None before the first training-mode pass).
    n_noise_draws : how many times the noise was drawn.
    noise_enabled : set to False to switch the noise off (then it is plain BN).
    """

    def __init__(
        self,
        layer_sizes,
        activation: str = "sigmoid",
        weight_scale: float | str = 0.05,
        noise_shift: float = NOISE_SHIFT_MAX,
        noise_scale: float = NOISE_SCALE_MAX,
        noise_seed: int | None = None,
        **kwargs,
    ):
        if "batchnorm" in kwargs and kwargs.pop("batchnorm") is not True:
            raise ValueError("NoisyBNNetwork always has Batch Norm (batchnorm=True).")
        super().__init__(
            layer_sizes,
            activation=activation,
            batchnorm=True,
            weight_scale=weight_scale,
            **kwargs,
        )
        noise_shift, noise_scale = float(noise_shift), float(noise_scale)
        if not (math.isfinite(noise_shift) and noise_shift >= 0):
            raise ValueError(f"noise_shift must be a number >= 0; got {noise_shift}.")
        if not (math.isfinite(noise_scale) and noise_scale >= 1):
            raise ValueError(
                "noise_scale must be a number >= 1 (1 = no scaling); "
                f"got {noise_scale}."
            )
        self.noise_shift = noise_shift
        self.noise_scale = noise_scale
        self.noise_seed = self.seed + 1 if noise_seed is None else int(noise_seed)
        self.noise_rng = np.random.default_rng(self.noise_seed)
        self.noise: dict | None = None
        self.n_noise_draws = 0
        self.noise_enabled = True

    def __repr__(self) -> str:
        return (
            f"NoisyBNNetwork(layer_sizes={list(self.layer_sizes)}, "
            f"activation={self.activation!r}, noise_shift={self.noise_shift}, "
            f"noise_scale={self.noise_scale}, n_params={self.n_params})"
        )

    def draw_noise(self) -> dict:
        """Draw new ``(s_t, c_t)`` for every BN layer; returns :attr:`noise`."""
        log_s = math.log(self.noise_scale)
        noise = {}
        for layer, bn in self.bn_layers.items():
            shape = (bn.n_units, 1)
            s = np.exp(self.noise_rng.uniform(-log_s, log_s, size=shape))
            c = self.noise_rng.uniform(-self.noise_shift, self.noise_shift, size=shape)
            noise[layer] = (s.astype(self.dtype), c.astype(self.dtype))
        self.noise = noise
        self.n_noise_draws += 1
        return noise

    def copy(self) -> NoisyBNNetwork:
        """An independent copy (parameters, running statistics, noise state)."""
        new = NoisyBNNetwork(
            self.layer_sizes,
            activation=self.activation,
            weight_scale=self.weight_scale,
            noise_shift=self.noise_shift,
            noise_scale=self.noise_scale,
            noise_seed=self.noise_seed,
            ema_beta=self.ema_beta,
            eps=self.eps,
            seed=self.seed,
            dtype=self.dtype,
        )
        plain = Network.copy(self)
        new._params.update(plain._params)
        for layer, bn in plain.bn_layers.items():
            nb = new.bn_layers[layer]
            nb.running_mean, nb.running_var = bn.running_mean, bn.running_var
            nb.n_updates = bn.n_updates
        new.noise_rng = np.random.default_rng()
        new.noise_rng.bit_generator.state = self.noise_rng.bit_generator.state
        new.noise = None if self.noise is None else dict(self.noise)
        new.n_noise_draws = self.n_noise_draws
        new.noise_enabled = self.noise_enabled
        return new

    def _forward(self, X, training, update_running):
        if not (training and self.noise_enabled):
            return super()._forward(X, training, update_running)
        if update_running or self.noise is None:
            self.draw_noise()
        p = self._params
        saved = {}
        for layer, (s, c) in self.noise.items():
            g, b = p[f"gamma{layer}"], p[f"beta{layer}"]
            saved[layer] = (g, b)
            p[f"gamma{layer}"] = g * s
            p[f"beta{layer}"] = b * s + c
        try:
            cache = super()._forward(X, training, update_running)
        finally:
            # The very arrays the optimizer updates in place go back in the dict.
            for layer, (g, b) in saved.items():
                p[f"gamma{layer}"], p[f"beta{layer}"] = g, b
        cache["noise"] = self.noise
        return cache

    def _backward(self, y):
        grads = super()._backward(y)
        noise = self.cache.get("noise")
        if noise:
            for layer, (s, _) in noise.items():
                for name in ("gamma", "beta"):
                    grads[f"{name}{layer}"] = grads[f"{name}{layer}"] * s
                bn = self.bn_layers[layer]
                bn.dgamma = grads[f"gamma{layer}"]
                bn.dbeta = grads[f"beta{layer}"]
        return grads


def figure1_network(
    kind: str,
    seed: int = 0,
    sizes=FIGURE1_SIZES,
    activation: str = "sigmoid",
    weight_scale: float | str = FIGURE1_WEIGHT_SCALE,
    dtype=FIGURE1_DTYPE,
) -> Network:
    """The network of Ioffe & Szegedy's Figure 1.

    ``kind``: ``"plain"`` (no Batch Norm), ``"bn"`` (Batch Norm on every hidden
    layer), ``"noisy"`` (:class:`NoisyBNNetwork`) or ``"xavier"`` (no Batch
    Norm, weights ``N(0, 1/n_in)`` instead of ``weight_scale``: the plain
    network with an initialization that does not squeeze the signal). The same
    ``seed`` gives the same initial weights ``W`` for the first three (the
    Xavier ones are the same draws, scaled). ``dtype``: float32 by default
    (training curves need no more precision, and it is about twice as fast).
    """
    if kind not in KIND_LABELS:
        raise ValueError(f"kind must be one of {list(KIND_LABELS)}; got {kind!r}.")
    if kind == "xavier":
        weight_scale = "xavier"
    if kind == "noisy":
        return NoisyBNNetwork(
            list(sizes),
            activation=activation,
            weight_scale=weight_scale,
            seed=seed,
            dtype=dtype,
        )
    return Network(
        list(sizes),
        activation=activation,
        batchnorm=(kind == "bn"),
        weight_scale=weight_scale,
        seed=seed,
        dtype=dtype,
    )


def percentile_drift(percentiles, steps=None, since: int = 0) -> dict:
    """How much the 15th/50th/85th percentiles of a unit's input moved.

    Parameters
    ----------
    percentiles : shape (n_records, 3): the 15th, 50th and 85th percentiles
        at each record (e.g. ``History.percentiles[3]``).
    steps : shape (n_records,), the step of each record (needed with ``since``).
    since : only the records at or after this step count (at least 2 of them).

    Returns
    -------
    dict of floats:
    ``first``, ``last`` : the three percentiles at the first and last record
    counted (tuples); ``median_shift`` : last minus first 50th percentile;
    ``spread_first``, ``spread_last`` : 85th minus 15th percentile;
    ``spread_ratio`` : ``spread_last / spread_first``;
    ``mean_change`` : mean over consecutive records and the three percentiles
    of ``|p[k + 1] - p[k]|``, the typical move between two records;
    ``mean_relative_change`` : the same move divided by the 15th-to-85th spread
    at the earlier record, averaged over consecutive records: the move in units
    of the distribution's own width.
    """
    p = np.asarray(percentiles, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(
            "percentiles must have shape (n_records, 3) (the 15th, 50th and 85th "
            f"percentile per record); got {p.shape}."
        )
    if since:
        if steps is None:
            raise ValueError("give the record steps (steps=...) to use since.")
        steps = np.asarray(steps)
        if steps.shape != (p.shape[0],):
            raise ValueError(
                f"steps must have shape ({p.shape[0]},), one step per record; got "
                f"{steps.shape}."
            )
        p = p[steps >= since]
    if p.shape[0] < 2:
        raise ValueError(
            f"need at least 2 records (at or after step {since}); got {p.shape[0]}."
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("percentiles contain NaN or inf (did the run diverge?).")
    spread = p[:, 2] - p[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = spread[-1] / spread[0] if spread[0] > 0 else math.inf
        moves = np.mean(np.abs(np.diff(p, axis=0)), axis=1)
        relative = (
            float(np.mean(moves / spread[:-1])) if np.all(spread > 0) else math.inf
        )
    return {
        "first": tuple(float(v) for v in p[0]),
        "last": tuple(float(v) for v in p[-1]),
        "median_shift": float(p[-1, 1] - p[0, 1]),
        "spread_first": float(spread[0]),
        "spread_last": float(spread[-1]),
        "spread_ratio": float(ratio),
        "mean_change": float(np.mean(moves)),
        "mean_relative_change": relative,
    }


def _draw_percentiles(ax, step, p, color, label):
    """The 15/50/85 percentile curves of one run; returns the artists."""
    fill = ax.fill_between(step, p[:, 0], p[:, 2], color=color, alpha=0.18, lw=0)
    (lo,) = ax.plot(step, p[:, 0], color=color, lw=1, ls="--", label="15th, 85th")
    (mid,) = ax.plot(step, p[:, 1], color=color, lw=2, label="50th (median)")
    (hi,) = ax.plot(step, p[:, 2], color=color, lw=1, ls="--")
    ax.set_title(label)
    return fill, lo, mid, hi


def plot_figure1(
    runs: Mapping[str, History],
    layer: int = PROBE_LAYER,
    axes=None,
    accuracy_xscale: str = "linear",
    bn_inference=None,
):
    """Ioffe & Szegedy's Figure 1 from two runs.

    (a) test accuracy against the training step for every run in ``runs``;
    (b, c) the 15th, 50th and 85th percentiles of the input of one sigmoid of
    hidden layer ``layer`` over training, without and with Batch Norm (same
    y-axis, so the two can be compared).

    Parameters
    ----------
    runs : needs ``"plain"`` and ``"bn"`` (History objects); a ``"noisy"``
        run is added to panel (a) if present.
    layer : the hidden layer of the probed unit.
    axes : three matplotlib axes (default: a new figure).
    accuracy_xscale : ``"linear"`` (as in the paper) or ``"log"`` for panel
        (a): a log axis shows the first few hundred steps of a long run (step 0
        is then left out).
    bn_inference : optional (n_records, 3) percentiles of the same unit in the
        Batch Norm network with the probe in inference mode (running
        averages), at the BN run's record steps: drawn dotted in (c).

    Returns
    -------
    (fig, axes).
    """
    if axes is None:
        fig, axes = subplots(1, 3, figsize=(11.5, 3.6))
    else:
        fig = axes[0].figure
    if accuracy_xscale not in ("linear", "log"):
        raise ValueError(
            f'accuracy_xscale must be "linear" or "log"; got {accuracy_xscale!r}.'
        )
    ax_a, ax_b, ax_c = axes
    for kind, h in runs.items():
        keep = h.step > 0 if accuracy_xscale == "log" else slice(None)
        ax_a.plot(
            h.step[keep],
            100 * h.test_acc[keep],
            color=KIND_COLORS.get(kind),
            lw=2,
            label=KIND_LABELS.get(kind, kind),
        )
    ax_a.set_xscale(accuracy_xscale)
    log_note = " (log scale)" if accuracy_xscale == "log" else ""
    ax_a.set_xlabel("training step" + log_note)
    ax_a.set_ylabel("test accuracy (%)")
    ax_a.set_ylim(0, 100)
    ax_a.set_title("(a) test accuracy")
    # Centre right: clear of both curves (the plain one runs low, BN high).
    ax_a.legend(loc="center right")
    series = [runs[k].percentiles[layer] for k in ("plain", "bn")]
    if bn_inference is not None:
        bn_inference = np.asarray(bn_inference, dtype=np.float64)
        if bn_inference.shape != runs["bn"].percentiles[layer].shape:
            raise ValueError(
                "bn_inference must have the shape of the BN run's percentiles, "
                f"{runs['bn'].percentiles[layer].shape}; got {bn_inference.shape}."
            )
        series.append(bn_inference)
    lo = min(np.nanmin(v) for v in series)
    hi = max(np.nanmax(v) for v in series)
    pad = 0.05 * (hi - lo) + 1e-3
    for ax, kind, tag in ((ax_b, "plain", "(b)"), (ax_c, "bn", "(c)")):
        h = runs[kind]
        _draw_percentiles(
            ax,
            h.step,
            h.percentiles[layer],
            KIND_COLORS[kind],
            f"{tag} {KIND_LABELS[kind]}: layer-{layer} sigmoid input",
        )
        if kind == "bn" and bn_inference is not None:
            ax.plot(
                h.step,
                bn_inference[:, 1],
                color="black",
                lw=1.2,
                ls=":",
                label="inference mode (15th, 50th, 85th)",
            )
            ax.plot(h.step, bn_inference[:, 0], color="black", lw=0.8, ls=":")
            ax.plot(h.step, bn_inference[:, 2], color="black", lw=0.8, ls=":")
        ax.set_xlabel("training step")
        ax.set_ylabel(rf"input of the sigmoid, $\tilde Z^{{[{layer}]}}$")
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(
            loc="lower left",
            frameon=True,
            framealpha=0.85,
            edgecolor="none",
            fontsize=8,
        )
    return fig, axes


def _stair_hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share (%) of the values in each bin; values outside fall in the outer bins."""
    v = np.clip(values, edges[0], edges[-1])
    counts, _ = np.histogram(v, bins=edges)
    return 100.0 * counts / max(v.size, 1)


def _perturbation_data(compute, nets, earlier, kinds, unit, bins, data) -> None:
    """Fill ``data`` (see :func:`weight_perturbation_panel`): per kind the unit's
    values, every unit's moved mean and spread ratio, the parameter change and
    the histogram bins, for every record."""
    for k in kinds:
        ref = compute(k, None)
        mean0, sd0 = ref.mean(axis=1), ref.std(axis=1)
        values, moved, ratio, change = [], [], [], []
        for params in earlier[k]:
            Zt = compute(k, params)
            values.append(Zt[unit])
            moved.append((Zt.mean(axis=1) - mean0) / sd0)
            ratio.append(Zt.std(axis=1) / sd0)
            num = sum(
                float(np.sum((np.asarray(v) - nets[k].params[n]) ** 2))
                for n, v in params.items()
            )
            den = sum(float(np.sum(nets[k].params[n] ** 2)) for n in params)
            change.append(math.sqrt(num / den))
        data[k] = {
            "reference": ref[unit],
            "values": np.array(values),
            "moved": np.array(moved),
            "ratio": np.array(ratio),
            "weight_change": np.array(change),
        }
        # Cover both the trained outline and every record's values: pooled
        # percentiles would let the many records clip the trained tails.
        lows, highs = zip(
            np.percentile(data[k]["values"].ravel(), [0.5, 99.5]),
            np.percentile(ref[unit], [0.5, 99.5]),
            strict=True,
        )
        lo, hi = float(min(lows)), float(max(highs))
        pad = 0.04 * (hi - lo) + 1e-3
        data["edges"][k] = np.linspace(lo - pad, hi + pad, bins + 1)


def weight_perturbation_panel(
    layer_input: Callable,
    nets: Mapping[str, Network],
    X,
    earlier: Mapping[str, list],
    steps,
    unit: int = 0,
    bins: int = 45,
    y_max: float = 30.0,
) -> Panel:
    """The lecture's picture: the earlier layers change, a later layer's input moves.

    A slider picks a training step t; the parameters of the earlier layers
    (``earlier[kind][i]``, e.g. W, b or gamma, beta of layers 1 and 2 at record
    i) are put back to their values at step t while the rest of the trained
    network stays as it is, and ``layer_input(net, X, params)`` (written in the
    notebook) returns the later layer's input ``Z_tilde``, shape (n_units, m),
    on the batch ``X``. Left and middle: the histogram of unit ``unit`` without
    and with Batch Norm at the chosen step (filled) and as trained (outline),
    with the mean (solid) and mean +- one standard deviation (dashed). Right,
    every unit of the layer: how far its mean moved (in units of its spread as
    trained) against its spread relative to the spread as trained; a unit that
    keeps its mean and variance sits at (0, 1).

    Everything is computed once, when the panel is built; the slider only
    redraws.

    Parameters
    ----------
    layer_input : ``layer_input(net, X, params) -> Z_tilde`` with ``params`` a
        dict of parameters replacing the network's own (``None``: none).
    nets : ``{"plain": ..., "bn": ...}``, the trained networks.
    X : the batch, shape (n_x, m).
    earlier : ``{"plain": [...], "bn": [...]}``, one dict of parameters per
        record; ``steps`` : the step of each record, shape (n_records,).
    unit : the unit whose histogram is shown.
    bins, y_max : histogram bins; top of the y-axis (% of the batch per bin);
        taller bars are clipped and their height written on the panel.

    Returns a :class:`~bnutils.widgets.Panel` with the control ``"step"``;
    ``panel.artists`` holds per kind ``"hist"`` and ``"ref"`` (filled and
    outline :class:`~matplotlib.patches.StepPatch`), ``"mean"``, ``"sd"``,
    ``"note"``, and ``"units"`` (the scatter); ``panel.data`` holds ``"steps"``,
    ``"edges"``, and per kind ``"values"`` (unit ``unit``, (n_records, m)),
    ``"moved"`` and ``"ratio"`` ((n_records, n_units)) and ``"weight_change"``
    ((n_records,): ||earlier - trained|| / ||trained|| over the parameters).
    """
    kinds = ("plain", "bn")
    steps = np.asarray(steps)
    for k in kinds:
        if k not in nets or k not in earlier:
            raise ValueError(f"nets and earlier need a {k!r} entry.")
        if len(earlier[k]) != steps.shape[0]:
            raise ValueError(
                f"earlier[{k!r}] has {len(earlier[k])} records but steps has "
                f"{steps.shape[0]}."
            )

    def compute(kind, params):
        Zt = np.asarray(layer_input(nets[kind], X, params), dtype=np.float64)
        if Zt.ndim != 2 or not np.all(np.isfinite(Zt)):
            raise ValueError(
                "layer_input must return a finite array of shape (n_units, m); got "
                f"shape {Zt.shape}."
            )
        return Zt

    data = {"steps": steps, "edges": {}}
    with limit_blas_threads():  # many small products: one BLAS thread is faster
        _perturbation_data(compute, nets, earlier, kinds, unit, bins, data)

    fig, axes = panel_figure(1, 3, figsize=(11.5, 3.7))
    art = {"hist": {}, "ref": {}, "mean": {}, "sd": {}, "note": {}, "units": {}}
    for ax, k in zip(axes[:2], kinds, strict=True):
        edges = data["edges"][k]
        art["ref"][k] = ax.stairs(
            _stair_hist(data[k]["reference"], edges),
            edges,
            color="0.35",
            lw=1.2,
            label="layers 1-2 as trained",
        )
        art["hist"][k] = ax.stairs(
            np.zeros(bins),
            edges,
            fill=True,
            color=KIND_COLORS[k],
            alpha=0.55,
            label="layers 1-2 from step t",
        )
        art["mean"][k] = ax.axvline(0.0, color="black", lw=1.5, label="mean")
        art["sd"][k] = [
            ax.axvline(0.0, color="black", lw=1, ls="--", label=lab)
            for lab in ("mean ± 1 std", None)
        ]
        art["note"][k] = ax.text(
            0.02, 0.96, "", transform=ax.transAxes, ha="left", va="top", fontsize=8
        )
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0.0, y_max)
        ax.set_xlabel(rf"input of layer-3 unit {unit}, $\tilde Z^{{[3]}}$")
        ax.set_title("")
    axes[0].set_ylabel(f"share of the {X.shape[1]} images (%)")
    axes[1].legend(loc="upper right", fontsize=7)
    ax_u = axes[2]
    n_units = data["plain"]["moved"].shape[1]
    for k in kinds:
        art["units"][k] = ax_u.scatter(
            np.zeros(n_units),
            np.ones(n_units),
            s=12,
            color=KIND_COLORS[k],
            alpha=0.6,
            label=KIND_LABELS[k],
        )
    ax_u.axvline(0.0, color="0.5", lw=0.8)
    ax_u.axhline(1.0, color="0.5", lw=0.8)
    ax_u.set_xlim(-3.2, 3.2)
    ax_u.set_ylim(0.0, 2.2)
    ax_u.set_xlabel("move of the mean (in spreads as trained)")
    ax_u.set_ylabel("spread / spread as trained")
    ax_u.set_title(f"all {n_units} units of layer 3")
    ax_u.legend(loc="upper right", fontsize=8)
    titles = {k: ax.title for ax, k in zip(axes[:2], kinds, strict=True)}

    def update(step: int) -> str:
        i = int(
            np.clip(np.searchsorted(steps, step, side="right") - 1, 0, steps.size - 1)
        )
        parts = []
        for k in kinds:
            d = data[k]
            share = _stair_hist(d["values"][i], data["edges"][k])
            art["hist"][k].set_data(values=np.minimum(share, y_max))
            top = float(share.max())
            art["note"][k].set_text(
                f"tallest bar {top:.0f} % (clipped)" if top > y_max else ""
            )
            v = d["values"][i]
            m, sd, med = float(v.mean()), float(v.std()), float(np.median(v))
            art["mean"][k].set_xdata([m, m])
            for line, v in zip(art["sd"][k], (m - sd, m + sd), strict=True):
                line.set_xdata([v, v])
            art["units"][k].set_offsets(
                np.column_stack(
                    [
                        np.clip(d["moved"][i], -3.1, 3.1),
                        np.clip(d["ratio"][i], 0.02, 2.15),
                    ]
                )
            )
            titles[k].set_text(
                f"{KIND_LABELS[k]}: layers 1-2 from step {int(steps[i])}"
            )
            parts.append(
                f"{KIND_LABELS[k]}: layers 1-2 differ from the trained ones by "
                f"{d['weight_change'][i]:.0%}; unit {unit}: mean <b>{m:+.2f}</b>, std "
                f"<b>{sd:.2f}</b>, median {med:+.2f} (as trained "
                f"{d['reference'].mean():+.2f}, {d['reference'].std():.2f}, "
                f"{np.median(d['reference']):+.2f}); median over the units: mean moved "
                f"{np.median(np.abs(d['moved'][i])):.2f} spreads, spread x"
                f"{np.median(d['ratio'][i]):.2f}"
            )
        return f"<b>Step {int(steps[i])}</b>. " + "<br>".join(parts)

    step_size = int(steps[1] - steps[0]) if steps.size > 1 else 1
    controls = {
        "step": int_slider(
            "layers 1-2 from training step",
            int(steps[-1]),
            int(steps[0]),
            int(steps[-1]),
            max(step_size, 1),
        )
    }
    panel = Panel(
        controls,
        fig,
        update,
        title="The earlier layers change: does the input of layer 3 move?",
    )
    panel.artists = art
    panel.data = data
    return panel


# ---------------------------------------------------------------------------
# 3. Santurkar et al. (2018): noisy BN, and gradient predictiveness
# ---------------------------------------------------------------------------


def flat_gradient(net: Network, X, y, params: Mapping | None = None):
    """A network's gradient as a function of one flat parameter vector.

    The gradient of the mean cross-entropy on the fixed batch ``(X, y)``, in
    training mode (each Batch Norm layer normalizes with the batch's own
    statistics), computed on a copy of ``net``: the network, its running
    statistics and its noise stay as they were. For a :class:`NoisyBNNetwork`
    the noise is off.

    Parameters
    ----------
    net : the network at the point of interest.
    X : shape (n_x, m); y : int labels, shape (m,).
    params : optional dict of parameters (e.g. a snapshot taken during
        training) to use instead of the network's own; same names and shapes.

    Returns
    -------
    (w, grad_fn) : ``w`` the parameters as one float64 vector (the entries of
    ``net.params`` in the dict's order, each flattened), and ``grad_fn(v)``, the
    gradient at the parameters ``v`` (a vector like ``w``), a new float64 vector.
    """
    probe = net.copy()
    if isinstance(probe, NoisyBNNetwork):
        probe.noise_enabled = False
    for k, v in (params or {}).items():
        if k not in probe.params or np.shape(v) != probe.params[k].shape:
            raise ValueError(
                f"params[{k!r}] does not match the network's parameter of that name "
                f"(shape {probe.params[k].shape if k in probe.params else None})."
            )
        probe.params[k][...] = v
    X = probe.check_X(X)
    y = probe.check_y(y, X.shape[1])
    names = list(probe.params)
    shapes = [probe.params[k].shape for k in names]
    sizes = [int(np.prod(sh)) for sh in shapes]
    w = np.concatenate([np.ravel(probe.params[k]) for k in names]).astype(np.float64)

    def grad_fn(v):
        v = np.asarray(v, dtype=np.float64)
        if v.shape != w.shape:
            raise ValueError(f"expected a vector of shape {w.shape}; got {v.shape}.")
        start = 0
        for k, sh, n in zip(names, shapes, sizes, strict=True):
            probe.params[k][...] = v[start : start + n].reshape(sh)
            start += n
        with limit_blas_threads():
            _, grads = probe.loss_and_grads(X, y, training=True)
        return np.concatenate([np.ravel(grads[k]) for k in names]).astype(np.float64)

    return w, grad_fn


# ----------------------------------------------------------------------------
# The saved 50,000-step run of scripts/reproduce_figure1.py
# ----------------------------------------------------------------------------

#: Networks of the run, in the order of the arrays of figure1_full.npz.
_FULL_KINDS = ("plain", "bn", "noisy", "xavier")
#: Rows of the drift arrays: the four networks, then the two Batch Norm
#: networks' probe in inference mode (running averages).
_FULL_DRIFT_ROWS = (*_FULL_KINDS, "bn_inference", "noisy_inference")
_FULL_DRIFT_FIELDS = (
    "mean_relative_change",
    "spread_ratio",
    "median_shift",
    "spread_first",
    "spread_last",
)


def save_figure1_full(json_path, path=None) -> dict:
    """Reduce the ``figure1.json`` of ``scripts/reproduce_figure1.py --kinds
    plain,bn,noisy,xavier --extras`` to the numbers notebook 05 quotes and save
    them as an npz file (default: ``bnutils/datafiles/figure1_full.npz`` of
    this source tree). Returns the saved arrays (see
    :func:`figure1_full_results`)."""
    record = json.loads(Path(json_path).read_text())
    settings, runs = record["settings"], record["runs"]
    missing = [k for k in _FULL_KINDS if k not in runs]
    if missing or not settings.get("extras"):
        raise ValueError(
            f"{json_path} lacks the networks {missing} or the --extras records: "
            f"make it with `{FIGURE1_FULL_COMMAND}`."
        )
    targets = sorted(runs["plain"]["first_step_reaching"], key=float)
    drift_src = {k: runs[k]["drift"] for k in _FULL_KINDS}
    drift_src.update(record["inference_drift"])
    since = sorted(drift_src["plain"], key=int)
    gc_step = np.asarray(runs["plain"]["gradient_change"]["step"], dtype=np.int64)
    for k in _FULL_KINDS:
        if runs[k]["gradient_change"]["step"] != gc_step.tolist():
            raise ValueError(f"{json_path}: the gradient-change steps of {k} differ")
    out = {
        "command": np.str_(FIGURE1_FULL_COMMAND),
        "steps": np.int64(settings["steps"]),
        "seed": np.int64(settings["seed"]),
        "eval_every": np.int64(settings["eval_every"]),
        "test_images": np.int64(settings["test_images"]),
        "kinds": np.array(_FULL_KINDS),
        "final_test_acc": np.array([runs[k]["final_test_acc"] for k in _FULL_KINDS]),
        "targets": np.array([float(t) for t in targets]),
        "first_step_reaching": np.array(
            [
                [
                    -1 if (v := runs[k]["first_step_reaching"][t]) is None else v
                    for t in targets
                ]
                for k in _FULL_KINDS
            ],
            dtype=np.int64,
        ),
        "gc_step": gc_step,
        "gc_change": np.array(
            [runs[k]["gradient_change"]["change"] for k in _FULL_KINDS]
        ),
        "drift_rows": np.array(_FULL_DRIFT_ROWS),
        "drift_since": np.array([int(s) for s in since], dtype=np.int64),
    }
    for field in _FULL_DRIFT_FIELDS:
        out[f"drift_{field}"] = np.array(
            [[drift_src[r][s][field] for s in since] for r in _FULL_DRIFT_ROWS]
        )
    if path is None:
        path = Path(__file__).resolve().parents[1] / "datafiles" / FIGURE1_FULL_FILE
    np.savez_compressed(path, **out)
    return out


def figure1_full_results(path=None) -> dict:
    """The saved 50,000-step run of ``scripts/reproduce_figure1.py --kinds
    plain,bn,noisy,xavier --extras`` (seed 0), as a dict of numpy arrays.

    ``"kinds"`` (4,) the networks ``plain``, ``bn``, ``noisy``, ``xavier``
    (the rows of the next arrays); ``"final_test_acc"`` (4,) on the 1,000 test
    images; ``"targets"`` (T,) test accuracies and ``"first_step_reaching"``
    (4, T) the first record step at or above each (-1: never);
    ``"gc_step"`` (G,) and ``"gc_change"`` (4, G) the relative gradient change
    along one step of 1.0 on a fixed batch of 500 training images;
    ``"drift_rows"`` (6,) the four networks and ``bn_inference``,
    ``noisy_inference`` (the Batch Norm networks' probe in inference mode),
    ``"drift_since"`` (2,) the first step counted, and for unit 0 of hidden
    layer 3: ``"drift_mean_relative_change"`` (6, 2) the mean move of its 15th,
    50th and 85th percentiles per record divided by the current spread,
    ``"drift_spread_ratio"``, ``"drift_median_shift"``,
    ``"drift_spread_first"``, ``"drift_spread_last"``; ``"steps"``, ``"seed"``,
    ``"eval_every"``, ``"test_images"`` and ``"command"``.
    """
    if path is None:
        ref = resources.files("bnutils") / "datafiles" / FIGURE1_FULL_FILE
        with resources.as_file(ref) as p:
            return _read_figure1_full(p)
    return _read_figure1_full(path)


def _read_figure1_full(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: run `{FIGURE1_FULL_COMMAND} --out DIR`, then "
            "bnutils.demos.covariate.save_figure1_full('DIR/figure1.json')."
        ) from None
    out["command"] = str(out["command"])
    return out
