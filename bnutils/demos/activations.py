"""Notebook 02, normalizing activations: the BN transform on one hidden layer.

What the notebook computes and shows:

* :func:`example_preactivations`: a seeded ``Z`` of 4 units with very different
  means and variances, the running example of the notebook.
* :func:`plot_units_before_after`: each unit's values before and after
  normalization.
* The sigmoid's regimes. The *near-linear region* is where the sigmoid's slope
  is at least 80 % of its maximum 1/4, ``sigmoid'(z) >= 0.2``, which is
  ``|z| <= 2 artanh(sqrt(0.2)) = 0.962`` (:func:`near_linear_bound`); there the
  curve stays within 0.017 of its tangent line ``1/2 + z/4``. The *saturated*
  region is where the output is below 0.05 or above 0.95, ``|z| >= ln 19 = 2.944``
  (:func:`saturation_bound`). In between, the sigmoid is curved but not flat.
  :func:`regime_shares` counts the share of values in each.
* :func:`sigmoid_regimes_panel`: sliders for one unit's gamma and beta; the
  histograms of Z_tilde and sigmoid(Z_tilde), the live shares per regime, and
  how linear the unit measurably is on the batch (:func:`linearity_r2`, the R²
  of a straight-line fit of a on z̃): where the values sit is not enough, since
  a narrow spread is nearly straight anywhere on the curve.
* :func:`batch_coupling_panel`: a slider moves example 1's raw value in a
  mini-batch of 8; every example's normalized value moves with it.

Arrays follow the course's layout (units, examples) = ``(n_l, m)``.
"""

from __future__ import annotations

import math

import numpy as np

from bnutils import plots, widgets
from bnutils.layers import batchnorm_forward

__all__ = [
    "CURVED_R2",
    "LINEAR_R2",
    "NARROW_STD",
    "NEAR_LINEAR_SLOPE_FRACTION",
    "SATURATION_LEVEL",
    "UNIT_MEANS",
    "UNIT_STDS",
    "batch_coupling_panel",
    "example_preactivations",
    "linearity_r2",
    "near_linear_bound",
    "normalize_one_unit",
    "plot_units_before_after",
    "regime_shares",
    "saturation_bound",
    "sigmoid",
    "sigmoid_regimes_panel",
]

#: The near-linear region is where sigmoid'(z) is at least this fraction of its
#: maximum slope 1/4 (0.8 -> sigmoid'(z) >= 0.2).
NEAR_LINEAR_SLOPE_FRACTION = 0.8
#: The sigmoid counts as saturated where its output is below this level or above
#: 1 minus it.
SATURATION_LEVEL = 0.05

#: Means and standard deviations of the 4 units of :func:`example_preactivations`:
#: very different on purpose (one unit around 40, one with spread 10, one with
#: spread 0.1).
UNIT_MEANS = np.array([[5.0], [-3.0], [0.5], [40.0]])
UNIT_STDS = np.array([[1.0], [10.0], [0.1], [4.0]])


# --------------------------------------------------------------------------
# Computations
# --------------------------------------------------------------------------


def sigmoid(z):
    """The logistic sigmoid ``1 / (1 + exp(-z))``, elementwise, any shape.

    Written as ``(1 + tanh(z/2)) / 2``, which never overflows.
    """
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def near_linear_bound(slope_fraction: float = NEAR_LINEAR_SLOPE_FRACTION) -> float:
    """Half-width ``a`` of the sigmoid's near-linear region ``|z| <= a``.

    The region is where ``sigmoid'(z) >= slope_fraction * 1/4`` (1/4 is the
    slope at 0). With ``s = sigmoid(z)``, ``sigmoid'(z) = s (1 - s)`` and
    ``2 s - 1 = tanh(z / 2)``, so ``sigmoid'(z) = (1 - tanh(z/2)**2) / 4`` and
    the bound is ``a = 2 artanh(sqrt(1 - slope_fraction))``; 0.962 for 0.8.
    """
    f = float(slope_fraction)
    if not 0.0 < f < 1.0:
        raise ValueError(
            f"slope_fraction must be between 0 and 1 (exclusive); got {f}. It is "
            "the share of the sigmoid's maximum slope 1/4 that still counts as "
            "near-linear, e.g. 0.8."
        )
    return float(2.0 * np.arctanh(np.sqrt(1.0 - f)))


def saturation_bound(level: float = SATURATION_LEVEL) -> float:
    """The ``b`` such that ``sigmoid(z) < level`` or ``> 1 - level`` iff ``|z| > b``.

    ``b = ln((1 - level) / level)``; 2.944 (= ln 19) for ``level = 0.05``.
    """
    t = float(level)
    if not 0.0 < t < 0.5:
        raise ValueError(
            f"level must be between 0 and 0.5 (exclusive); got {t}. Outputs below "
            "level or above 1 - level count as saturated, e.g. 0.05."
        )
    return float(math.log((1.0 - t) / t))


def regime_shares(
    z_tilde,
    slope_fraction: float = NEAR_LINEAR_SLOPE_FRACTION,
    level: float = SATURATION_LEVEL,
) -> dict[str, float]:
    """Shares of the inputs of a sigmoid in each of its three regimes.

    Parameters
    ----------
    z_tilde : inputs to the sigmoid, any shape (e.g. one unit's ``(1, m)``);
        every entry counts once.
    slope_fraction, level : see :func:`near_linear_bound` and
        :func:`saturation_bound`.

    Returns
    -------
    ``{"near_linear": ..., "curved": ..., "saturated": ...}``, fractions in
    [0, 1] that add up to 1. Near-linear: ``|z| <= a``; saturated: ``|z| > b``
    (output below ``level`` or above ``1 - level``); curved: in between.
    """
    z = np.asarray(z_tilde, dtype=np.float64).ravel()
    if z.size == 0:
        raise ValueError("z_tilde is empty; pass at least one value.")
    if not np.all(np.isfinite(z)):
        raise ValueError("z_tilde contains NaN or infinite values.")
    a = near_linear_bound(slope_fraction)
    b = saturation_bound(level)
    if b <= a:
        raise ValueError(
            f"the saturated region (|z| > {b:.3f}) must start beyond the near-linear "
            f"region (|z| <= {a:.3f}); use a smaller level or a larger "
            "slope_fraction."
        )
    abs_z = np.abs(z)
    near = float(np.mean(abs_z <= a))
    sat = float(np.mean(abs_z > b))
    return {"near_linear": near, "curved": 1.0 - near - sat, "saturated": sat}


def example_preactivations(m: int = 8, seed: int = 0) -> np.ndarray:
    """A seeded ``Z`` of one hidden layer with 4 units of very different scales.

    Unit ``j`` is ``UNIT_MEANS[j] + UNIT_STDS[j] * N(0, 1)`` noise.

    Parameters
    ----------
    m : number of examples (columns), at least 2.
    seed : seed of ``np.random.default_rng``.

    Returns
    -------
    Z : shape (4, m), float64.
    """
    if int(m) != m or m < 2:
        raise ValueError(f"m must be an integer >= 2 (a mini-batch); got {m!r}.")
    rng = np.random.default_rng(seed)
    return UNIT_MEANS + UNIT_STDS * rng.standard_normal((UNIT_MEANS.shape[0], int(m)))


def normalize_one_unit(z, eps: float = 1e-5) -> np.ndarray:
    """Normalize one unit's mini-batch: ``(z - mu) / sqrt(sigma^2 + eps)``.

    Parameters
    ----------
    z : one unit's raw values over the mini-batch, shape (m,), m >= 2.

    Returns
    -------
    z_norm : shape (m,), computed with :func:`bnutils.batchnorm_forward`
    (gamma = 1, beta = 0) on ``z`` as a (1, m) row.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(
            f"z must be one unit's values, shape (m,); got shape {z.shape}. "
            "For a whole layer use bnutils.batchnorm_forward."
        )
    z_tilde, _ = batchnorm_forward(
        z.reshape(1, -1), np.ones((1, 1)), np.zeros((1, 1)), eps
    )
    return z_tilde[0]


# --------------------------------------------------------------------------
# Static figure
# --------------------------------------------------------------------------


def plot_units_before_after(Z, Z_norm):
    """Each unit's values before (left) and after (right) normalization.

    Parameters
    ----------
    Z : raw pre-activations, shape (n_l, m).
    Z_norm : the normalized values, shape (n_l, m).

    Returns ``(fig, axes)``; one row of dots per unit, units top to bottom (one
    scatter collection per axis).
    """
    Z = np.asarray(Z, dtype=np.float64)
    Z_norm = np.asarray(Z_norm, dtype=np.float64)
    if Z.ndim != 2 or Z.shape != Z_norm.shape:
        raise ValueError(
            f"Z and Z_norm must both have shape (n_l, m); got {Z.shape} and "
            f"{Z_norm.shape}."
        )
    n_l, m = Z.shape
    fig, axes = plots.subplots(1, 2, figsize=(9.0, 3.0), sharey=True)
    rows = np.repeat(np.arange(n_l)[:, None], m, axis=1)  # (n_l, m): unit index
    cycle = plots.color_cycle()
    point_colors = np.array(cycle)[rows.ravel() % len(cycle)]  # one colour per unit
    for ax, values, title, xlabel in (
        (axes[0], Z, "Before: raw Z (each unit its own scale)", "z (raw value)"),
        (
            axes[1],
            Z_norm,
            "After: Z_norm (mean 0, variance ≈ 1 per unit)",
            "z_norm (standard deviations from the unit's mean)",
        ),
    ):
        ax.scatter(values.ravel(), rows.ravel(), c=point_colors, s=36, alpha=0.8)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
    axes[1].set_xlim(-3, 3)
    axes[0].set_yticks(np.arange(n_l), [f"unit {j + 1}" for j in range(n_l)])
    axes[0].set_ylim(n_l - 0.5, -0.5)
    axes[0].set_ylabel("hidden unit")
    return fig, axes


# --------------------------------------------------------------------------
# Panel 1: gamma and beta of a unit feeding a sigmoid
# --------------------------------------------------------------------------

_REGION_NEAR = plots.OKABE_ITO["green"]
_REGION_SAT = "#999999"


#: R² of a straight-line fit of a on z̃ above which the unit counts as almost
#: linear on the batch, and the one below which its non-linearity is at work.
LINEAR_R2 = 0.99
CURVED_R2 = 0.95
#: A spread of z̃ below this is "narrow": any smooth curve is nearly straight there.
NARROW_STD = 0.5


def linearity_r2(z_tilde) -> float:
    """How linear the sigmoid unit is on this batch: the R² of the least-squares
    straight line ``a ≈ c0 + c1 z̃`` through the points ``(z̃, sigmoid(z̃))``.

    1 means the outputs are exactly a linear function of the inputs over the
    batch (the unit could be replaced by a linear one); the share of the
    outputs' variance the line misses, ``1 - R²``, measures the non-linearity
    actually used. For a simple straight-line fit R² is the squared correlation
    of z̃ and a. A batch whose z̃ or a is constant counts as linear (R² = 1).
    """
    z = np.asarray(z_tilde, dtype=np.float64).ravel()
    if z.size < 2 or not np.all(np.isfinite(z)):
        raise ValueError(
            f"linearity_r2 needs at least 2 finite values; got {z.size} values"
            + ("" if z.size < 2 else " with NaN or inf")
            + "."
        )
    a = sigmoid(z)
    zc, ac = z - z.mean(), a - a.mean()
    szz, saa = float(zc @ zc), float(ac @ ac)
    if szz == 0.0 or saa == 0.0:
        return 1.0
    return float((zc @ ac) ** 2 / (szz * saa))


def _verdict(shares: dict[str, float], r2: float, spread: float) -> str:
    """One line on what the unit does, from where its values sit (shares) and
    from how linear its outputs measurably are over the batch (r2)."""
    if shares["saturated"] >= 0.4:
        return (
            "mostly saturated: the unit is often stuck near 0 or 1, with tiny gradients"
        )
    if r2 >= LINEAR_R2:
        if spread < NARROW_STD:
            return (
                f"narrow spread (std {spread:.2f}): over so small a range the sigmoid "
                "is almost a straight line, wherever it sits; the unit acts like a "
                "linear one"
            )
        return "almost a straight line over this batch: the unit acts like a linear one"
    if r2 >= CURVED_R2:
        return (
            "mostly linear: a straight line explains most of the outputs, the bend "
            "adds a little"
        )
    return "uses the bend of the sigmoid: the non-linearity is at work"


def sigmoid_regimes_panel(
    m: int = 2000, seed: int = 0, raw_mean: float = 3.0, raw_std: float = 7.0
) -> widgets.Panel:
    """Sliders for gamma and beta of one unit that feeds a sigmoid.

    One unit's raw ``z`` (``m`` seeded values ``raw_mean + raw_std * N(0, 1)``)
    is normalized once; the sliders set ``Z_tilde = gamma * Z_norm + beta``.
    Left: histogram (density) of Z_tilde with the sigmoid, its tangent at 0 and
    the near-linear and saturated regions. Right: histogram of
    ``sigmoid(Z_tilde)``. Readout: the share of values in each regime.

    The bins are computed once: the left histogram's bins are those of
    Z_norm mapped through ``gamma * . + beta`` (same counts, moved and
    stretched; heights are densities ``count / (m * width)``), the right one's
    bins are fixed on [0, 1]. Each histogram is one filled step patch
    (``Axes.stairs``), whose edges and heights the callback replaces: one artist
    to draw instead of 90 bars (a redraw took 20-35 % less time, measured on a
    busy 2-core machine).

    Returns a :class:`bnutils.widgets.Panel` with controls ``"gamma"`` and
    ``"beta"``; ``panel.artists`` holds the step patches ``"hist_z"`` and
    ``"hist_a"`` (``.get_data()`` gives their heights and edges) and their
    axes, and ``panel.data["z_norm"]`` the normalized values, shape (m,), for
    tests.
    """
    if int(m) != m or m < 2:
        raise ValueError(f"m must be an integer >= 2; got {m!r}.")
    if not raw_std > 0:
        raise ValueError(f"raw_std must be positive; got {raw_std}.")
    rng = np.random.default_rng(seed)
    z_raw = raw_mean + raw_std * rng.standard_normal((1, int(m)))
    _, cache = batchnorm_forward(z_raw, np.ones((1, 1)), np.zeros((1, 1)))
    z_norm = cache.Z_norm[0]  # shape (m,)

    a = near_linear_bound()
    b = saturation_bound()
    x_max = 12.0

    # Left histogram: bins over Z_norm, counted once.
    counts_in, edges_in = np.histogram(z_norm, bins=40)
    width_in = np.diff(edges_in)
    # Right histogram: fixed bins over the sigmoid's output range.
    edges_out = np.linspace(0.0, 1.0, 51)
    width_out = edges_out[1] - edges_out[0]

    fig, (ax_z, ax_a) = plots.panel_figure(1, 2, figsize=(9.6, 4.0))

    ax_z.axvspan(
        -a,
        a,
        color=_REGION_NEAR,
        alpha=0.18,
        lw=0,
        label=f"near-linear: |z̃| ≤ {a:.2f} (slope ≥ 0.2)",
    )
    ax_z.axvspan(
        -x_max,
        -b,
        color=_REGION_SAT,
        alpha=0.25,
        lw=0,
        label=f"saturated: |z̃| > {b:.2f} (output < 0.05 or > 0.95)",
    )
    ax_z.axvspan(b, x_max, color=_REGION_SAT, alpha=0.25, lw=0)
    hist_z = ax_z.stairs(
        counts_in / (m * width_in),
        edges_in,
        fill=True,
        color=plots.BN_COLOR,
        alpha=0.75,
        label="values of Z̃ (histogram)",
    )
    ax_z.set_xlim(-x_max, x_max)
    ax_z.set_xlabel("z̃ = γ·z_norm + β (input to the sigmoid)")
    ax_z.set_ylabel("density of Z̃ values")
    ax_z.yaxis.set_label_coords(-0.13, 0.5)  # fixed: see ax_a's label below
    ax_z.set_title("Input: Z̃ and the sigmoid's regions")

    ax_s = ax_z.twinx()
    grid = np.linspace(-x_max, x_max, 601)
    (curve,) = ax_s.plot(
        grid,
        sigmoid(grid),
        color=plots.OKABE_ITO["black"],
        lw=1.5,
        label="sigmoid(z̃) (right axis)",
    )
    tangent_x = np.linspace(-3.0, 3.0, 3)
    (tangent,) = ax_s.plot(
        tangent_x,
        0.5 + tangent_x / 4.0,
        "--",
        color=plots.OKABE_ITO["orange"],
        lw=1.2,
        label="tangent at 0: 1/2 + z̃/4",
    )
    ax_s.set_ylim(-0.05, 1.05)
    ax_s.set_ylabel("sigmoid(z̃)")
    ax_s.yaxis.set_label_coords(1.1, 0.5)
    ax_s.grid(False)
    ax_s.spines["top"].set_visible(False)

    ax_a.axvspan(sigmoid(-a), sigmoid(a), color=_REGION_NEAR, alpha=0.18, lw=0)
    ax_a.axvspan(0.0, SATURATION_LEVEL, color=_REGION_SAT, alpha=0.25, lw=0)
    ax_a.axvspan(1.0 - SATURATION_LEVEL, 1.0, color=_REGION_SAT, alpha=0.25, lw=0)
    hist_a = ax_a.stairs(
        np.zeros(edges_out.size - 1),
        edges_out,
        fill=True,
        color=plots.OKABE_ITO["purple"],
        alpha=0.8,
        label="values of sigmoid(Z̃)",
    )
    ax_a.set_xlim(0.0, 1.0)
    ax_a.set_xlabel("a = sigmoid(z̃) (the unit's activation)")
    ax_a.set_ylabel(f"% of values per bin (width {width_out:.2f})")
    # Fixed label positions: the y tick labels change width as the sliders
    # rescale the axes (10 -> 17.5 -> 100), and with the layout frozen after
    # the first draw a moving label would run into the neighbouring axes.
    ax_a.yaxis.set_label_coords(-0.12, 0.5)
    ax_a.set_title("Output: a = sigmoid(Z̃)")

    handles = [*ax_z.get_legend_handles_labels()[0], curve, tangent, hist_a]
    fig.legend(handles=handles, loc="outside lower center", ncols=3)

    def update(gamma: float, beta: float) -> str:
        gamma = float(gamma)
        beta = float(beta)
        if not gamma > 0:
            raise ValueError(f"gamma must be positive for this demo; got {gamma}.")
        z_tilde = gamma * z_norm + beta
        dens = counts_in / (m * gamma * width_in)
        hist_z.set_data(values=dens, edges=gamma * edges_in + beta)
        ax_z.set_ylim(0.0, 1.12 * float(dens.max()))
        out_counts, _ = np.histogram(sigmoid(z_tilde), bins=edges_out)
        pct = 100.0 * out_counts / m
        hist_a.set_data(values=pct)
        ax_a.set_ylim(0.0, max(10.0, 1.12 * float(pct.max())))
        shares = regime_shares(z_tilde)
        r2 = linearity_r2(z_tilde)
        off = float(np.mean(np.abs(z_tilde) > x_max))
        beyond = (
            f" ({100 * off:.1f} % of the values lie beyond the plotted |z̃| ≤ "
            f"{x_max:.0f}.)"
            if off > 0
            else ""
        )
        return (
            f"γ = {gamma:.2f}, β = {beta:+.2f}: Z̃ has mean {z_tilde.mean():+.2f} and "
            f"standard deviation {z_tilde.std():.2f}.<br>"
            f"Near-linear: <b>{100 * shares['near_linear']:.1f} %</b> · curved: "
            f"<b>{100 * shares['curved']:.1f} %</b> · saturated: "
            f"<b>{100 * shares['saturated']:.1f} %</b> of the {m} values.<br>"
            f"Straight-line fit of a on z̃ over the batch: R² = <b>{r2:.3f}</b> → "
            f"{_verdict(shares, r2, float(z_tilde.std()))}.{beyond}"
        )

    controls = {
        "gamma": widgets.float_slider("γ (gamma): std of Z̃", 1.0, 0.1, 5.0, 0.05),
        "beta": widgets.float_slider("β (beta): mean of Z̃", 0.0, -5.0, 5.0, 0.1),
    }
    panel = widgets.Panel(
        controls, fig, update, title="γ and β of one unit that feeds a sigmoid"
    )
    panel.artists = {"hist_z": hist_z, "hist_a": hist_a, "ax_z": ax_z, "ax_a": ax_a}
    panel.data = {"z_norm": z_norm, "edges_out": edges_out}
    return panel


# --------------------------------------------------------------------------
# Panel 2: each example's normalized value depends on the whole mini-batch
# --------------------------------------------------------------------------


def batch_coupling_panel(m: int = 8, seed: int = 0) -> widgets.Panel:
    """A slider moves example 1's raw value z(1) in a mini-batch of one unit.

    Left: the raw values z(i) of the ``m`` examples with the batch mean mu and
    mu +- sigma. Right: their normalized values z_norm(i) (gamma = 1, beta = 0),
    with hollow markers at the values they had when the panel was built. The
    other examples' raw values never change, yet all their normalized values
    move. Readout: the change in example 2's normalized value.

    Returns a :class:`bnutils.widgets.Panel` with the control ``"z1"`` (-10..10);
    ``panel.artists`` holds the stems (LineCollections ``"stems_raw"``,
    ``"stems_norm"``) and markers, ``panel.data`` the starting raw and
    normalized values, shape (m,), for tests.
    """
    if int(m) != m or m < 3:
        raise ValueError(
            f"m must be an integer >= 3 (example 1 moves, example 2 is read out, "
            f"at least one more keeps the batch); got {m!r}."
        )
    m = int(m)
    rng = np.random.default_rng(seed)
    z_start = np.round(1.0 + 2.0 * rng.standard_normal(m), 1)  # shape (m,)
    norm_start = normalize_one_unit(z_start)
    idx = np.arange(1, m + 1)
    z_lim = 10.0
    norm_lim = math.sqrt(m - 1)  # |z_norm| <= sqrt(m - 1) for any batch of m

    # Vermillion and reddish purple stay apart for colour-blind readers too.
    c_other, c_one, c_two = plots.BN_COLOR, plots.PLAIN_COLOR, plots.OKABE_ITO["purple"]
    colors = [c_one, c_two] + [c_other] * (m - 2)

    fig, (ax_r, ax_n) = plots.panel_figure(1, 2, figsize=(9.6, 3.9))

    stems_r = ax_r.vlines(idx, 0.0, z_start, colors=colors, lw=2)
    (pts_other_r,) = ax_r.plot(
        idx[2:],
        z_start[2:],
        "o",
        color=c_other,
        ms=8,
        label="examples 3..m (raw values fixed)",
    )
    (pt1_r,) = ax_r.plot(
        idx[:1],
        z_start[:1],
        "s",
        color=c_one,
        ms=9,
        label="example 1 (moved by the slider)",
    )
    (pt2_r,) = ax_r.plot(
        idx[1:2],
        z_start[1:2],
        "D",
        color=c_two,
        ms=8,
        label="example 2 (read out below)",
    )
    mu_line = ax_r.axhline(
        z_start.mean(),
        color=plots.OKABE_ITO["green"],
        ls="--",
        lw=1.5,
        label="batch mean μ",
    )
    sd_band = ax_r.axhspan(
        z_start.mean() - z_start.std(),
        z_start.mean() + z_start.std(),
        color=plots.OKABE_ITO["green"],
        alpha=0.12,
        lw=0,
        label="μ ± σ",
    )
    ax_r.set_xlim(0.4, m + 0.6)
    ax_r.set_ylim(-z_lim - 0.5, z_lim + 0.5)
    ax_r.set_xticks(idx)
    ax_r.set_xlabel("example i in the mini-batch")
    ax_r.set_ylabel("raw value z(i)")
    ax_r.set_title("Raw values of one unit")

    (ghost,) = ax_n.plot(
        idx,
        norm_start,
        "o",
        mfc="none",
        mec="#777777",
        ms=10,
        label="z_norm(i) before z(1) moved",
    )
    stems_n = ax_n.vlines(idx, 0.0, norm_start, colors=colors, lw=2)
    (pts_other_n,) = ax_n.plot(idx[2:], norm_start[2:], "o", color=c_other, ms=8)
    (pt1_n,) = ax_n.plot(idx[:1], norm_start[:1], "s", color=c_one, ms=9)
    (pt2_n,) = ax_n.plot(idx[1:2], norm_start[1:2], "D", color=c_two, ms=8)
    ax_n.axhline(0.0, color="#444444", lw=0.8)
    ax_n.set_xlim(0.4, m + 0.6)
    ax_n.set_ylim(-norm_lim - 0.2, norm_lim + 0.2)
    ax_n.set_xticks(idx)
    ax_n.set_xlabel("example i in the mini-batch")
    ax_n.set_ylabel("normalized value z_norm(i)")
    ax_n.set_title("Normalized with this batch's μ and σ")

    handles = [pt1_r, pt2_r, pts_other_r, mu_line, sd_band, ghost]
    fig.legend(handles=handles, loc="outside lower center", ncols=3)

    def _segments(values):
        return [np.array([[i, 0.0], [i, v]]) for i, v in zip(idx, values, strict=True)]

    def update(z1: float) -> str:
        z = z_start.copy()
        z[0] = float(z1)
        z_norm = normalize_one_unit(z)
        mu, sigma = float(z.mean()), float(z.std())
        stems_r.set_segments(_segments(z))
        pt1_r.set_data(idx[:1], z[:1])
        mu_line.set_ydata([mu, mu])
        sd_band.set_y(mu - sigma)
        sd_band.set_height(2.0 * sigma)
        stems_n.set_segments(_segments(z_norm))
        pts_other_n.set_data(idx[2:], z_norm[2:])
        pt1_n.set_data(idx[:1], z_norm[:1])
        pt2_n.set_data(idx[1:2], z_norm[1:2])
        change = z_norm - norm_start
        n_moved = int(np.count_nonzero(np.abs(change[1:]) > 1e-9))
        return (
            f"z(1) = {z[0]:+.1f} → batch mean μ = {mu:+.2f}, σ = {sigma:.2f}.<br>"
            f"Example 2: raw z(2) = {z[1]:+.1f} (never changes); normalized "
            f"z_norm(2) = {z_norm[1]:+.3f}, was {norm_start[1]:+.3f} at the start: "
            f"<b>change {change[1]:+.3f}</b>.<br>"
            f"{n_moved} of the other {m - 1} examples' normalized values have moved "
            f"(largest change {np.abs(change[1:]).max():.3f})."
        )

    controls = {
        "z1": widgets.float_slider(
            "z(1): raw value of example 1",
            float(z_start[0]),
            -z_lim,
            z_lim,
            0.1,
            readout_format=".1f",
        )
    }
    panel = widgets.Panel(
        controls,
        fig,
        update,
        title="One example moves; the whole batch's outputs move",
    )
    panel.artists = {
        "stems_raw": stems_r,
        "stems_norm": stems_n,
        "point1_norm": pt1_n,
        "point2_norm": pt2_n,
        "others_norm": pts_other_n,
        "mu_line": mu_line,
    }
    panel.data = {"z_start": z_start, "norm_start": norm_start}
    return panel
