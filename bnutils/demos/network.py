"""Demonstrations for notebook 03, "Batch Norm in a network".

What the notebook shows, computed here so that the notebook stays short and the
computations are tested (``tests/test_demos_network.py``):

* :func:`forward_shape_rows` / :func:`format_table`: every array of the chain
  ``X -> Z[1] -> BN -> Z_tilde[1] -> A[1] -> Z[2] -> ...`` with its shape.
* :func:`bias_invariance` and :func:`bias_gradient`: a bias ``b`` added before
  Batch Norm changes nothing and receives a zero gradient.
* :func:`draw_bn_graph`: the computation graph of one Batch Norm layer.
* :func:`staged_backward`: the backward pass one node of the graph at a time
  (the notebook compares it with the compact formula of
  :func:`bnutils.layers.batchnorm_backward` and checks both against centred
  differences with :func:`bnutils.checks.grad_check`).
* :func:`scale_invariance` and :func:`scale_invariance_panel`: ``BN(a W u) =
  BN(W u)`` and the ``1/a`` gradient scaling (Ioffe & Szegedy 2015, section 3.3).
* :func:`beta_table` / :func:`beta_table_html` / :func:`beta_keyword_errors`:
  every "beta" of the course, side by side.
* :func:`train_optimizers`, :func:`plot_optimizer_comparison` and
  :func:`optimizer_panel`: gamma and beta trained by GD, momentum, RMSprop and
  Adam.

Layout: arrays are (units, examples) = ``(n_l, m)``; gamma and beta ``(n_l, 1)``.
"""

from __future__ import annotations

import html
import inspect
from dataclasses import dataclass

import ipywidgets as ipw
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from bnutils.layers import BatchNorm, BNCache, batchnorm_backward, batchnorm_forward
from bnutils.plots import BN_COLOR, OKABE_ITO, PLAIN_COLOR, panel_figure, subplots
from bnutils.widgets import Panel, Progress, TrainPanel, int_slider, log_slider

__all__ = [
    "DEFAULT_LR",
    "EPS_NOTICEABLE",
    "OPTIMIZER_COLORS",
    "OPTIMIZER_LABELS",
    "OPTIMIZER_NAMES",
    "TASK_LAYERS",
    "OptimizerRun",
    "ScaleResult",
    "beta_keyword_errors",
    "beta_table",
    "beta_table_html",
    "bias_gradient",
    "bias_invariance",
    "draw_bn_graph",
    "format_table",
    "forward_shape_rows",
    "optimizer_panel",
    "optimizer_summary_rows",
    "parameter_rows",
    "plot_optimizer_comparison",
    "scale_invariance",
    "scale_invariance_panel",
    "spiral_task",
    "staged_backward",
    "train_bn_net",
    "train_optimizers",
]


# ----------------------------------------------------------------------------
# The forward chain and its shapes
# ----------------------------------------------------------------------------


def _shape(a) -> str:
    return "(" + ", ".join(str(s) for s in np.shape(a)) + ")"


def forward_shape_rows(net, X) -> list[dict]:
    """Run ``net.forward(X, training=True)`` and list every array of the chain.

    Parameters
    ----------
    net : a :class:`bnutils.network.Network` (any object with ``params``,
        ``cache`` holding ``"Z{l}"``, ``"Zt{l}"``, ``"A{l}"``, ``bn_layers`` and
        ``forward``).
    X : inputs, shape (n_0, m).

    Returns
    -------
    rows : one dict per array, in the order the forward pass makes them, with
        keys ``"layer"`` (int, 0 for the input), ``"array"`` (the course's name,
        e.g. ``"Z_tilde[1]"``), ``"kind"`` (``"input"``, ``"parameter"`` or
        ``"computed"``), ``"shape"`` (a string such as ``"(5, 6)"``) and
        ``"meaning"``. The mini-batch statistics ``mu[l]`` and ``sigma^2[l]``
        and ``Z_norm[l]`` are recomputed from ``Z[l]`` with
        :func:`bnutils.layers.batchnorm_forward`; the others are the network's
        own arrays.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"X must have shape (n_0, m) = (features, examples); got {X.shape}."
        )
    net.forward(X, training=True)
    params, cache = net.params, net.cache
    n_layers = sum(1 for key in params if key.startswith("W"))
    m = X.shape[1]
    rows = [
        {
            "layer": 0,
            "array": "X = A[0]",
            "kind": "input",
            "shape": _shape(X),
            "meaning": f"{X.shape[0]} features x {m} examples",
        }
    ]

    for k in range(1, n_layers + 1):

        def add(name, kind, arr, meaning, k=k):
            rows.append(
                {
                    "layer": k,
                    "array": name,
                    "kind": kind,
                    "shape": _shape(arr),
                    "meaning": meaning,
                }
            )

        W = params[f"W{k}"]
        has_bn = f"gamma{k}" in params
        add(f"W[{k}]", "parameter", W, f"weights, (n_{k}, n_{k - 1})")
        if f"b{k}" in params:
            why = "useless: BN subtracts it" if has_bn else "no BN follows"
            add(f"b[{k}]", "parameter", params[f"b{k}"], f"bias ({why})")
        Z = cache[f"Z{k}"]
        plus_b = " + b" if f"b{k}" in params else ""
        add(f"Z[{k}]", "computed", Z, f"W[{k}] A[{k - 1}]{plus_b}")
        if has_bn:
            gamma, beta = params[f"gamma{k}"], params[f"beta{k}"]
            _, bn = batchnorm_forward(Z, gamma, beta)
            add(f"mu[{k}]", "computed", bn.mu, "mini-batch mean, one per unit")
            add(f"sigma^2[{k}]", "computed", bn.var, "mini-batch variance, per unit")
            add(f"Z_norm[{k}]", "computed", bn.Z_norm, "(Z - mu) / sqrt(sigma^2 + eps)")
            add(f"gamma[{k}]", "parameter", gamma, "learned scale, one per unit")
            add(f"beta[{k}]", "parameter", beta, "learned shift, one per unit")
            add(f"Z_tilde[{k}]", "computed", cache[f"Zt{k}"], "gamma * Z_norm + beta")
            add(f"A[{k}]", "computed", cache[f"A{k}"], f"g(Z_tilde[{k}])")
        else:
            out = "softmax(Z)" if k == n_layers else f"g(Z[{k}])"
            add(f"A[{k}]", "computed", cache[f"A{k}"], out)
    return rows


def parameter_rows(net) -> list[dict]:
    """One row per layer: the shapes of its parameters (``"-"`` when absent).

    Parameters
    ----------
    net : a :class:`bnutils.network.Network`.

    Returns
    -------
    rows : dicts with keys ``"layer"``, ``"W"``, ``"b"``, ``"gamma"``,
        ``"beta"`` (shape strings or ``"-"``) and ``"count"`` (the number of
        learned numbers of the layer).
    """
    params = net.params
    n_layers = sum(1 for key in params if key.startswith("W"))
    rows = []
    for layer in range(1, n_layers + 1):
        row: dict = {"layer": layer}
        count = 0
        for name in ("W", "b", "gamma", "beta"):
            arr = params.get(f"{name}{layer}")
            row[name] = "-" if arr is None else _shape(arr)
            count += 0 if arr is None else int(np.size(arr))
        row["count"] = count
        rows.append(row)
    return rows


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
# A bias before Batch Norm is useless
# ----------------------------------------------------------------------------


def _bn_layer_setup(seed: int, n_in: int, n_units: int, m: int):
    rng = np.random.default_rng(seed)
    A_prev = rng.normal(size=(n_in, m))
    W = rng.normal(scale=1.0, size=(n_units, n_in))
    gamma = rng.uniform(0.5, 2.0, size=(n_units, 1))
    beta = rng.normal(size=(n_units, 1))
    return rng, A_prev, W, gamma, beta


def bias_invariance(
    seed: int = 0,
    n_in: int = 2,
    n_units: int = 5,
    m: int = 6,
    n_trials: int = 5,
    b_scale: float = 10.0,
) -> dict:
    """Compare ``BN(W A + b)`` with ``BN(W A)`` for several random biases ``b``.

    Parameters
    ----------
    seed : seeds every array.
    n_in, n_units, m : A_prev has shape (n_in, m), W (n_units, n_in), b
        (n_units, 1).
    n_trials : how many random biases, each ``N(0, b_scale^2)`` per unit.

    Returns
    -------
    dict with ``"b"`` (n_trials, n_units) the biases tried, ``"max_abs_diff"``
    (n_trials,) ``max |BN(W A + b) - BN(W A)|`` for each, ``"Z_tilde"`` (n_units,
    m) the output without bias, and ``"mu_shift"`` (n_trials, n_units): how
    much each bias moved the mini-batch mean (exactly ``b``).
    """
    if n_trials < 1 or m < 2:
        raise ValueError("need n_trials >= 1 and a mini-batch of m >= 2 examples.")
    rng, A_prev, W, gamma, beta = _bn_layer_setup(seed, n_in, n_units, m)
    Z = W @ A_prev
    Z_tilde, cache0 = batchnorm_forward(Z, gamma, beta)
    bs = rng.normal(scale=b_scale, size=(n_trials, n_units))
    # All trials at once: stack them along the examples axis, one block per trial,
    # and normalize each block with its own statistics.
    Zb = Z[None, :, :] + bs[:, :, None]  # (n_trials, n_units, m)
    mu = Zb.mean(axis=2, keepdims=True)
    var = ((Zb - mu) ** 2).mean(axis=2, keepdims=True)
    Zt_b = gamma[None] * (Zb - mu) / np.sqrt(var + cache0.eps) + beta[None]
    diffs = np.abs(Zt_b - Z_tilde[None]).max(axis=(1, 2))
    return {
        "b": bs,
        "max_abs_diff": diffs,
        "Z_tilde": Z_tilde,
        "mu_shift": mu[:, :, 0] - cache0.mu[:, 0][None, :],
    }


def bias_gradient(seed: int = 0, n_in: int = 2, n_units: int = 5, m: int = 6) -> dict:
    """The gradient that a bias before Batch Norm receives.

    With ``Z = W A_prev + b`` and ``Z_tilde = BN(Z)``, the chain rule gives
    ``dL/db = sum over examples of dZ``. A random upstream gradient ``dZ_tilde``
    (whatever the layers above hand back) is pushed through
    :func:`bnutils.layers.batchnorm_backward`.

    Returns
    -------
    dict with ``"dZ_tilde"`` (n_units, m), ``"dZ"`` (n_units, m), ``"db"``
    (n_units, 1) = ``dZ.sum(axis=1, keepdims=True)``, ``"dZ_scale"`` (a float:
    the typical size ``max |dZ|`` to compare ``db`` with) and ``"dW"`` (n_units,
    n_in), which is not zero; also the inputs ``"A_prev"`` (n_in, m), ``"W"``,
    ``"b"``, ``"gamma"`` and ``"beta"``.
    """
    rng, A_prev, W, gamma, beta = _bn_layer_setup(seed, n_in, n_units, m)
    b = rng.normal(size=(n_units, 1))
    _, cache = batchnorm_forward(W @ A_prev + b, gamma, beta)
    dZ_tilde = rng.normal(size=(n_units, m))
    dZ, _, _ = batchnorm_backward(dZ_tilde, cache)
    return {
        "dZ_tilde": dZ_tilde,
        "dZ": dZ,
        "db": dZ.sum(axis=1, keepdims=True),
        "dZ_scale": float(np.abs(dZ).max()),
        "dW": dZ @ A_prev.T,
        "A_prev": A_prev,
        "W": W,
        "b": b,
        "gamma": gamma,
        "beta": beta,
    }


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
    Forward arrows are black; the orange numbers give the order in which the
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
        "forward: black arrows, left to right; backward: orange steps 1-6"
    )
    return {"boxes": boxes, "arrows": arrows, "texts": texts}


def staged_backward(dZ_tilde, cache: BNCache) -> dict:
    """The backward pass of Batch Norm one node of the graph at a time.

    Parameters
    ----------
    dZ_tilde : upstream gradient dL/dZ_tilde, shape (n_l, m).
    cache : the :class:`bnutils.layers.BNCache` of the forward pass.

    Returns
    -------
    dict, in the order the stages are computed (sums are over the examples,
    ``axis=1``; ``m`` is the number of examples):

    * ``"dbeta"`` (n_l, 1) = sum(dZ_tilde)
    * ``"dgamma"`` (n_l, 1) = sum(dZ_tilde * Z_norm)
    * ``"dZ_norm"`` (n_l, m) = dZ_tilde * gamma
    * ``"dvar"`` (n_l, 1) = sum(dZ_norm * (Z - mu)) * (-1/2) (sigma^2 + eps)^(-3/2)
    * ``"dmu"`` (n_l, 1) = -sum(dZ_norm) / sqrt(sigma^2 + eps)
      + dvar * mean(-2 (Z - mu))  (the second term is zero)
    * ``"dZ"`` (n_l, m) = dZ_norm / sqrt(sigma^2 + eps) + dvar * 2 (Z - mu) / m
      + dmu / m
    """
    if not isinstance(cache, BNCache):
        raise ValueError("cache must be the BNCache returned by batchnorm_forward.")
    dZ_tilde = np.asarray(dZ_tilde, dtype=np.float64)
    if dZ_tilde.shape != cache.Z_norm.shape:
        raise ValueError(
            f"dZ_tilde must have the shape of Z_tilde {cache.Z_norm.shape}; "
            f"got {dZ_tilde.shape}."
        )
    m = dZ_tilde.shape[1]
    Zc, inv_std = cache.Z_centered, cache.inv_std
    dbeta = dZ_tilde.sum(axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * cache.Z_norm, axis=1, keepdims=True)
    dZ_norm = dZ_tilde * cache.gamma
    # Z_norm = Zc * (var + eps)^(-1/2): d/dvar = Zc * (-1/2) (var + eps)^(-3/2)
    dvar = np.sum(dZ_norm * Zc, axis=1, keepdims=True) * (-0.5) * inv_std**3
    # mu enters Z_norm directly and through var = mean((Z - mu)^2).
    dmu = -np.sum(dZ_norm, axis=1, keepdims=True) * inv_std + dvar * np.mean(
        -2.0 * Zc, axis=1, keepdims=True
    )
    # Z enters Z_norm directly, var through (Z - mu)^2 / m, and mu through Z / m.
    dZ = dZ_norm * inv_std + dvar * 2.0 * Zc / m + dmu / m
    return {
        "dbeta": dbeta,
        "dgamma": dgamma,
        "dZ_norm": dZ_norm,
        "dvar": dvar,
        "dmu": dmu,
        "dZ": dZ,
    }


# ----------------------------------------------------------------------------
# Scale invariance (Ioffe & Szegedy 2015, section 3.3)
# ----------------------------------------------------------------------------


@dataclass
class ScaleResult:
    """Batch Norm applied to ``W u`` and to ``(a W) u``, with gradients.

    Shapes: ``W`` (n_units, n_in), the original weights; ``Z_tilde_W``,
    ``Z_tilde_aW`` (n_units, m); ``dW`` = dL/dW at W and ``daW`` = dL/d(aW) at
    aW, both (n_units, n_in); ``du_W``, ``du_aW`` = dL/du, (n_in, m), where u
    (n_in, m) is the layer's input. ``std_Z_*`` is the spread of all the pre-BN
    values, ``unit_var_*`` (n_units,) the mini-batch variance of each unit's
    pre-BN values (what ``eps`` is added to), and ``loss_*`` the loss.
    """

    a: float
    W: np.ndarray
    Z_tilde_W: np.ndarray
    Z_tilde_aW: np.ndarray
    dW: np.ndarray
    daW: np.ndarray
    du_W: np.ndarray
    du_aW: np.ndarray
    std_Z_W: float
    std_Z_aW: float
    loss_W: float
    loss_aW: float
    unit_var_W: np.ndarray
    unit_var_aW: np.ndarray

    @property
    def max_abs_diff(self) -> float:
        """``max |BN(a W u) - BN(W u)|``."""
        return float(np.abs(self.Z_tilde_aW - self.Z_tilde_W).max())

    @property
    def grad_ratio(self) -> float:
        """``||dL/d(aW)|| / ||dL/dW||`` (Frobenius norms); ``1/a`` in theory."""
        return float(np.linalg.norm(self.daW) / np.linalg.norm(self.dW))

    def summary(self) -> dict:
        """The numbers of the notebook's table, formatted: ``"a"``, ``"max |BN(aWu)
        - BN(Wu)|"``, ``"||dL/d(aW)|| / ||dL/dW||"``, ``"ratio x a"`` and
        ``"relative step"``."""
        return {
            "a": f"{self.a:g}",
            "max |BN(aWu) - BN(Wu)|": f"{self.max_abs_diff:.1e}",
            "||dL/d(aW)|| / ||dL/dW||": f"{self.grad_ratio:.4e}",
            "ratio x a": f"{self.grad_ratio * self.a:.6f}",
            "relative step": f"{self.relative_step:.2e}",
        }

    @property
    def relative_step(self) -> float:
        """``||dL/d(aW)|| / ||aW||``: the relative size of a gradient step on the
        scaled weights per unit of learning rate (``1/a^2`` times that at a = 1)."""
        return float(np.linalg.norm(self.daW) / (self.a * np.linalg.norm(self.W)))


class _ScaleSetup:
    """A Batch Norm layer between fixed inputs and a small fixed loss.

    ``u`` (n_in, m) -> ``Z = W u`` -> BN -> ``A = tanh(Z_tilde)`` -> loss
    ``0.5/m * ||V A - T||^2`` with fixed ``V`` (n_out, n_units) and targets
    ``T`` (n_out, m).
    """

    def __init__(self, seed=0, n_in=3, n_units=4, n_out=3, m=16, eps=1e-5):
        rng = np.random.default_rng(seed)
        self.u = rng.normal(size=(n_in, m))
        self.W = rng.normal(scale=4.0, size=(n_units, n_in))
        self.gamma = rng.uniform(0.5, 1.5, size=(n_units, 1))
        self.beta = rng.normal(scale=0.3, size=(n_units, 1))
        self.V = rng.normal(size=(n_out, n_units))
        self.T = rng.normal(size=(n_out, m))
        self.eps = float(eps)

    def run(self, W):
        """Loss, Z_tilde, dL/dW, dL/du, std(Z) and the per-unit variances
        (n_units,) of Z for weights ``W``."""
        m = self.u.shape[1]
        Z = W @ self.u
        Zt, cache = batchnorm_forward(Z, self.gamma, self.beta, self.eps)
        A = np.tanh(Zt)
        R = self.V @ A - self.T
        loss = 0.5 * float(np.sum(R**2)) / m
        dA = self.V.T @ R / m
        dZt = dA * (1.0 - A**2)
        dZ, _, _ = batchnorm_backward(dZt, cache)
        return loss, Zt, dZ @ self.u.T, W.T @ dZ, float(Z.std()), cache.var[:, 0]


def scale_invariance(
    a: float, seed: int = 0, eps: float = 1e-5, m: int = 16
) -> ScaleResult:
    """Batch Norm of ``W u`` and of ``(a W) u`` for a scalar ``a > 0``.

    A layer ``Z = W u`` (u: (3, m), W: (4, 3)) is followed by Batch Norm, tanh
    and a fixed squared-error loss. ``BN((a W) u) = BN(W u)`` and
    ``dL/d(aW) = dL/dW / a`` hold exactly when ``eps = 0``; with ``eps > 0`` they
    hold as long as ``a^2 * var(W u)`` is large next to ``eps``.
    """
    a = float(a)
    if not (a > 0 and np.isfinite(a)):
        raise ValueError(f"a must be a positive finite number; got {a}.")
    s = _ScaleSetup(seed=seed, m=m, eps=eps)
    loss_W, Zt_W, dW, du_W, std_W, var_W = s.run(s.W)
    loss_aW, Zt_aW, daW, du_aW, std_aW, var_aW = s.run(a * s.W)
    return ScaleResult(
        a,
        s.W.copy(),
        Zt_W,
        Zt_aW,
        dW,
        daW,
        du_W,
        du_aW,
        std_W,
        std_aW,
        loss_W,
        loss_aW,
        var_W,
        var_aW,
    )


#: The scale panel's readout warns about eps once eps reaches this fraction of
#: the pre-BN variance (the outputs then move by about 1e-3 or more).
EPS_NOTICEABLE = 1e-3


def scale_invariance_panel(seed: int = 0, eps: float = 1e-5) -> Panel:
    """A slider over the weight scale ``a`` (0.01 to 100, log scale).

    Left: every entry of ``BN((a W) u)`` against the same entry of ``BN(W u)``
    (on the diagonal = unchanged). Right: the gradient norms ``||dL/d(aW)||``
    and ``||dL/du||`` against ``a`` on log-log axes, with the ``1/a`` reference
    line; the markers follow the slider. The readout gives the numbers, and
    says when ``eps`` is at least :data:`EPS_NOTICEABLE` of the smallest
    per-unit pre-BN variance ``a^2 var(W u)`` (the invariance is then visibly
    approximate).
    """
    s = _ScaleSetup(seed=seed, eps=eps)
    _, Zt_W, dW, du_W, _, _ = s.run(s.W)
    grid = np.logspace(-2, 2, 41)
    norms_W, norms_u = [], []
    for a in grid:  # 41 tiny forward/backward passes, precomputed once
        _, _, daW, du_aW, _, _ = s.run(a * s.W)
        norms_W.append(np.linalg.norm(daW))
        norms_u.append(np.linalg.norm(du_aW))
    g0 = np.linalg.norm(dW)

    fig, (ax_out, ax_g) = panel_figure(1, 2, figsize=(9.0, 3.5))
    lim = float(np.abs(Zt_W).max()) * 1.15
    ax_out.plot(
        [-lim, lim], [-lim, lim], color="0.6", lw=1, ls="--", label="unchanged (y = x)"
    )
    pts = ax_out.scatter(
        Zt_W.ravel(), Zt_W.ravel(), s=18, color=BN_COLOR, label="entries of BN(a W u)"
    )
    ax_out.set_xlim(-lim, lim)
    ax_out.set_ylim(-lim, lim)
    ax_out.set_xlabel(r"BN(W u): $\tilde Z$ with the original weights")
    ax_out.set_ylabel(r"BN(a W u): $\tilde Z$ with scaled weights")
    ax_out.set_title("Outputs: unchanged by the scale a")
    ax_out.legend(loc="upper left")

    ax_g.loglog(grid, norms_W, color=BN_COLOR, lw=2, label=r"$\|dL/d(aW)\|$")
    ax_g.loglog(  # drawn on top: the blue curve lies exactly under it
        grid,
        g0 / grid,
        color=OKABE_ITO["black"],
        lw=1.2,
        ls=(0, (4, 3)),
        zorder=3,
        label=r"$\|dL/dW\| / a$",
    )
    ax_g.loglog(grid, norms_u, color=OKABE_ITO["green"], lw=2, label=r"$\|dL/du\|$")
    (mark_W,) = ax_g.plot(
        [1.0], [g0], "o", color=PLAIN_COLOR, ms=8, zorder=4, label="current a"
    )
    (mark_u,) = ax_g.plot(
        [1.0], [np.linalg.norm(du_W)], "o", color=PLAIN_COLOR, ms=8, zorder=4
    )
    ax_g.set_xlabel("weight scale a (log scale)")
    ax_g.set_ylabel("gradient norm (log scale)")
    ax_g.set_title("Gradients: w.r.t. aW shrink as 1/a")
    ax_g.legend(loc="lower left")

    def update(a):
        r = scale_invariance(a, seed=seed, eps=eps)
        pts.set_offsets(np.column_stack([r.Z_tilde_W.ravel(), r.Z_tilde_aW.ravel()]))
        mark_W.set_data([a], [np.linalg.norm(r.daW)])
        mark_u.set_data([a], [np.linalg.norm(r.du_aW)])
        var_min, var_max = float(r.unit_var_aW.min()), float(r.unit_var_aW.max())
        note = ""
        if eps >= EPS_NOTICEABLE * var_min:
            note = (
                f" &mdash; eps = {eps:g} is {eps / var_min:.1%} of the smallest "
                "variance: no longer negligible"
            )
        return (
            f"a = {a:.3g}: per-unit variances of aWu (before BN) {var_min:.2g} to "
            f"{var_max:.2g}{note}<br>max |BN(aWu) &minus; BN(Wu)| = "
            f"{r.max_abs_diff:.1e}; "
            f"||dL/d(aW)|| / ||dL/dW|| = {r.grad_ratio:.4g}, 1/a = {1 / a:.4g} "
            f"(ratio &times; a = {r.grad_ratio * a:.6f}); ||dL/du|| = "
            f"{np.linalg.norm(r.du_aW):.4g} (was {np.linalg.norm(r.du_W):.4g})"
        )

    controls = {"a": log_slider("weight scale a (log scale)", 1.0, -2.0, 2.0)}
    panel = Panel(controls, fig, update, title="Scale invariance: BN(a W u) = BN(W u)")
    panel.artists = {"outputs": pts, "grad_W": mark_W, "grad_u": mark_u}
    return panel


# ----------------------------------------------------------------------------
# Every "beta" of the course
# ----------------------------------------------------------------------------


def _default(cls, name: str) -> float:
    return float(inspect.signature(cls).parameters[name].default)


def beta_table() -> list[dict]:
    """Every "beta" of the course side by side, with the package's names.

    The default values are read from the signatures of the package's classes
    (:class:`bnutils.optim.Momentum`, ``RMSprop``, ``Adam``,
    :class:`bnutils.layers.BatchNorm`), so the table cannot drift from the code.

    Returns
    -------
    rows : list of dicts with keys ``"beta"`` (what the course calls it),
        ``"name"`` (the package's name), ``"role"``, ``"value"``, ``"shape"`` and
        ``"learned"``.
    """
    from bnutils.optim import Adam, Momentum, RMSprop

    ema = _default(BatchNorm, "ema_beta")
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
            "learned": "no: a hyperparameter",
        },
        {
            "beta": "RMSprop beta (beta2 in the course)",
            "name": "rms_beta (RMSprop)",
            "role": "s = beta * s + (1 - beta) * dW**2: weight of the old mean square",
            "value": f"{_default(RMSprop, 'rms_beta'):g}",
            "shape": "scalar",
            "learned": "no: a hyperparameter",
        },
        {
            "beta": "Adam beta1",
            "name": "beta1 (Adam)",
            "role": "first-moment (momentum) average of dW",
            "value": f"{_default(Adam, 'beta1'):g}",
            "shape": "scalar",
            "learned": "no: a hyperparameter",
        },
        {
            "beta": "Adam beta2",
            "name": "beta2 (Adam)",
            "role": "second-moment (RMSprop) average of dW**2",
            "value": f"{_default(Adam, 'beta2'):g}",
            "shape": "scalar",
            "learned": "no: a hyperparameter",
        },
        {
            "beta": "beta of the running statistics (test time)",
            "name": "ema_beta (BatchNorm, Network)",
            "role": "running = beta * running + (1 - beta) * batch mu or sigma^2",
            "value": f"{ema:g}",
            "shape": "scalar",
            "learned": "no: a hyperparameter",
        },
        {
            "beta": "PyTorch BatchNorm1d momentum",
            "name": "(PyTorch) momentum = 1 - ema_beta",
            "role": "running = (1 - p) * running + p * batch stat: weights swapped",
            "value": f"{1 - ema:.1f} (= 1 - {ema:g})",
            "shape": "scalar",
            "learned": "no: a hyperparameter",
        },
    ]


_BETA_HEADERS = {
    "beta": "the course's beta",
    "name": "name in bnutils",
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


def beta_keyword_errors(lr: float = 0.01) -> dict:
    """What each optimizer says when it is given the ambiguous keyword ``beta=``.

    Returns ``{optimizer name: "ExceptionName: message"}`` for ``"gd"``,
    ``"momentum"``, ``"rmsprop"`` and ``"adam"`` (built with
    :func:`bnutils.optim.make_optimizer`). An optimizer that accepted ``beta``
    would be a bug; it is reported as ``"accepted (no error)"``.
    """
    from bnutils.optim import make_optimizer

    out = {}
    for name in ("gd", "momentum", "rmsprop", "adam"):
        try:
            make_optimizer(name, lr, beta=0.9)
        except (TypeError, ValueError) as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
        else:
            out[name] = "accepted (no error)"
    return out


# ----------------------------------------------------------------------------
# gamma and beta trained by GD, momentum, RMSprop and Adam
# ----------------------------------------------------------------------------

#: The optimizers of the comparison, in display order.
OPTIMIZER_NAMES = ("gd", "momentum", "rmsprop", "adam")
OPTIMIZER_LABELS = {
    "gd": "GD",
    "momentum": "Momentum",
    "rmsprop": "RMSprop",
    "adam": "Adam",
}
#: A learning rate that works for each on the spiral task (found by a small sweep).
DEFAULT_LR = {"gd": 0.5, "momentum": 0.5, "rmsprop": 0.003, "adam": 0.01}
OPTIMIZER_COLORS = {
    "gd": OKABE_ITO["black"],
    "momentum": OKABE_ITO["orange"],
    "rmsprop": OKABE_ITO["green"],
    "adam": OKABE_ITO["purple"],
}
#: The network of the comparison: 2 inputs -> 32 -> 32 (tanh, Batch Norm) -> 3 classes.
TASK_LAYERS = (2, 32, 32, 3)


def spiral_task(seed: int = 0, m: int = 600):
    """Three interleaved spirals (:func:`bnutils.data.spirals`, noise 0.2).

    Returns ``(X_train, y_train, X_test, y_test)``: X of shape (2, m), y int
    of shape (m,); the test set uses the seed ``seed + 1``.
    """
    from bnutils.data import spirals

    X, y = spirals(m=m, noise=0.2, seed=seed)
    Xt, yt = spirals(m=m, noise=0.2, seed=seed + 1)
    return X, y, Xt, yt


@dataclass
class OptimizerRun:
    """One training run of the Batch Norm network of :data:`TASK_LAYERS`.

    ``gamma`` and ``beta`` map each hidden layer l to the trained array of
    shape (n_l, 1); they start at 1 and 0. ``history`` is the
    :class:`bnutils.train.History` of the run; ``test_acc`` the final test
    accuracy and ``final_loss`` the loss on the whole training set after
    training (inference mode, running statistics).
    """

    name: str
    lr: float
    history: object
    gamma: dict
    beta: dict
    test_acc: float
    final_loss: float

    @property
    def label(self) -> str:
        return OPTIMIZER_LABELS[self.name]

    def values(self, which: str) -> np.ndarray:
        """All hidden units' ``"gamma"`` or ``"beta"`` values, shape (n_units,)."""
        d = self.gamma if which == "gamma" else self.beta
        return np.concatenate([d[layer].ravel() for layer in sorted(d)])

    def curve(self, window: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """The training loss smoothed over mini-batches.

        Returns ``(step, loss)``, 1-D arrays over the steps 1, 2, ... run:
        ``loss[i]`` is the mean mini-batch loss of the last ``window`` steps up
        to step ``i + 1`` (fewer at the start). A diverged run stops at its last
        finite loss.
        """
        return self.history.smoothed_loss(window)


def _check_optimizer_name(name: str) -> str:
    if name not in OPTIMIZER_NAMES:
        raise ValueError(f"optimizer must be one of {OPTIMIZER_NAMES}; got {name!r}.")
    return name


def train_bn_net(
    name: str,
    lr: float | None = None,
    steps: int = 300,
    seed: int = 0,
    data=None,
    callback=None,
) -> OptimizerRun:
    """Train the 2 -> 32 -> 32 -> 3 tanh Batch Norm network on the spirals.

    Parameters
    ----------
    name : ``"gd"``, ``"momentum"``, ``"rmsprop"`` or ``"adam"`` (the
        optimizer's own decay rates at their defaults).
    lr : learning rate; default :data:`DEFAULT_LR` of the optimizer.
    steps : mini-batch steps (batch 60), recorded every 10 steps.
    seed : seeds the weights, the data (when ``data`` is None) and the batches.
    data : ``(X_train, y_train, X_test, y_test)``; default :func:`spiral_task`.
    callback : ``callback(step, history)`` after each record (progress bars).

    Every parameter (W, b of the output layer, gamma, beta) is trained by the
    same optimizer; the same arguments give the same run, bit for bit.
    """
    from bnutils.network import Network
    from bnutils.optim import make_optimizer
    from bnutils.train import train

    name = _check_optimizer_name(name)
    lr = DEFAULT_LR[name] if lr is None else float(lr)
    X, y, Xt, yt = spiral_task(seed) if data is None else data
    net = Network(
        list(TASK_LAYERS),
        activation="tanh",
        batchnorm=True,
        weight_scale="he",
        seed=seed,
    )
    hist = train(
        net,
        make_optimizer(name, lr),
        X,
        y,
        Xt,
        yt,
        batch_size=60,
        steps=int(steps),
        eval_every=10,
        seed=seed,
        progress=False,
        callback=callback,
    )
    gamma = {layer: net.params[f"gamma{layer}"].copy() for layer in net.bn_layers}
    beta = {layer: net.params[f"beta{layer}"].copy() for layer in net.bn_layers}
    acc = float(hist.test_acc[-1])
    with np.errstate(all="ignore"):
        final = net.loss(X, y) if not hist.diverged else float("nan")
    return OptimizerRun(name, lr, hist, gamma, beta, acc, float(final))


def train_optimizers(
    steps: int = 300, seed: int = 0, lrs: dict | None = None, progress: bool = True
) -> dict:
    """Train the same network once with each of GD, momentum, RMSprop and Adam.

    Returns ``{name: OptimizerRun}`` in the order of :data:`OPTIMIZER_NAMES`.
    ``lrs`` overrides :data:`DEFAULT_LR`. One progress bar covers the four runs
    (inside a notebook).
    """
    lrs = {**DEFAULT_LR, **(lrs or {})}
    data = spiral_task(seed)
    runs = {}
    with Progress(
        steps * len(OPTIMIZER_NAMES), "4 optimizers", enabled=progress
    ) as bar:
        for i, name in enumerate(OPTIMIZER_NAMES):

            def tick(step, _hist, i=i):
                bar.update(i * steps + step)

            runs[name] = train_bn_net(
                name, lrs[name], steps=steps, seed=seed, data=data, callback=tick
            )
    return runs


def optimizer_summary_rows(runs: dict) -> list[dict]:
    """One row per run: final loss, test accuracy and how far gamma and beta
    moved from their start (1 and 0).

    Returns dicts with keys ``"optimizer"``, ``"lr"``, ``"first batch loss"``,
    ``"final loss"`` (whole training set), ``"test acc"``, ``"gamma range"``
    (min..max over the 64 hidden units), ``"mean |gamma - 1|"`` and
    ``"mean |beta|"`` (strings).
    """
    rows = []
    for run in runs.values():
        g, b = run.values("gamma"), run.values("beta")
        _, loss = run.curve()
        rows.append(
            {
                "optimizer": run.label,
                "lr": f"{run.lr:g}",
                "first batch loss": f"{loss[0]:.3f}",
                "final loss": f"{run.final_loss:.3f}",
                "test acc": f"{run.test_acc:.3f}",
                "gamma range": f"{g.min():.2f} .. {g.max():.2f}",
                "mean |gamma - 1|": f"{np.mean(np.abs(g - 1)):.3f}",
                "mean |beta|": f"{np.mean(np.abs(b)):.3f}",
            }
        )
    return rows


def _strip(ax, runs: dict, which: str, start: float):
    """Dots of every unit's gamma (or beta) per optimizer, jittered in x."""
    rng = np.random.default_rng(0)
    artists = []
    for i, (name, run) in enumerate(runs.items()):
        v = run.values(which)
        x = i + rng.uniform(-0.18, 0.18, size=v.shape)
        artists.append(ax.scatter(x, v, s=10, color=OPTIMIZER_COLORS[name], alpha=0.7))
    ax.axhline(start, color="0.4", ls="--", lw=1, label=f"start ({which} = {start:g})")
    ax.set_xticks(range(len(runs)), [r.label for r in runs.values()])
    ax.set_xlabel("optimizer")
    ax.legend(loc="best")
    return artists


def plot_optimizer_comparison(runs: dict, axes=None) -> dict:
    """Loss curves of the four runs and where gamma and beta ended up.

    Parameters
    ----------
    runs : ``{name: OptimizerRun}`` from :func:`train_optimizers`.
    axes : three Axes, or None for a new (10.5, 3.4) figure.

    Returns ``{"lines": {name: Line2D}, "gamma": [PathCollection],
    "beta": [PathCollection]}``.
    """
    if axes is None:
        _, axes = subplots(1, 3, figsize=(10.5, 3.4))
    ax_l, ax_g, ax_b = axes
    lines = {}
    for name, run in runs.items():
        step, loss = run.curve()
        (lines[name],) = ax_l.plot(
            step,
            loss,
            color=OPTIMIZER_COLORS[name],
            lw=2,
            label=f"{run.label} (lr {run.lr:g})",
        )
    ax_l.set_yscale("log")
    ax_l.set_xlabel("step (mini-batch of 60)")
    ax_l.set_ylabel("training loss (log scale)\n(mean of the last 20 batches)")
    ax_l.set_title("Loss of the same BN network")
    ax_l.legend(loc="upper right")
    g = _strip(ax_g, runs, "gamma", 1.0)
    ax_g.set_ylabel("gamma of each hidden unit")
    ax_g.set_title("gamma after training (64 units)")
    b = _strip(ax_b, runs, "beta", 0.0)
    ax_b.set_ylabel("beta of each hidden unit")
    ax_b.set_title("beta after training (64 units)")
    return {"lines": lines, "gamma": g, "beta": b}


def _limits(values, pad_frac=0.1, include=()):
    v = np.concatenate([np.ravel(values), np.ravel(include)])
    lo, hi = float(v.min()), float(v.max())
    pad = max(hi - lo, 0.2) * pad_frac
    return lo - pad, hi + pad


def optimizer_panel(reference: dict | None = None, seed: int = 0) -> TrainPanel:
    """Pick an optimizer and a learning rate, click Train, compare.

    Left: the training loss of the new run (thick) over the four reference
    runs at their default learning rates (thin). Right: every hidden unit's
    (gamma, beta) after the new run; all start at (1, 0) (the cross).

    Parameters
    ----------
    reference : ``{name: OptimizerRun}`` from :func:`train_optimizers` (trained
        here with the defaults when None).
    seed : seeds the network, data and batches of every run.
    """
    runs_ref = (
        train_optimizers(seed=seed, progress=False) if reference is None else reference
    )
    data = spiral_task(seed)
    fig, (ax_l, ax_s) = panel_figure(1, 2, figsize=(9.0, 3.5))
    for name, run in runs_ref.items():
        step, loss = run.curve()
        ax_l.plot(
            step,
            loss,
            color=OPTIMIZER_COLORS[name],
            lw=1,
            alpha=0.45,
            label=f"{run.label}, lr {run.lr:g}",
        )
    (new_line,) = ax_l.plot([0.0], [1.0], color=BN_COLOR, lw=3, label="your run")
    ax_l.set_yscale("log")
    ax_l.set_xlabel("step (mini-batch of 60)")
    ax_l.set_ylabel("training loss (log scale)\n(mean of the last 20 batches)")
    ax_l.set_title("Training loss: your run over the four defaults")
    ax_l.legend(loc="upper right", fontsize=8)
    ax_s.plot([1.0], [0.0], "x", color="0.2", ms=10, mew=2, label="start (1, 0)")
    sc1 = ax_s.scatter([1.0], [0.0], s=18, color=BN_COLOR, label="layer 1 units")
    sc2 = ax_s.scatter(
        [1.0], [0.0], s=18, color=OKABE_ITO["orange"], marker="s", label="layer 2 units"
    )
    ax_s.set_xlabel("gamma (scale)")
    ax_s.set_ylabel("beta (shift)")
    ax_s.set_title("Where each unit's gamma and beta went")
    ax_s.legend(loc="best", fontsize=8)

    opt = ipw.Dropdown(
        options=[(OPTIMIZER_LABELS[n], n) for n in OPTIMIZER_NAMES],
        value="adam",
        description="optimizer",
        style={"description_width": "initial"},
    )
    lr_slider = log_slider(
        "learning rate (log scale)",
        DEFAULT_LR["adam"],
        -4.0,
        0.0,
        continuous_update=False,
    )
    steps = int_slider(
        "steps (mini-batches of 60)", 300, 100, 500, 50, continuous_update=False
    )

    def on_optimizer(change):  # a sensible learning rate for the new optimizer
        lr_slider.value = DEFAULT_LR[change["new"]]

    opt.observe(on_optimizer, names="value")

    def update(optimizer, lr, steps, progress):
        def tick(step, _hist):
            progress(step, steps)

        run = train_bn_net(
            optimizer, lr, steps=steps, seed=seed, data=data, callback=tick
        )
        step, loss = run.curve()
        new_line.set_data(step, loss)
        new_line.set_color(OPTIMIZER_COLORS[optimizer])
        new_line.set_label(f"your run: {run.label}, lr {lr:.3g}")
        ax_l.legend(loc="upper right", fontsize=8)
        all_loss = np.concatenate([loss, *(r.curve()[1] for r in runs_ref.values())])
        ax_l.set_xlim(0, max(steps, max(r.history.step[-1] for r in runs_ref.values())))
        ax_l.set_ylim(all_loss.min() * 0.8, all_loss.max() * 1.25)
        g1, b1 = run.gamma[1].ravel(), run.beta[1].ravel()
        g2, b2 = run.gamma[2].ravel(), run.beta[2].ravel()
        sc1.set_offsets(np.column_stack([g1, b1]))
        sc2.set_offsets(np.column_stack([g2, b2]))
        ax_s.set_xlim(*_limits(np.r_[g1, g2], include=[1.0]))
        ax_s.set_ylim(*_limits(np.r_[b1, b2], include=[0.0]))
        h = run.history
        status = f"<b>diverged at step {h.diverged_at}</b>; " if h.diverged else ""
        g = run.values("gamma")
        return (
            f"{status}{run.label}, lr = {lr:.3g}, {steps} steps: loss {loss[0]:.3f} "
            f"(first batch) &rarr; {run.final_loss:.3f} (whole training set), test "
            f"accuracy {run.test_acc:.1%}; gamma in "
            f"[{g.min():.2f}, {g.max():.2f}], mean |beta| = "
            f"{np.mean(np.abs(run.values('beta'))):.3f} ({h.seconds:.2f} s)"
        )

    controls = {"optimizer": opt, "lr": lr_slider, "steps": steps}
    panel = TrainPanel(
        controls, fig, update, title="gamma and beta, trained by four optimizers"
    )
    panel.artists = {"loss": new_line, "layer1": sc1, "layer2": sc2}
    return panel
