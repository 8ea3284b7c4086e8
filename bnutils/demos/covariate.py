"""Demonstrations for notebook 05, "Covariate shift and why Batch Norm helps".

What the notebook shows, computed here so that the notebook stays short and the
computations are tested (``tests/test_demos_covariate.py``):

* **Covariate shift** (the lecture's black cats vs coloured cats):
  :func:`fit_cat_classifier` trains a linear classifier once on
  :func:`bnutils.data.shifted_cats` at ``shift = 0``; :func:`shift_accuracy`
  measures it on test sets whose inputs moved while the labelling rule stayed
  the same; :func:`covariate_shift_panel` puts the shift on a slider.
* **Internal covariate shift, Ioffe & Szegedy (2015), Figure 1**:
  :func:`train_figure1` / :func:`figure1_runs` train the paper's MNIST network
  (784 -> 3 x 100 sigmoid -> 10 softmax, weights N(0, 0.05^2), batches of 60)
  with and without Batch Norm; :func:`plot_figure1` draws test accuracy and
  the 15th/50th/85th percentiles of one sigmoid's input;
  :func:`percentile_drift` measures how much those percentiles move;
  :func:`unit_histogram_panel` shows that unit's input at any recorded step.
* **Exercise**: :func:`percentiles_over_training` (the reference solution) and
  its checker :func:`check_percentiles_over_training`.
* **What later research found, Santurkar et al. (2018)**:
  :class:`NoisyBNNetwork` ("noisy BN": random, time-varying shifts and scales
  after every Batch Norm layer) and the gradient predictiveness
  :func:`gradient_change` / :func:`network_gradient_change`, measured along
  training by :func:`predictiveness_runs` and drawn by
  :func:`plot_predictiveness`.

Layout as everywhere in the series: arrays are (units, examples) = ``(n_l, m)``;
labels ``y`` are int arrays of shape ``(m,)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.ticker import NullFormatter

# The exercise's checker lives in bnutils.checks; re-exported for the notebook.
from bnutils.checks.percentiles import check_percentiles_over_training
from bnutils.data import cat_boundary, cat_label, load_mnist, shifted_cats
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
from bnutils.train import PERCENTILES, History, train
from bnutils.widgets import Panel, float_slider, int_slider

__all__ = [
    "FIGURE1_BATCH",
    "FIGURE1_DTYPE",
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
    "PredictivenessRun",
    "check_percentiles_over_training",
    "covariate_shift_panel",
    "drift_rows",
    "figure1_network",
    "figure1_runs",
    "fit_cat_classifier",
    "format_rows",
    "gradient_change",
    "network_gradient_change",
    "percentile_drift",
    "percentiles_over_training",
    "plot_figure1",
    "plot_noisy_bn",
    "plot_predictiveness",
    "predictiveness_runs",
    "shift_accuracy",
    "train_figure1",
    "unit_histogram_panel",
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
#: The hidden layer whose unit is probed: the last one, as in the paper.
PROBE_LAYER = 3

#: Noisy BN: the shift ``c_t`` of each unit is drawn from U(-NOISE_SHIFT_MAX,
#: NOISE_SHIFT_MAX) at every training step.
NOISE_SHIFT_MAX = 1.0
#: Noisy BN: the scale ``s_t`` of each unit is ``exp(u)`` with
#: ``u ~ U(-ln NOISE_SCALE_MAX, ln NOISE_SCALE_MAX)``, i.e. between 1/2 and 2.
NOISE_SCALE_MAX = 2.0

#: The runs of this notebook: without BN, with BN, with noisy BN.
KIND_LABELS = {"plain": "without BN", "bn": "with BN", "noisy": "noisy BN"}
KIND_COLORS = {"plain": PLAIN_COLOR, "bn": BN_COLOR, "noisy": OKABE_ITO["green"]}

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
    layer) or ``"noisy"`` (:class:`NoisyBNNetwork`). The same ``seed`` gives the
    same initial weights ``W`` for all three. ``dtype``: float32 by default
    (training curves need no more precision, and it is about twice as fast).
    """
    if kind not in KIND_LABELS:
        raise ValueError(f"kind must be one of {list(KIND_LABELS)}; got {kind!r}.")
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


def train_figure1(
    kind: str,
    steps: int = 1000,
    eval_every: int = 40,
    lr: float = FIGURE1_LR,
    seed: int = 0,
    data=None,
    sizes=FIGURE1_SIZES,
    progress: bool = True,
    callback=None,
    verbose: bool = True,
    dtype=FIGURE1_DTYPE,
) -> History:
    """Train one network of Figure 1 with plain mini-batch gradient descent.

    Parameters
    ----------
    kind : ``"plain"``, ``"bn"`` or ``"noisy"`` (see :func:`figure1_network`).
    steps : training steps (mini-batches of 60); the paper ran 50,000.
    eval_every : record test accuracy and the probed unit's input every this
        many steps (and at step 0 and the last step).
    lr : learning rate of gradient descent.
    seed : seed of the weights and of the mini-batch order.
    data : ``(X_train, y_train, X_test, y_test)`` with shapes (784, m),
        (m,), (784, m_test), (m_test,); default: the shipped MNIST subset.
    sizes : layer sizes (default 784, 100, 100, 100, 10).
    progress : progress bar (in a notebook).
    callback : passed to :func:`bnutils.train.train`: ``callback(step,
        history)`` after each record.
    verbose : print one line when done.
    dtype : of the network and the data (float32 by default).

    Returns
    -------
    The :class:`~bnutils.train.History`. Its ``percentiles[l]`` has shape
    (n_records, 3) and ``unit_inputs[l]`` shape (n_records, 500): the input of
    unit 0 of hidden layer l (``Z_tilde``, what the sigmoid receives) over the
    first 500 test images.
    """
    X, y, Xt, yt = load_mnist(dtype=dtype) if data is None else data
    net = figure1_network(kind, seed=seed, sizes=sizes, dtype=dtype)
    hist = train(
        net,
        GD(lr),
        X,
        y,
        Xt,
        yt,
        batch_size=FIGURE1_BATCH,
        steps=steps,
        eval_every=eval_every,
        seed=seed,
        progress=progress,
        callback=callback,
    )
    if verbose:
        print(
            f"{KIND_LABELS[kind]:>10s}: {hist.steps_done:,} steps in "
            f"{hist.seconds:.1f} s; test accuracy {100 * hist.test_acc[0]:.1f} % "
            f"-> {100 * hist.test_acc[-1]:.1f} %"
        )
    return hist


def figure1_runs(kinds=("plain", "bn"), **kwargs) -> dict:
    """:func:`train_figure1` for each kind; returns kind -> History.

    The keyword arguments go to :func:`train_figure1` (same steps, learning
    rate, seed and data for every kind).
    """
    if "data" not in kwargs or kwargs["data"] is None:
        kwargs["data"] = load_mnist()
    return {kind: train_figure1(kind, **kwargs) for kind in kinds}


def percentile_drift(percentiles) -> dict:
    """How much the 15th/50th/85th percentiles of a unit's input moved.

    Parameters
    ----------
    percentiles : shape (n_records, 3): the 15th, 50th and 85th percentiles
        at each record (e.g. ``History.percentiles[3]``), n_records >= 2.

    Returns
    -------
    dict of floats:
    ``first``, ``last`` : the three percentiles at the first and last record
    (tuples); ``median_shift`` : last minus first 50th percentile;
    ``spread_first``, ``spread_last`` : 85th minus 15th percentile;
    ``spread_ratio`` : ``spread_last / spread_first``;
    ``mean_change`` : mean over consecutive records and the three percentiles
    of ``|p[k + 1] - p[k]|``, the typical move between two records.
    """
    p = np.asarray(percentiles, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] < 2:
        raise ValueError(
            "percentiles must have shape (n_records, 3) with at least 2 records "
            f"(the 15th, 50th and 85th percentile per record); got {p.shape}."
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("percentiles contain NaN or inf (did the run diverge?).")
    spread = p[:, 2] - p[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = spread[-1] / spread[0] if spread[0] > 0 else math.inf
    return {
        "first": tuple(float(v) for v in p[0]),
        "last": tuple(float(v) for v in p[-1]),
        "median_shift": float(p[-1, 1] - p[0, 1]),
        "spread_first": float(spread[0]),
        "spread_last": float(spread[-1]),
        "spread_ratio": float(ratio),
        "mean_change": float(np.mean(np.abs(np.diff(p, axis=0)))),
    }


def drift_rows(runs: Mapping[str, History], layers=None) -> list[dict]:
    """One row per run and hidden layer: accuracy and percentile drift.

    Parameters
    ----------
    runs : kind -> History (from :func:`figure1_runs`).
    layers : hidden layers to list (default: the last one, PROBE_LAYER).

    Returns
    -------
    rows : dicts with the keys ``"run"``, ``"layer"``, ``"final acc"``,
        ``"p15/50/85 first"``, ``"p15/50/85 last"``, ``"median moved"``,
        ``"spread x"`` and ``"mean change"`` (strings, ready for
        :func:`format_rows`).
    """
    rows = []
    for kind, h in runs.items():
        for layer in (PROBE_LAYER,) if layers is None else layers:
            d = percentile_drift(h.percentiles[layer])
            rows.append(
                {
                    "run": KIND_LABELS.get(kind, kind),
                    "layer": str(layer),
                    "final acc": f"{100 * h.test_acc[-1]:.1f} %",
                    "p15/50/85 first": "/".join(f"{v:+.2f}" for v in d["first"]),
                    "p15/50/85 last": "/".join(f"{v:+.2f}" for v in d["last"]),
                    "median moved": f"{d['median_shift']:+.2f}",
                    "spread x": f"{d['spread_ratio']:.1f}",
                    "mean change": f"{d['mean_change']:.3f}",
                }
            )
    return rows


def format_rows(rows: list[dict]) -> str:
    """An aligned plain-text table of dicts with the same keys (for print)."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


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
    ax_a.legend(loc="lower right")
    lo = min(np.nanmin(runs[k].percentiles[layer]) for k in ("plain", "bn"))
    hi = max(np.nanmax(runs[k].percentiles[layer]) for k in ("plain", "bn"))
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
        ax.set_xlabel("training step")
        ax.set_ylabel("input of the sigmoid, Z_tilde")
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(loc="lower left", frameon=True, framealpha=0.85, edgecolor="none")
    return fig, axes


def _hist_counts(unit_inputs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-record share (%) of the probe in each bin; shape (n_records, n_bins).

    Values outside the edges are clipped into the outer bins.
    """
    U = np.clip(unit_inputs, edges[0], edges[-1])
    n_bins = edges.shape[0] - 1
    idx = np.clip(np.searchsorted(edges, U, side="right") - 1, 0, n_bins - 1)
    counts = np.zeros((U.shape[0], n_bins))
    rows = np.broadcast_to(np.arange(U.shape[0])[:, None], U.shape)
    np.add.at(counts, (rows, idx), 1.0)
    return 100.0 * counts / U.shape[1]


def unit_histogram_panel(
    runs: Mapping[str, History],
    layer: int = PROBE_LAYER,
    bins: int = 45,
    y_max: float = 30.0,
) -> Panel:
    """A slider over the recorded steps: histograms of the probed unit's input.

    Left: without Batch Norm; right: with it. Both panels use the same fixed
    bins and axes, so the drift shows as movement; the dashed lines are the
    15th and 85th percentiles, the solid line the median (legend on the right
    panel). Bars taller than ``y_max`` % are clipped
    at the top and their share is written on them.

    Parameters
    ----------
    runs : ``"plain"`` and ``"bn"`` Histories with the same record steps.
    layer : the hidden layer of the probed unit.
    bins : number of histogram bins.
    y_max : top of the y-axis, share of the probe examples per bin (%).
    """
    kinds = ("plain", "bn")
    for k in kinds:
        if k not in runs:
            raise ValueError(f"runs needs a {k!r} History; got {list(runs)}.")
    steps = np.asarray(runs["plain"].step)
    if not np.array_equal(steps, runs["bn"].step):
        raise ValueError("the two runs must have been recorded at the same steps.")
    data = {k: np.asarray(runs[k].unit_inputs[layer], dtype=np.float64) for k in kinds}
    if not all(np.all(np.isfinite(v)) for v in data.values()):
        raise ValueError("unit_inputs contain NaN (a diverged run?).")
    # Fixed bins for every step and both runs; the rare values beyond the 0.5th
    # and 99.5th percentile of everything recorded are counted in the outer bins.
    everything = np.concatenate([v.ravel() for v in data.values()])
    lo, hi = (float(v) for v in np.percentile(everything, [0.5, 99.5]))
    pad = 0.03 * (hi - lo) + 1e-3
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    shares = {k: _hist_counts(v, edges) for k, v in data.items()}
    pct = {k: np.percentile(v, PERCENTILES, axis=1).T for k, v in data.items()}

    fig, axes = panel_figure(1, 2, figsize=(9.6, 3.4), sharey=True)
    width = edges[1] - edges[0]
    art = {}
    for ax, k in zip(axes, kinds, strict=True):
        bars = ax.bar(
            edges[:-1],
            np.zeros(bins),
            width=width,
            align="edge",
            color=KIND_COLORS[k],
            alpha=0.75,
        )
        lines = [
            ax.axvline(0.0, color="black", ls=ls, lw=lw, label=label)
            for ls, lw, label in (
                ("--", 1, "15th and 85th percentile"),
                ("-", 1.5, "median"),
                ("--", 1, None),
            )
        ]
        note = ax.text(
            0.02, 0.95, "", transform=ax.transAxes, ha="left", va="top", fontsize=8
        )
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, y_max)
        ax.set_xlabel(f"input of the layer-{layer} sigmoid, Z_tilde")
        title = ax.set_title("")
        art[k] = {"bars": bars, "lines": lines, "note": note, "title": title}
    axes[0].set_ylabel("share of the 500 probe images (%)")
    axes[1].legend(loc="center left", fontsize=8)

    def update(step: int) -> str:
        i = np.searchsorted(steps, step, side="right") - 1
        i = int(np.clip(i, 0, steps.size - 1))
        parts = []
        for k in kinds:
            h = shares[k][i]
            for rect, v in zip(art[k]["bars"], h, strict=True):
                rect.set_height(min(v, y_max))
            for line, v in zip(art[k]["lines"], pct[k][i], strict=True):
                line.set_xdata([v, v])
            top = float(h.max())
            art[k]["note"].set_text(
                f"tallest bar {top:.0f} % (clipped)" if top > y_max else ""
            )
            art[k]["title"].set_text(f"{KIND_LABELS[k]}, step {int(steps[i]):,}")
            p15, p50, p85 = pct[k][i]
            parts.append(
                f"{KIND_LABELS[k]}: median <b>{p50:+.2f}</b>, "
                f"15th–85th {p15:+.2f} … {p85:+.2f} (width {p85 - p15:.2f})"
            )
        return f"Step {int(steps[i]):,} — " + " · ".join(parts)

    step_size = int(steps[1] - steps[0]) if steps.size > 1 else 1
    controls = {
        "step": int_slider(
            "training step", 0, int(steps[0]), int(steps[-1]), max(step_size, 1)
        )
    }
    panel = Panel(
        controls,
        fig,
        update,
        title=f"The input of one sigmoid of layer {layer} during training",
    )
    panel.artists = art
    panel.data = {"edges": edges, "shares": shares, "percentiles": pct}
    return panel


# ---------------------------------------------------------------------------
# 3. Santurkar et al. (2018): noisy BN, and gradient predictiveness
# ---------------------------------------------------------------------------


def plot_noisy_bn(runs: Mapping[str, History], layer: int = PROBE_LAYER):
    """Noisy BN against plain and BN networks.

    (a) test accuracy against the training step of every run; (b) the 15th,
    50th and 85th percentiles of the probed unit's input in the noisy BN
    network (the BN network's median, thin blue, for reference); (c) the mean
    move of those percentiles between two records (:func:`percentile_drift`'s
    ``mean_change``) for each run.

    Parameters
    ----------
    runs : kind -> History with at least ``"noisy"`` and ``"bn"``.
    layer : hidden layer of the probed unit.

    Returns
    -------
    (fig, axes).
    """
    fig, axes = subplots(1, 3, figsize=(11.5, 3.6))
    ax_a, ax_b, ax_c = axes
    for kind, h in runs.items():
        ax_a.plot(
            h.step,
            100 * h.test_acc,
            color=KIND_COLORS.get(kind),
            lw=2,
            label=KIND_LABELS.get(kind, kind),
        )
    ax_a.set_ylim(0, 100)
    ax_a.set_xlabel("training step")
    ax_a.set_ylabel("test accuracy (%)")
    ax_a.set_title("(a) test accuracy")
    ax_a.legend(loc="lower right")
    h = runs["noisy"]
    _draw_percentiles(
        ax_b,
        h.step,
        h.percentiles[layer],
        KIND_COLORS["noisy"],
        f"(b) noisy BN: layer-{layer} sigmoid input",
    )
    ax_b.plot(
        runs["bn"].step,
        runs["bn"].percentiles[layer][:, 1],
        color=BN_COLOR,
        lw=1,
        label="with BN: median",
    )
    ax_b.set_xlabel("training step")
    ax_b.set_ylabel("input of the sigmoid (with noise)")
    ax_b.legend(
        loc="lower left", fontsize=8, frameon=True, framealpha=0.85, edgecolor="none"
    )
    kinds = list(runs)
    values = [
        percentile_drift(runs[k].percentiles[layer])["mean_change"] for k in kinds
    ]
    ax_c.bar(
        [KIND_LABELS.get(k, k) for k in kinds],
        values,
        color=[KIND_COLORS.get(k) for k in kinds],
    )
    ax_c.set_ylabel("mean |move| of the percentiles")
    every = int(h.step[1] - h.step[0]) if h.step.size > 1 else 0
    ax_c.set_title(f"(c) move between records ({every} steps)")
    return fig, axes


def _flat(g) -> np.ndarray:
    if isinstance(g, Mapping):
        return np.concatenate([np.ravel(v) for _, v in sorted(g.items())])
    return np.ravel(np.asarray(g, dtype=np.float64))


def gradient_change(grad_fn: Callable, w, lr: float) -> float:
    """How much the gradient changes along one gradient-descent step.

    ``||g(w - lr * g(w)) - g(w)|| / ||g(w)||`` with Euclidean norms over all
    parameters (Santurkar et al. 2018's "gradient predictiveness", made
    relative). Small: the gradient at ``w`` still describes the slope where
    the step lands (a smooth landscape); near or above 1: it does not.

    Parameters
    ----------
    grad_fn : ``grad_fn(w) -> gradient`` with the structure of ``w``.
    w : the point: an array (any shape) or a dict name -> array. Not modified.
    lr : the step size (> 0).

    Returns
    -------
    float; ``nan`` when ``g(w)`` is exactly zero (a stationary point).
    """
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr}.")
    if isinstance(w, Mapping):
        w0 = {k: np.array(v, dtype=np.float64) for k, v in w.items()}
        g0 = {k: np.array(v, dtype=np.float64) for k, v in grad_fn(w0).items()}
        w1 = {k: w0[k] - lr * g0[k] for k in w0}
    else:
        w0 = np.array(w, dtype=np.float64)
        g0 = np.array(grad_fn(w0.copy()), dtype=np.float64)
        w1 = w0 - lr * g0
    a = _flat(g0)
    b = _flat(grad_fn(w1))
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        return math.nan
    return float(np.linalg.norm(b - a)) / norm


def network_gradient_change(net: Network, X, y, step_sizes) -> np.ndarray:
    """:func:`gradient_change` of a network's mean cross-entropy on one batch.

    Gradients in training mode (Batch Norm uses the batch's own statistics),
    computed on a copy of ``net``, so the network and its running statistics
    are unchanged. For a :class:`NoisyBNNetwork` the noise is switched off.

    Parameters
    ----------
    net : the network at the point of interest.
    X : the batch, shape (n_x, m); y : its labels, shape (m,).
    step_sizes : shape (k,): the step sizes lr to try.

    Returns
    -------
    shape (k,): the relative gradient change for each step size.
    """
    probe = net.copy()
    if isinstance(probe, NoisyBNNetwork):
        probe.noise_enabled = False
    X = probe.check_X(X)
    y = probe.check_y(y, X.shape[1])

    def grad_fn(params):
        for k, v in params.items():
            probe.params[k][...] = v
        _, grads = probe.loss_and_grads(X, y, training=True)
        return {k: g.copy() for k, g in grads.items()}

    w = {k: v.copy() for k, v in net.params.items()}
    sizes = np.atleast_1d(np.asarray(step_sizes, dtype=np.float64))
    return np.array([gradient_change(grad_fn, w, s) for s in sizes])


@dataclass(eq=False)
class PredictivenessRun:
    """Gradient predictiveness recorded along one training run.

    Attributes
    ----------
    kind : ``"plain"`` or ``"bn"``.
    history : the training History.
    step : (n_records,): training steps of the measurements.
    change : (n_records,): relative gradient change along a step of the
        training learning rate, at each record.
    step_sizes : (k,): step sizes of the final sweep.
    change_by_size : (k,): relative gradient change at the end of training for
        each step size.
    lr : the training learning rate (the step size of ``change``).
    """

    kind: str
    history: History
    step: np.ndarray
    change: np.ndarray
    step_sizes: np.ndarray
    change_by_size: np.ndarray
    lr: float


def predictiveness_runs(
    kinds=("plain", "bn"),
    steps: int = 300,
    eval_every: int = 30,
    lr: float = 0.1,
    seed: int = 0,
    n_measure: int = 500,
    step_sizes=None,
    sizes=FIGURE1_SIZES,
    activation: str = "relu",
    weight_scale: float | str = "he",
    data=None,
    progress: bool = True,
    verbose: bool = True,
) -> dict:
    """Train networks and measure gradient predictiveness along the way.

    Every ``eval_every`` steps, :func:`network_gradient_change` on a fixed
    batch of the last ``n_measure`` training images, at step size ``lr``; at the
    end, for every step size in ``step_sizes``.

    The default network is the Figure-1 shape with ReLU units and He
    initialization, trained with gradient descent at lr 0.1: both versions
    learn from the first steps, so the comparison is not spoiled by the plateau
    in which the sigmoid network without BN starts (where the gradient is tiny
    and hardly changes because nothing is being learned).

    Returns
    -------
    kind -> :class:`PredictivenessRun`.
    """
    X, y, Xt, yt = load_mnist() if data is None else data
    Xm, ym = X[:, -n_measure:], y[-n_measure:]
    sizes_grid = (
        lr * np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
        if step_sizes is None
        else np.asarray(step_sizes, dtype=np.float64)
    )
    out = {}
    for kind in kinds:
        if kind not in ("plain", "bn"):
            raise ValueError(f"kinds must be 'plain' or 'bn'; got {kind!r}.")
        net = Network(
            list(sizes),
            activation=activation,
            batchnorm=(kind == "bn"),
            weight_scale=weight_scale,
            seed=seed,
        )
        at, change = [], []

        def measure(step, _hist, net=net, at=at, change=change):
            at.append(step)
            change.append(network_gradient_change(net, Xm, ym, [lr])[0])

        t0 = time.perf_counter()
        hist = train(
            net,
            GD(lr),
            X,
            y,
            Xt,
            yt,
            batch_size=FIGURE1_BATCH,
            steps=steps,
            eval_every=eval_every,
            seed=seed,
            progress=progress,
            callback=measure,
        )
        final = network_gradient_change(net, Xm, ym, sizes_grid)
        out[kind] = PredictivenessRun(
            kind, hist, np.array(at), np.array(change), sizes_grid, final, float(lr)
        )
        if verbose:
            print(
                f"{KIND_LABELS[kind]:>10s}: {steps} steps in "
                f"{time.perf_counter() - t0:.1f} s; test accuracy "
                f"{100 * hist.test_acc[-1]:.1f} %; median gradient change "
                f"{np.median(out[kind].change[1:]):.2f}"
            )
    return out


def plot_predictiveness(runs: Mapping[str, PredictivenessRun]):
    """(a) relative gradient change along one training step, over training;
    (b) at the end of training, against the step size (log-log).

    Returns (fig, axes).
    """
    fig, (ax_a, ax_b) = subplots(1, 2, figsize=(10.0, 3.6))
    for kind, r in runs.items():
        color, label = KIND_COLORS[kind], KIND_LABELS[kind]
        ax_a.plot(r.step, r.change, "o-", color=color, lw=2, ms=4, label=label)
        ax_b.loglog(
            r.step_sizes, r.change_by_size, "o-", color=color, lw=2, label=label
        )
    ax_a.set_xlabel("training step")
    ax_a.set_ylabel("||g(w − lr·g) − g(w)|| / ||g(w)||")
    lr = runs[next(iter(runs))].lr
    ax_a.set_title(f"(a) gradient change along one step of {lr:g}")
    ax_a.set_ylim(bottom=0)
    ax_a.legend()
    sizes = runs[next(iter(runs))].step_sizes
    ax_b.xaxis.set_minor_formatter(NullFormatter())
    ax_b.set_xticks(sizes, [f"{v:g}" for v in sizes])
    ax_b.set_xlabel("step size along −g (log scale)")
    ax_b.set_ylabel("relative gradient change (log scale)")
    ax_b.set_title("(b) at the end of training")
    ax_b.legend()
    return fig, (ax_a, ax_b)
