"""Figures, panels and bookkeeping for notebook 03, "Batch Norm in a network".

The lesson itself (the forward loop, the bias check, each backward stage, the
gradient checks, the scale-invariance checks) lives in the notebook's cells.
What stays here, tested in ``tests/test_demos_network.py``:

* :func:`draw_bn_graph`: the computation graph of one Batch Norm layer.
* :func:`beta_table` / :func:`beta_table_html`: every "beta" of the course and
  of the frameworks, side by side, with the package's defaults read from its
  classes.
* The payoff, the same deep network trained with and without Batch Norm:
  :func:`spiral_task` (the data), :func:`train_networks` (many copies of one
  network trained at once as stacked arrays), :func:`compare` (several
  settings and seeds, plain and Batch Norm, in one call),
  :func:`plot_comparison` and :func:`plot_weight_norms` (figures) and
  :func:`robustness_panel` (a learning-rate and weight-scale panel with a
  Train button).
* :func:`format_table`: a list of dicts as an aligned text table (notebook 07
  and ``scripts/sweeps.py`` use it too).

Layout: arrays are (units, examples) = ``(n_l, m)``; gamma and beta ``(n_l, 1)``.
In :func:`train_networks` a leading axis numbers the copies: ``W[l]`` of all
copies has shape ``(K, n_l, n_{l-1})``.
"""

from __future__ import annotations

import html
import inspect
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

import ipywidgets as ipw
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from bnutils.layers import BatchNorm
from bnutils.plots import BN_COLOR, OKABE_ITO, PLAIN_COLOR, panel_figure, subplots
from bnutils.threads import limit_blas_threads
from bnutils.widgets import Progress, TrainPanel

__all__ = [
    "LR_CHOICES",
    "PAYOFF_LAYERS",
    "SATURATION_EDGE",
    "SCALE_CHOICES",
    "Pair",
    "Runs",
    "beta_table",
    "beta_table_html",
    "compare",
    "draw_bn_graph",
    "format_table",
    "grid_results",
    "grid_table",
    "plot_comparison",
    "plot_weight_norms",
    "robustness_panel",
    "spiral_task",
    "summary_rows",
    "train_networks",
]


# ----------------------------------------------------------------------------
# A text table
# ----------------------------------------------------------------------------


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Format a list of dicts as an aligned plain-text table (for ``print``).

    Parameters
    ----------
    rows : dicts sharing the keys in ``columns``.
    columns : the keys to show, in order; default: the keys of the first row.
    """
    if not rows:
        return "(no rows)"
    columns = list(rows[0]) if columns is None else list(columns)
    cells = [[str(r[c]) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    prev_layer = rows[0].get("layer")
    for r, row in zip(rows, cells, strict=True):
        if "layer" in r and r["layer"] != prev_layer:
            lines.append("")
            prev_layer = r["layer"]
        lines.append(
            "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# Backprop through Batch Norm
# ----------------------------------------------------------------------------

# Node name -> ((x, y) centre, label, kind).
_GRAPH_NODES = {
    "Z": ((0.7, 2.0), r"$Z$" + "\n(n_l, m)", "data"),
    "mu": ((2.9, 3.35), r"$\mu$" + "\n(n_l, 1)", "stat"),
    "var": ((5.0, 3.35), r"$\sigma^2$" + "\n(n_l, 1)", "stat"),
    "Z_norm": ((6.9, 2.0), r"$Z_{norm}$" + "\n(n_l, m)", "data"),
    "gamma": ((6.9, 0.35), r"$\gamma$" + "\n(n_l, 1)", "param"),
    "beta": ((9.2, 0.35), r"$\beta$" + "\n(n_l, 1)", "param"),
    "Z_tilde": ((9.2, 2.0), r"$\tilde Z$" + "\n(n_l, m)", "data"),
}
# (from, to, arc curvature): Z -> sigma^2 bends over the mu box.
_GRAPH_EDGES = [
    ("Z", "mu", 0.0),
    ("Z", "var", -0.45),
    ("mu", "var", 0.0),
    ("Z", "Z_norm", 0.0),
    ("mu", "Z_norm", 0.0),
    ("var", "Z_norm", 0.0),
    ("Z_norm", "Z_tilde", 0.0),
    ("gamma", "Z_tilde", 0.0),
    ("beta", "Z_tilde", 0.0),
]
_BOX_W, _BOX_H = 1.3, 0.9


def _edge_point(centre, towards, pad=0.12):
    """Where the segment from ``centre`` to ``towards`` leaves the node's box."""
    (x0, y0), (x1, y1) = centre, towards
    dx, dy = x1 - x0, y1 - y0
    hw, hh = _BOX_W / 2 + pad, _BOX_H / 2 + pad
    t = min(hw / abs(dx) if dx else np.inf, hh / abs(dy) if dy else np.inf)
    return (x0 + t * dx, y0 + t * dy)


def draw_bn_graph(ax=None):
    """Draw the computation graph of one Batch Norm layer (training mode).

    Boxes: ``Z -> mu, sigma^2 -> Z_norm -> Z_tilde`` with the learned ``gamma``
    and ``beta`` feeding ``Z_tilde``; each box shows its shape (blue: arrays of
    shape (n_l, m); yellow: mini-batch statistics; green: learned parameters).
    Forward arrows are black; the vermillion numbers give the order in which the
    backward pass computes the gradients.

    Returns a dict ``{"boxes": {node: FancyBboxPatch}, "arrows": [FancyArrowPatch],
    "texts": [Text]}``.
    """
    if ax is None:
        _, ax = subplots(figsize=(8.4, 3.6))
    colors = {
        "data": OKABE_ITO["sky_blue"],
        "stat": OKABE_ITO["yellow"],
        "param": OKABE_ITO["green"],
    }
    w, h = _BOX_W, _BOX_H
    boxes, texts, arrows = {}, [], []
    for name, ((x, y), label, kind) in _GRAPH_NODES.items():
        box = FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.05",
            facecolor=colors[kind],
            edgecolor="black",
            alpha=0.5,
            linewidth=1.0,
        )
        ax.add_patch(box)
        boxes[name] = box
        texts.append(ax.text(x, y, label, ha="center", va="center", fontsize=10))
    for a, b, rad in _GRAPH_EDGES:
        ca, cb = _GRAPH_NODES[a][0], _GRAPH_NODES[b][0]
        if rad:  # leave from the top of the source box, enter the top of the target
            start = (ca[0] + 0.2, ca[1] + h / 2 + 0.1)
            end = (cb[0] - 0.2, cb[1] + h / 2 + 0.1)
        else:
            start, end = _edge_point(ca, cb), _edge_point(cb, ca)
        arrow = FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=14,
            linewidth=1.2,
            color="black",
            shrinkA=0,
            shrinkB=0,
            connectionstyle=f"arc3,rad={rad}",
        )
        ax.add_patch(arrow)
        arrows.append(arrow)
    # Backward order: which gradient is computed when (placed below the box,
    # or right of it for sigma^2, where an arrow passes below).
    h_off = h / 2 + 0.12
    order = [
        ("beta", "1: dbeta", (0.0, -h_off), "center", "top"),
        ("gamma", "2: dgamma", (0.0, -h_off), "center", "top"),
        ("Z_norm", "3: dZ_norm", (0.0, -h_off), "center", "top"),
        ("var", "4: dvar", (w / 2 + 0.12, 0.0), "left", "center"),
        ("mu", "5: dmu", (0.0, -h_off), "center", "top"),
        ("Z", "6: dZ", (0.0, -h_off), "center", "top"),
    ]
    for node, label, (dx, dy), ha, va in order:
        (x, y) = _GRAPH_NODES[node][0]
        texts.append(
            ax.text(
                x + dx,
                y + dy,
                label,
                ha=ha,
                va=va,
                fontsize=9,
                color=OKABE_ITO["vermillion"],
                fontweight="bold",
            )
        )
    ax.set_xlim(-0.2, 10.1)
    ax.set_ylim(-0.55, 4.55)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(
        "Computation graph of one Batch Norm layer (training mode)\n"
        "forward: black arrows, left to right; backward: vermillion steps 1-6"
    )
    return {"boxes": boxes, "arrows": arrows, "texts": texts}


# ----------------------------------------------------------------------------
# Every "beta" of the course
# ----------------------------------------------------------------------------


def _default(cls, name: str) -> float:
    return float(inspect.signature(cls).parameters[name].default)


def beta_table() -> list[dict]:
    """Every "beta" of the course and of the frameworks, side by side.

    The package's defaults are read from the signatures of its classes
    (:class:`bnutils.optim.Momentum`, ``RMSprop``, ``Adam``,
    :class:`bnutils.layers.BatchNorm`), so the table cannot drift from the code.
    The last two rows are the frameworks' own names for the running-average
    weight (PyTorch ``BatchNorm1d(momentum=0.1)``, Keras
    ``BatchNormalization(momentum=0.99)``), which point in opposite directions.

    Returns
    -------
    rows : list of dicts with keys ``"beta"`` (what the course calls it),
        ``"name"`` (the package's or framework's name), ``"role"``,
        ``"value"``, ``"shape"`` and ``"learned"``.
    """
    from bnutils.optim import Adam, Momentum, RMSprop

    ema = _default(BatchNorm, "ema_beta")
    hyper = "no: a hyperparameter"
    return [
        {
            "beta": "Batch Norm shift beta[l]",
            "name": 'beta (net.params["beta1"], BatchNorm.beta)',
            "role": "Z_tilde = gamma * Z_norm + beta: sets each unit's mean",
            "value": "starts at 0, then learned",
            "shape": "(n_l, 1), one per unit",
            "learned": "yes: updated by GD, momentum, RMSprop or Adam",
        },
        {
            "beta": "momentum beta",
            "name": "momentum_beta (Momentum)",
            "role": "v = beta * v + (1 - beta) * dW: weight of the old velocity",
            "value": f"{_default(Momentum, 'momentum_beta'):g}",
            "shape": "scalar",
            "learned": hyper,
        },
        {
            "beta": "RMSprop beta (beta2 in the course)",
            "name": "rms_beta (RMSprop)",
            "role": "s = beta * s + (1 - beta) * dW**2: weight of the old mean square",
            "value": f"{_default(RMSprop, 'rms_beta'):g}",
            "shape": "scalar",
            "learned": hyper,
        },
        {
            "beta": "Adam beta1",
            "name": "beta1 (Adam)",
            "role": "first-moment (momentum) average of dW",
            "value": f"{_default(Adam, 'beta1'):g}",
            "shape": "scalar",
            "learned": hyper,
        },
        {
            "beta": "Adam beta2",
            "name": "beta2 (Adam)",
            "role": "second-moment (RMSprop) average of dW**2",
            "value": f"{_default(Adam, 'beta2'):g}",
            "shape": "scalar",
            "learned": hyper,
        },
        {
            "beta": "beta of the running statistics (test time)",
            "name": "ema_beta (BatchNorm, Network)",
            "role": "running = beta * running + (1 - beta) * batch mu or sigma^2",
            "value": f"{ema:g}",
            "shape": "scalar",
            "learned": hyper,
        },
        {
            "beta": "the same weight in PyTorch",
            "name": "BatchNorm1d(momentum=...) = 1 - ema_beta",
            "role": "running = (1 - p) * running + p * batch stat: the weight of the "
            "NEW value",
            "value": "0.1 (ema_beta 0.9)",
            "shape": "scalar",
            "learned": hyper,
        },
        {
            "beta": "the same weight in Keras",
            "name": "BatchNormalization(momentum=...) = ema_beta",
            "role": "running = mom * running + (1 - mom) * batch stat: the weight of "
            "the OLD value",
            "value": "0.99 (ema_beta 0.99)",
            "shape": "scalar",
            "learned": hyper,
        },
    ]


_BETA_HEADERS = {
    "beta": "the course's beta",
    "name": "name in bnutils or the framework",
    "role": "what it does",
    "value": "default",
    "shape": "shape",
    "learned": "learned?",
}


def beta_table_html(rows: list[dict] | None = None) -> str:
    """The rows of :func:`beta_table` as an HTML table (for ``IPython.display.HTML``).

    The first row (the Batch Norm shift, the only learned beta) is in bold.
    """
    rows = beta_table() if rows is None else rows
    head = "".join(
        f"<th style='text-align:left'>{html.escape(v)}</th>"
        for v in _BETA_HEADERS.values()
    )
    body = []
    for i, r in enumerate(rows):
        style = " style='font-weight:bold'" if i == 0 else ""
        cells = "".join(
            f"<td style='text-align:left'>{html.escape(str(r[k]))}</td>"
            for k in _BETA_HEADERS
        )
        body.append(f"<tr{style}>{cells}</tr>")
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


# ----------------------------------------------------------------------------
# The payoff: the same deep network with and without Batch Norm
# ----------------------------------------------------------------------------

#: The payoff's network: 2 inputs -> six tanh hidden layers of 16 units -> 3 classes.
PAYOFF_LAYERS = (2, 16, 16, 16, 16, 16, 16, 3)
#: The learning rates and initial weight scales of :func:`robustness_panel`.
LR_CHOICES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
SCALE_CHOICES = (0.1, 0.3, 1.0, 3.0)
#: The full grid of scripts/bn_network_grid.py, stored by its ``--save``.
GRID_FILE = "network_grid.npz"

#: A tanh output with ``|a|`` above this counts as saturated (as in notebook 07).
SATURATION_EDGE = 0.97

_sum = np.add.reduce  # sums without the Python overhead of ndarray.sum


def spiral_task(seed: int = 0, m: int = 600):
    """Three interleaved spirals (:func:`bnutils.data.spirals`, noise 0.2).

    Returns ``(X_train, y_train, X_test, y_test)``: X of shape (2, m), y int of
    shape (m,); the test set is drawn with the seed ``seed + 1``.
    """
    from bnutils.data import spirals

    X, y = spirals(m=m, noise=0.2, seed=seed)
    Xt, yt = spirals(m=m, noise=0.2, seed=seed + 1)
    return X, y, Xt, yt


@dataclass(eq=False)
class Runs:
    """K copies of one network trained together by :func:`train_networks`.

    Copy ``k`` has its own learning rate ``lr[k]``, initial weight scale
    ``scale[k]`` and seed ``seed[k]``; every copy sees the same mini-batches.

    Attributes (K copies, ``n_rec`` records at the steps ``step``)
    ----------------------------------------------------------------
    batchnorm : whether the hidden layers have Batch Norm.
    layer_sizes : ``(n_0, n_1, ..., n_L)``.
    lr, scale, seed : (K,).
    step : (n_rec,) the steps of the records: 0 (before training), every
        ``eval_every`` steps, and the last step.
    train_loss : (n_rec, K) mean cross-entropy on the whole training set.
    train_acc, test_acc : (n_rec, K) accuracy on the training and test sets.
    batch_loss : (steps, K) the loss of each mini-batch, as the step saw it.
    w_norm : (n_rec, L, K) the Frobenius norm ``||W[l]||`` of each layer.
    saturation : (n_rec, L-1, K) the share of each hidden layer's tanh outputs
        on the training set with ``|a| > 0.97`` (the flat tails, where the slope
        ``1 - a^2`` is below 0.06 and little gradient passes).
    diverged_at : (K,) the step at which a copy's loss or parameters stopped
        being finite numbers, -1 if never. Its records are NaN from then on.
    gamma, beta : for Batch Norm, one array (K, n_l) per hidden layer: the
        values after training (they start at 1 and 0).
    seconds : wall time of the training.

    How the records measure a Batch Norm network: each layer is normalized
    with the mean and variance of the whole training set (600 examples) at
    that moment, for the training loss and for the test accuracy alike. That
    is a fixed, full-batch version of what a training step does; the running
    averages a framework keeps for test time are notebook 06's topic.
    """

    batchnorm: bool
    layer_sizes: tuple
    lr: np.ndarray
    scale: np.ndarray
    seed: np.ndarray
    step: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    batch_loss: np.ndarray
    w_norm: np.ndarray
    saturation: np.ndarray
    diverged_at: np.ndarray
    gamma: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    seconds: float = float("nan")

    @property
    def K(self) -> int:
        """Number of copies."""
        return int(self.lr.shape[0])

    @property
    def diverged(self) -> np.ndarray:
        """(K,) bool: which copies diverged."""
        return self.diverged_at >= 0

    def subset(self, idx) -> Runs:
        """The copies ``idx`` (indices or a boolean mask) as a new :class:`Runs`."""
        idx = np.arange(self.K)[idx]
        return Runs(
            self.batchnorm,
            self.layer_sizes,
            self.lr[idx],
            self.scale[idx],
            self.seed[idx],
            self.step,
            self.train_loss[:, idx],
            self.train_acc[:, idx],
            self.test_acc[:, idx],
            self.batch_loss[:, idx],
            self.w_norm[:, :, idx],
            self.saturation[:, :, idx],
            self.diverged_at[idx],
            [g[idx] for g in self.gamma],
            [b[idx] for b in self.beta],
            self.seconds,
        )


class Pair(NamedTuple):
    """The same setting trained without (``plain``) and with (``bn``) Batch Norm."""

    plain: Runs
    bn: Runs


def _check_positive(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must hold positive finite numbers; got {values!r}.")
    return arr


def _check_count(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}.")
    return int(value)


class _Stack:
    """K copies of a tanh network as stacked arrays (bookkeeping for
    :func:`train_networks`): ``W[l]`` has shape (K, n_l, n_{l-1}).

    One step is the notebook's forward loop, the compact Batch Norm backward
    pass and a gradient-descent update, with a leading copy axis on every
    array; :func:`train_networks`'s tests check it against
    :class:`bnutils.network.Network` trained by :func:`bnutils.train.train`.
    """

    def __init__(self, layer_sizes, batchnorm, lr, scale, seed, dtype, eps):
        from bnutils.network import Network

        K = lr.shape[0]
        self.L = len(layer_sizes) - 1
        self.bn = batchnorm
        self.eps = dtype(eps)
        Ws: list[list] = [[] for _ in range(self.L)]
        nets: dict = {}
        for s, a in zip(seed, scale, strict=True):
            if s not in nets:  # the package's initialization, seeded as Network
                nets[s] = Network(
                    list(layer_sizes),
                    activation="tanh",
                    batchnorm=batchnorm,
                    weight_scale="xavier",
                    seed=int(s),
                )
            for layer, W in enumerate(Ws, start=1):
                W.append(nets[s].params[f"W{layer}"] * a)
        self.W = [np.stack(W).astype(dtype) for W in Ws]
        self.lr = lr.astype(dtype).reshape(K, 1, 1)
        n = layer_sizes
        with_b = [self.L - 1] if batchnorm else range(self.L)
        self.b = {i: np.zeros((K, n[i + 1], 1), dtype) for i in with_b}
        hidden = range(self.L - 1) if batchnorm else ()
        self.gamma = [np.ones((K, n[i + 1], 1), dtype) for i in hidden]
        self.beta = [np.zeros((K, n[i + 1], 1), dtype) for i in hidden]

    def forward(self, X, stats=None, keep=False):
        """Logits (K, n_L, m) for inputs X (n_0, m); also the per-layer cache
        (when ``keep``) and the Batch Norm statistics used (or ``stats``)."""
        A = X
        cache, used = [], []
        for i in range(self.L):
            Z = np.matmul(self.W[i], A)
            if i == self.L - 1:
                Z += self.b[i]
                return Z, cache, used
            Z_norm = inv_std = None
            if self.bn:
                if stats is None:
                    mu = _sum(Z, axis=2, keepdims=True)
                    mu *= 1.0 / Z.shape[2]
                    Z -= mu
                    var = _sum(Z * Z, axis=2, keepdims=True)
                    var *= 1.0 / Z.shape[2]
                else:
                    mu, var = stats[i]
                    Z -= mu
                used.append((mu, var))
                inv_std = var + self.eps
                np.sqrt(inv_std, out=inv_std)
                np.divide(1.0, inv_std, out=inv_std)
                Z *= inv_std
                Z_norm = Z
                A = Z_norm * self.gamma[i]
                A += self.beta[i]
            else:
                A = Z
                A += self.b[i]
            np.tanh(A, out=A)
            if keep:
                cache.append((Z_norm, inv_std, A))
        raise AssertionError("unreachable")  # pragma: no cover

    def step(self, xb, yb) -> np.ndarray:
        """One gradient-descent step on the batch (xb (n_0, B), yb (B,));
        returns each copy's loss before the step, shape (K,)."""
        B = yb.shape[0]
        cols = np.arange(B)
        logits, cache, _ = self.forward(xb, keep=True)
        logits -= logits.max(axis=1, keepdims=True)
        P = np.exp(logits)
        total = _sum(P, axis=1, keepdims=True)
        loss = _sum(np.log(total[:, 0, :]) - logits[:, yb, cols], axis=1) / B
        P /= total
        P[:, yb, cols] -= 1.0
        P *= 1.0 / B
        dZ = P  # dL/dZ[L]
        for i in range(self.L - 1, -1, -1):
            A_prev = cache[i - 1][2] if i > 0 else xb
            dW = np.matmul(dZ, np.swapaxes(A_prev, 1, 2) if i > 0 else xb.T)
            if i in self.b:
                self.b[i] -= self.lr * _sum(dZ, axis=2, keepdims=True)
            if i > 0:
                Z_norm, inv_std, A = cache[i - 1]
                dZt = np.matmul(np.swapaxes(self.W[i], 1, 2), dZ)
                slope = A * A
                np.subtract(1.0, slope, out=slope)
                dZt *= slope  # through tanh: dL/dZ_tilde
            dW *= self.lr
            self.W[i] -= dW
            if i > 0:
                h = i - 1
                if self.bn:  # the compact formula, common factor gamma*inv_std out
                    m = dZt.shape[2]
                    dbeta = _sum(dZt, axis=2, keepdims=True)
                    dgamma = _sum(dZt * Z_norm, axis=2, keepdims=True)
                    dZ = Z_norm * (dgamma * (1.0 / m))
                    np.subtract(dZt, dZ, out=dZ)
                    dZ -= dbeta * (1.0 / m)
                    dZ *= self.gamma[h] * inv_std
                    self.gamma[h] -= self.lr * dgamma
                    self.beta[h] -= self.lr * dbeta
                else:
                    dZ = dZt
        return loss

    def stop(self, bad: np.ndarray) -> None:
        """Freeze the copies ``bad`` (diverged): zero parameters, zero step."""
        for p in [*self.W, *self.b.values(), *self.gamma, *self.beta]:
            p[bad] = 0.0
        self.lr[bad] = 0.0


def train_networks(
    batchnorm: bool,
    lr,
    scale=1.0,
    seed=0,
    *,
    steps: int = 300,
    data=None,
    layer_sizes=PAYOFF_LAYERS,
    batch_size: int = 60,
    eval_every: int = 20,
    batch_seed: int = 0,
    dtype=np.float32,
    eps: float = 1e-5,
    callback: Callable[[int, int], None] | None = None,
) -> Runs:
    """Train K copies of a tanh network with plain mini-batch gradient descent,
    all at once as stacked arrays.

    Parameters
    ----------
    batchnorm : Batch Norm on every hidden layer (the output layer never has it;
        with Batch Norm the hidden layers have no bias b, without it they do).
    lr, scale, seed : numbers or sequences, broadcast against each other to K
        copies. Copy k starts from the weights of
        ``Network(layer_sizes, activation="tanh", batchnorm=batchnorm,
        weight_scale="xavier", seed=seed[k])`` (``W[l] ~ N(0, 1/n_{l-1})``)
        multiplied by ``scale[k]``, so a plain and a Batch Norm copy with the
        same seed and scale start from the same W; b = 0, gamma = 1, beta = 0.
        It is trained with learning rate ``lr[k]``.
    steps : mini-batch steps.
    data : ``(X_train, y_train, X_test, y_test)``, X of shape (n_0, m); default
        :func:`spiral_task`.
    layer_sizes : ``(n_0, ..., n_L)``; default :data:`PAYOFF_LAYERS`.
    batch_size : examples per mini-batch. The batches are those of
        :func:`bnutils.train.train` with ``seed=batch_seed`` (each epoch a new
        permutation, the incomplete last batch dropped), the same for every copy.
    eval_every : record every this many steps (and at step 0 and the end).
    dtype : np.float32 (default, fast) or np.float64 (the tests compare it
        with the package's Network step by step).
    eps : Batch Norm's eps.
    callback : ``callback(step, steps)`` after each recorded step (progress).

    Returns
    -------
    :class:`Runs`. A copy whose loss or parameters stop being finite is frozen
    and marked in ``diverged_at``; the others go on unaffected.
    """
    if not isinstance(batchnorm, (bool, np.bool_)):
        raise ValueError(f"batchnorm must be True or False; got {batchnorm!r}.")
    lr = _check_positive("lr", lr)
    scale = _check_positive("scale", scale)
    seed_arr = np.asarray(seed).ravel()
    if seed_arr.size == 0 or not np.issubdtype(seed_arr.dtype, np.integer):
        raise ValueError(f"seed must hold non-negative integers; got {seed!r}.")
    if np.any(seed_arr < 0):
        raise ValueError(f"seed must hold non-negative integers; got {seed!r}.")
    try:
        lr, scale, seed_arr = (
            np.array(a) for a in np.broadcast_arrays(lr, scale, seed_arr)
        )
    except ValueError:
        raise ValueError(
            "lr, scale and seed must have the same length (or length 1); got "
            f"{lr.size}, {scale.size} and {seed_arr.size}."
        ) from None
    steps = _check_count("steps", steps, 1)
    batch_size = _check_count("batch_size", batch_size, 2)
    eval_every = _check_count("eval_every", eval_every, 1)
    batch_seed = _check_count("batch_seed", batch_seed, 0)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be np.float32 or np.float64; got {dt}.")
    X, y, Xt, yt = spiral_task() if data is None else data
    layer_sizes = tuple(int(n) for n in layer_sizes)
    if X.shape[0] != layer_sizes[0] or Xt.shape[0] != layer_sizes[0]:
        raise ValueError(
            f"X has {X.shape[0]} rows but the input layer has {layer_sizes[0]} "
            "units: X must have shape (n_0, m)."
        )
    m = X.shape[1]
    if batch_size > m:
        raise ValueError(f"batch_size = {batch_size} is larger than m = {m}.")
    y, yt = np.asarray(y), np.asarray(yt)
    if y.shape != (m,) or yt.shape != (Xt.shape[1],):
        raise ValueError("y and y_test must be 1-D label arrays, one per column of X.")

    stack = _Stack(layer_sizes, bool(batchnorm), lr, scale, seed_arr, dt.type, eps)
    K, L = lr.shape[0], stack.L
    rec = np.unique(np.r_[0, np.arange(eval_every, steps + 1, eval_every), steps])
    n_rec = rec.shape[0]

    def nans(*shape):
        return np.full(shape, np.nan)

    out = Runs(
        bool(batchnorm),
        layer_sizes,
        lr,
        scale,
        seed_arr,
        rec,
        nans(n_rec, K),
        nans(n_rec, K),
        nans(n_rec, K),
        nans(steps, K),
        nans(n_rec, L, K),
        nans(n_rec, L - 1, K),
        np.full(K, -1),
    )
    X, Xt = X.astype(dt), Xt.astype(dt)
    XT = np.ascontiguousarray(X.T)
    alive = np.ones(K, dtype=bool)
    cols = np.arange(m)

    def record(r: int) -> None:
        logits, cache, stats = stack.forward(X, keep=True)
        for i, (_, _, A) in enumerate(cache):
            out.saturation[r, i] = np.mean(np.abs(A) > SATURATION_EDGE, axis=(1, 2))
        logits -= logits.max(axis=1, keepdims=True)
        lse = np.log(_sum(np.exp(logits), axis=1))
        out.train_loss[r] = _sum(lse - logits[:, y, cols], axis=1) / m
        out.train_acc[r] = np.mean(logits.argmax(axis=1) == y, axis=1)
        # Test examples normalized with the training set's statistics.
        logits_t, _, _ = stack.forward(Xt, stats if batchnorm else None)
        out.test_acc[r] = np.mean(logits_t.argmax(axis=1) == yt, axis=1)
        for i, W in enumerate(stack.W):
            W64 = W.astype(np.float64)  # no overflow of the squares in float32
            out.w_norm[r, i] = np.sqrt(np.einsum("kij,kij->k", W64, W64))
        for arr in (out.train_loss, out.train_acc, out.test_acc):
            arr[r, ~alive] = np.nan
        out.w_norm[r][:, ~alive] = np.nan
        out.saturation[r][:, ~alive] = np.nan

    t0 = time.perf_counter()
    rng = np.random.default_rng(batch_seed)
    order = rng.permutation(m)
    pos = 0
    with limit_blas_threads(1), np.errstate(all="ignore"):
        record(0)
        r = 1
        for s in range(1, steps + 1):
            if pos + batch_size > m:
                order = rng.permutation(m)
                pos = 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            loss = stack.step(XT[idx].T, y[idx])
            out.batch_loss[s - 1] = np.where(alive, loss, np.nan)
            bad = alive & ~np.isfinite(loss)
            if s % 10 == 0 or s == steps or rec[min(r, n_rec - 1)] == s:
                total = sum(np.einsum("kij->k", W) for W in stack.W)
                bad |= alive & ~np.isfinite(total)
            if bad.any():
                out.diverged_at[bad] = s
                alive &= ~bad
                stack.stop(bad)
            if r < n_rec and rec[r] == s:
                record(r)
                r += 1
                if callback is not None:
                    callback(s, steps)
    out.seconds = time.perf_counter() - t0
    if batchnorm:
        out.gamma = [g[:, :, 0].astype(np.float64) for g in stack.gamma]
        out.beta = [b[:, :, 0].astype(np.float64) for b in stack.beta]
        for g, b in zip(out.gamma, out.beta, strict=True):
            g[~alive] = np.nan
            b[~alive] = np.nan
    return out


def compare(
    conditions: Sequence[tuple[float, float]],
    seeds=(0, 1, 2, 3, 4),
    *,
    steps: int = 300,
    data=None,
    progress: bool = True,
    callback: Callable[[int, int], None] | None = None,
    **kwargs,
) -> dict:
    """Every setting trained without and with Batch Norm, in two stacked runs.

    Parameters
    ----------
    conditions : ``(lr, scale)`` pairs.
    seeds : the seeds of every condition (a sequence), or a dict
        ``{(lr, scale): seeds}`` for conditions with their own seeds.
    steps, data : as in :func:`train_networks` (default data:
        :func:`spiral_task`); further keywords go to it too.
    progress : a progress bar (inside a notebook).
    callback : ``callback(done, total)`` as the two runs progress.

    Returns
    -------
    ``{(lr, scale): Pair(plain, bn)}``, each :class:`Runs` holding that
    condition's seeds, in the order of ``conditions``.
    """
    conditions = [(float(lr), float(sc)) for lr, sc in conditions]
    if not conditions:
        raise ValueError("give at least one (lr, scale) condition.")
    per = {
        c: list(seeds[c]) if isinstance(seeds, dict) else list(seeds)
        for c in conditions
    }
    lr = np.concatenate([[c[0]] * len(per[c]) for c in conditions])
    sc = np.concatenate([[c[1]] * len(per[c]) for c in conditions])
    sd = np.concatenate([per[c] for c in conditions]).astype(int)
    data = spiral_task() if data is None else data
    runs = {}
    with Progress(2 * steps, "training", enabled=progress) as bar:
        for j, bn in enumerate((False, True)):

            def tick(done, total, j=j):
                bar.update(j * steps + done)
                if callback is not None:
                    callback(j * steps + done, 2 * total)

            runs[bn] = train_networks(
                bn, lr, sc, sd, steps=steps, data=data, callback=tick, **kwargs
            )
    out, start = {}, 0
    for c in conditions:
        idx = np.arange(start, start + len(per[c]))
        start += len(per[c])
        out[c] = Pair(runs[False].subset(idx), runs[True].subset(idx))
    return out


def _final(runs: Runs, name: str) -> np.ndarray:
    return getattr(runs, name)[-1]


def _span(values: np.ndarray, fmt: str) -> str:
    """``mean (min..max)`` of the finite values, formatted; "-" if none."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return "-"
    return f"{v.mean():{fmt}} ({v.min():{fmt}}..{v.max():{fmt}})"


def summary_rows(results: dict) -> list[dict]:
    """One row per setting and network: the final training loss and test
    accuracy over the seeds (mean, min..max), and how many copies diverged.

    ``results`` is the dict of :func:`compare`. Returns dicts with keys
    ``"lr"``, ``"scale"``, ``"network"``, ``"seeds"``, ``"start loss"``,
    ``"final loss (mean, min..max)"``, ``"test acc (mean, min..max)"`` and
    ``"diverged"`` (strings, for :func:`format_table`). The loss is the
    training loss of :class:`Runs` (all 600 training points), the quantity the
    figures plot.
    """
    rows = []
    for (lr, sc), pair in results.items():
        for label, r in (("without BN", pair.plain), ("with BN", pair.bn)):
            rows.append(
                {
                    "lr": f"{lr:g}",
                    "scale": f"{sc:g}",
                    "network": label,
                    "seeds": str(r.K),
                    "start loss": f"{np.nanmean(r.train_loss[0]):.3f}",
                    "final loss (mean, min..max)": _span(
                        _final(r, "train_loss"), ".3f"
                    ),
                    "test acc (mean, min..max)": _span(_final(r, "test_acc"), ".0%"),
                    "diverged": f"{int(r.diverged.sum())} of {r.K}",
                }
            )
    return rows


# ----------------------------------------------------------------------------
# The full grid, as stored by scripts/bn_network_grid.py --save
# ----------------------------------------------------------------------------


def grid_results(path=None) -> dict:
    """What ``scripts/bn_network_grid.py --save`` stored: every learning rate of
    :data:`LR_CHOICES` and weight scale of :data:`SCALE_CHOICES`, five seeds,
    without and with Batch Norm, trained by :func:`compare`.

    Returns a dict of numpy arrays: ``"steps"`` (T,) the run lengths (300 and
    1000), ``"lrs"`` (n_lr,), ``"scales"`` (n_scale,), ``"seeds"`` (S,),
    ``"test_acc"`` and ``"train_loss"`` of shape (T, 2, n_lr, n_scale, S): the
    final test accuracy and training loss, index 0 of the second axis without
    Batch Norm and 1 with it (NaN where a copy diverged), and ``"command"``.
    """
    if path is None:
        ref = resources.files("bnutils") / "datafiles" / GRID_FILE
        with resources.as_file(ref) as p:
            return _read_grid(p)
    return _read_grid(path)


def _read_grid(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: run `python scripts/bn_network_grid.py --save` "
            "to create it."
        ) from None
    out["command"] = str(out["command"])
    return out


def grid_table(acc: np.ndarray, lrs=LR_CHOICES, scales=SCALE_CHOICES) -> str:
    """A text grid of accuracies, learning rate down and weight scale across:
    each cell ``mean (worst-best)`` over the last axis (the seeds), in %.

    acc : shape (n_lr, n_scale, S), e.g. ``grid_results()["test_acc"][t, w]``;
    a diverged copy (NaN) counts as 0 %, marked with ``*``.
    """
    acc = np.asarray(acc, dtype=float)
    if acc.ndim != 3 or acc.shape[:2] != (len(lrs), len(scales)):
        raise ValueError(
            f"acc must have shape ({len(lrs)}, {len(scales)}, seeds); got {acc.shape}."
        )
    lines = ["lr \\ scale".ljust(11) + "".join(f"{s:>15g}" for s in scales)]
    for i, lr in enumerate(lrs):
        cells = []
        for j in range(len(scales)):
            a = acc[i, j]
            mark = "*" if np.isnan(a).any() else ""
            a = np.nan_to_num(a, nan=0.0)
            cells.append(f"{a.mean():4.0%} ({a.min():.0%}-{a.max():.0%}){mark}")
        lines.append(f"{lr:<11g}" + "".join(f"{c:>15s}" for c in cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# Figures of the payoff
# ----------------------------------------------------------------------------


def _nan_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over the copies (axis 1), ignoring NaN (a diverged
    copy's records), without numpy's warnings for an all-NaN record."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            np.nanmean(values, axis=1),
            np.nanmin(values, axis=1),
            np.nanmax(values, axis=1),
        )


def _band(ax, step, values, color, label):
    """Mean over the copies (line) and min..max (band), over finite values."""
    mean, lo, hi = _nan_stats(values)
    (line,) = ax.plot(step, mean, color=color, lw=2, label=label)
    band = ax.fill_between(step, lo, hi, color=color, alpha=0.2, lw=0)
    return line, band


def _label(runs: Runs, name: str) -> str:
    n_div = int(runs.diverged.sum())
    extra = f", {n_div} diverged" if n_div else ""
    return f"{name} ({runs.K} seeds: mean, min-max{extra})"


def _draw_pair(ax_loss, ax_acc, pair: Pair) -> dict:
    artists = {}
    for key, runs, color, name in (
        ("plain", pair.plain, PLAIN_COLOR, "without BN"),
        ("bn", pair.bn, BN_COLOR, "with BN"),
    ):
        artists[f"{key}_loss"] = _band(
            ax_loss, runs.step, runs.train_loss, color, _label(runs, name)
        )
        artists[f"{key}_acc"] = _band(
            ax_acc, runs.step, runs.test_acc, color, _label(runs, name)
        )
    return artists


#: Tick values of the log-scale loss axes, labelled as plain numbers (clearer for
#: a learner than 10^-1, and cheaper to draw than numpy's minor log ticks).
_LOSS_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _log_loss_axis(ax) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator(_LOSS_TICKS))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))


def _style_axes(ax_loss, ax_acc, title: str, chance: bool = True) -> None:
    """Scales, labels, titles and legends of a loss and an accuracy axes; the
    chance line is drawn unless ``chance`` is False (a panel draws it once)."""
    _log_loss_axis(ax_loss)
    ax_loss.set_xlabel("step (mini-batch of 60)")
    ax_loss.set_ylabel("training loss (log scale)\nall 600 training points")
    ax_loss.set_title(f"Training loss{title}")
    ax_loss.legend(loc="lower left", fontsize=8)
    if chance:
        ax_acc.axhline(1 / 3, color="0.5", ls=":", lw=1, label="chance (1/3)")
    ax_acc.set_ylim(0.0, 1.02)
    ax_acc.set_xlabel("step (mini-batch of 60)")
    ax_acc.set_ylabel("test accuracy (600 new points)")
    ax_acc.set_title(f"Test accuracy{title}")
    ax_acc.legend(loc="lower right", fontsize=8)


def _setting(pair: Pair) -> str:
    return f"lr {pair.bn.lr[0]:g}, weight scale {pair.bn.scale[0]:g}"


def plot_comparison(pair: Pair, data=None, axes=None) -> dict:
    """Training loss and test accuracy of one setting, without and with Batch
    Norm: the mean over the seeds (line) and their min..max (band).

    Parameters
    ----------
    pair : a :class:`Pair` (one value of :func:`compare`'s dict).
    data : ``(X_train, y_train, ...)``: also draw the training data in a first
        panel (only when ``axes`` is None).
    axes : two Axes (loss, accuracy), or None for a new figure.

    Returns a dict of the artists: ``"plain_loss"``, ``"bn_loss"``,
    ``"plain_acc"``, ``"bn_acc"`` (each a (line, band) pair) and, with data,
    ``"data"`` (the scatter collections).
    """
    artists = {}
    if axes is None:
        if data is not None:
            _, (ax_d, ax_l, ax_a) = subplots(
                1, 3, figsize=(12.0, 3.6), width_ratios=[0.8, 1, 1]
            )
            artists["data"] = _draw_spirals(ax_d, data[0], data[1])
        else:
            _, (ax_l, ax_a) = subplots(1, 2, figsize=(9.5, 3.6))
    else:
        ax_l, ax_a = axes
    artists.update(_draw_pair(ax_l, ax_a, pair))
    _style_axes(ax_l, ax_a, f" ({_setting(pair)})")
    return artists


_CLASS_COLORS = (OKABE_ITO["orange"], OKABE_ITO["sky_blue"], OKABE_ITO["green"])


def _draw_spirals(ax, X, y):
    out = []
    for k in range(int(np.max(y)) + 1):
        sel = y == k
        out.append(
            ax.scatter(
                X[0, sel],
                X[1, sel],
                s=6,
                color=_CLASS_COLORS[k % 3],
                label=f"class {k}",
            )
        )
    ax.set_aspect("equal")
    ax.set_xlabel("feature x1")
    ax.set_ylabel("feature x2")
    ax.set_title("The task: 3 spirals (600 training points)")
    ax.legend(loc="upper left", fontsize=7, markerscale=2)
    return out


def plot_weight_norms(pair: Pair, ax=None) -> dict:
    """How ``||W[l]||`` of each hidden layer moves during training, relative to
    its start, for the first copy of each network: Batch Norm solid, plain
    dashed, one colour per layer.

    Returns ``{"bn": [Line2D per layer], "plain": [Line2D per layer]}``.
    """
    if ax is None:
        _, ax = subplots(figsize=(7.0, 3.6))
    # Six hues that are easy to tell apart (no second blue); the line-style key
    # below gets its own legend, so no layer colour doubles as "with BN".
    colors = [
        OKABE_ITO[c]
        for c in ("blue", "orange", "green", "vermillion", "purple", "black")
    ]
    lines: dict = {"bn": [], "plain": []}
    for key, runs, ls in (("bn", pair.bn, "-"), ("plain", pair.plain, "--")):
        L = runs.w_norm.shape[1]
        for i in range(L - 1):
            norm = runs.w_norm[:, i, 0]
            (ln,) = ax.plot(
                runs.step,
                norm / norm[0],
                ls=ls,
                color=colors[i % len(colors)],
                lw=1.6,
                label=f"W[{i + 1}]" if key == "bn" else None,
            )
            lines[key].append(ln)
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xlabel("step (mini-batch of 60)")
    ax.set_ylabel("||W[l]|| / its starting value")
    ax.set_title(
        f"Hidden-layer ||W[l]||: {_setting(pair)}, seed {int(pair.bn.seed[0])}",
        fontsize=10,
    )
    layers_key = ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="layer"
    )
    ax.add_artist(layers_key)
    style = [
        Line2D([], [], color="0.6", ls="-", lw=1.6, label="with BN"),
        Line2D([], [], color="0.6", ls="--", lw=1.6, label="without BN"),
    ]
    ax.legend(
        handles=style,
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        fontsize=8,
        title="line style",
    )
    return lines


# ----------------------------------------------------------------------------
# The robustness panel
# ----------------------------------------------------------------------------


def _verdict(runs: Runs) -> str:
    loss = _final(runs, "train_loss")
    acc = _final(runs, "test_acc")
    start = float(np.nanmean(runs.train_loss[0]))
    n_div = int(runs.diverged.sum())
    ok = np.isfinite(loss)
    if not ok.any():
        return f"<b>diverged</b> ({n_div} of {runs.K} seeds)"
    text = (
        f"loss {start:.2f} &rarr; {loss[ok].mean():.3f} "
        f"({loss[ok].min():.3f}..{loss[ok].max():.3f}), test accuracy "
        f"{acc[ok].mean():.0%} ({acc[ok].min():.0%}..{acc[ok].max():.0%})"
    )
    if n_div:
        text += f"; <b>{n_div} of {runs.K} seeds diverged</b>"
    if loss[ok].mean() >= start:
        text = "<b>not training</b>: " + text
    return text


def robustness_panel(
    results: dict | None = None,
    *,
    seeds=(0, 1, 2, 3, 4),
    steps: int = 300,
    data=None,
    lr: float = 0.1,
    scale: float = 1.0,
) -> TrainPanel:
    """Choose a learning rate and an initial weight scale, click Train: the
    same network without and with Batch Norm, several seeds each.

    Parameters
    ----------
    results : the dict of :func:`compare`; settings found there are shown
        without training again (the first draw uses it too).
    seeds, steps, data : of the new runs (as in :func:`compare`).
    lr, scale : the starting position of the controls (one of
        :data:`LR_CHOICES` and :data:`SCALE_CHOICES`).

    Left: the training loss (mean over the seeds and min..max band); right:
    the test accuracy; the thin dotted lines are the starting setting, for
    reference. The readout gives the final numbers of both networks.
    """
    if lr not in LR_CHOICES or scale not in SCALE_CHOICES:
        raise ValueError(
            f"lr must be one of {LR_CHOICES} and scale one of {SCALE_CHOICES}; "
            f"got {lr!r} and {scale!r}."
        )
    data = spiral_task() if data is None else data
    seeds = tuple(int(s) for s in seeds)
    cache: dict = {}
    for cond, pair in (results or {}).items():
        if pair.bn.K == len(seeds) and tuple(pair.bn.seed) == seeds:
            cache[cond] = pair

    def get(lr_, scale_, progress=None) -> Pair:
        key = (float(lr_), float(scale_))
        if key not in cache:
            cache.update(
                compare(
                    [key],
                    seeds,
                    steps=steps,
                    data=data,
                    progress=False,
                    callback=progress,
                )
            )
        return cache[key]

    fig, (ax_l, ax_a) = panel_figure(1, 2, figsize=(9.6, 3.7))
    ref = get(lr, scale)
    for ax, name in ((ax_l, "train_loss"), (ax_a, "test_acc")):
        for runs, color in ((ref.plain, PLAIN_COLOR), (ref.bn, BN_COLOR)):
            ax.plot(
                runs.step,
                _nan_stats(getattr(runs, name))[0],
                color=color,
                lw=1,
                ls=":",
            )
    ax_l.plot(
        [], [], color="0.4", lw=1, ls=":", label=f"start: lr {lr:g}, scale {scale:g}"
    )
    ax_a.axhline(1 / 3, color="0.5", ls=":", lw=1, label="chance (1/3)")
    state: dict = {"artists": None}
    shown: dict = {}  # becomes panel.data

    def update(lr, scale, progress):
        pair = get(lr, scale, progress)
        if state["artists"] is not None:
            for line, band in state["artists"].values():
                line.remove()
                band.remove()
        for ax in (ax_l, ax_a):
            leg = ax.get_legend()
            if leg is not None:
                leg.remove()
        state["artists"] = _draw_pair(ax_l, ax_a, pair)
        _style_axes(ax_l, ax_a, f" (lr {lr:g}, scale {scale:g})", chance=False)
        finite = np.concatenate(
            [r.train_loss.ravel() for r in (pair.plain, pair.bn, ref.plain, ref.bn)]
        )
        finite = finite[np.isfinite(finite) & (finite > 0)]
        if finite.size:
            ax_l.set_ylim(max(finite.min() * 0.7, 1e-3), max(finite.max() * 1.5, 1.5))
        shown.update(pair=pair, cached=sorted(cache))
        return (
            f"<b>lr {lr:g}, initial weight scale {scale:g}</b> ({len(seeds)} seeds, "
            f"{steps} steps of plain gradient descent)<br>"
            f"without BN: {_verdict(pair.plain)}<br>"
            f"with BN: {_verdict(pair.bn)}"
        )

    controls = {
        "lr": ipw.SelectionSlider(
            options=list(LR_CHOICES),
            value=lr,
            description="learning rate",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=ipw.Layout(width="420px"),
        ),
        "scale": ipw.SelectionSlider(
            options=list(SCALE_CHOICES),
            value=scale,
            description="initial weight scale (x Xavier)",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=ipw.Layout(width="420px"),
        ),
    }
    panel = TrainPanel(
        controls,
        fig,
        update,
        title="The same network without and with Batch Norm: pick a setting, "
        "click Train",
    )
    panel.artists = {"axes": (ax_l, ax_a), "current": state}
    panel.data = shown
    return panel
