"""Notebook 04, mini-batch statistics: Batch Norm's noise and what it does.

Every mini-batch (미니배치) is normalized with its own mean and variance only,
so the statistics, and with them every normalized value, change from one
mini-batch to the next. The notebook computes the lesson in its cells; this
module holds the figures, the panel and the slow bookkeeping:

* The noise of the batch statistics for Gaussian data ``z ~ N(mu, sigma^2)``:

  - the batch mean ``mu_B`` has standard deviation ``sigma / sqrt(m)``
    (:func:`batch_mean_std`);
  - the *biased* batch variance ``var_B`` (the one Batch Norm normalizes with)
    satisfies ``m var_B / sigma^2 ~ chi^2_{m-1}``, so ``E[var_B] = (m-1)/m
    sigma^2`` and ``Var(var_B) = 2 sigma^4 (m-1) / m^2`` exactly, i.e. a
    standard deviation of ``sigma^2 sqrt(2 (m-1)) / m``
    (:func:`batch_var_std`). The often-quoted ``2 sigma^4 / (m-1)``
    (:func:`unbiased_var_std` squared) is exact for the *unbiased* variance
    ``m/(m-1) var_B``; the two differ by the factor ``((m-1)/m)^2``: 4 at
    ``m = 2``, 1.07 at ``m = 32``.

  :func:`sample_batch_stats` and :func:`measure_stat_noise` sample thousands of
  mini-batches at once (vectorized, seeded per batch size);
  :func:`plot_stat_noise` draws the measurement against the theory on log-log
  axes; :func:`stat_noise_panel` is the slider over ``m``. The exercise's
  checkers :func:`check_batch_mean_std` and :func:`check_batch_var_std` are
  re-exported from :mod:`bnutils.checks`.
* Ghost batches (고스트 배치; Hoffer, Hubara & Soudry 2017): Batch Norm's own
  noise separated from the gradient's. :func:`ghost_batch_experiment` trains
  the same ReLU network, from the same initial weights on the same
  mini-batches of 64, once per configuration and seed, all seeds of a
  configuration stacked into one array; only where each Batch Norm layer takes
  its statistics from differs: ghost batches of 2 .. 64 examples
  (:func:`ghost_bn_forward`, :func:`ghost_bn_backward`), the whole training
  set (no batch noise), or statistics frozen for an epoch.
  :func:`plot_ghost_experiment` draws test accuracy and the train-test gap per
  seed. ``scripts/ghost_batch.py`` runs the full-size version.

Arrays follow the course's layout (units, examples) = ``(n_l, m)``; stacks of
runs put the run (seed) first, ``(S, n_l, m)``. A stack of many mini-batches
of *one* unit is stored as ``(n_batches, m)``: one row per mini-batch, so
statistics over ``axis=1`` give every batch's ``mu_B`` at once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
from matplotlib.ticker import NullFormatter

from bnutils import plots, widgets

# The exercise's checkers live in bnutils.checks; re-exported here for the notebook.
from bnutils.checks.batch_noise import (
    CHECK_CASES,
    CHECK_TOL,
    check_batch_mean_std,
    check_batch_var_std,
)
from bnutils.threads import TRAINING_BLAS_THREADS, limit_blas_threads

__all__ = [
    "BATCH_SIZE_OPTIONS",
    "CHECK_CASES",
    "CHECK_TOL",
    "EXAMPLE_COLOR",
    "FIT_THRESHOLD",
    "GHOST_COLORS",
    "GHOST_CONTROLS",
    "GHOST_NOTEBOOK",
    "MEAN_COLOR",
    "VAR_COLOR",
    "BatchStats",
    "GhostResult",
    "NoiseMeasurement",
    "batch_mean_std",
    "batch_var_mean",
    "batch_var_pdf",
    "batch_var_std",
    "check_batch_mean_std",
    "check_batch_var_std",
    "ghost_batch_experiment",
    "ghost_bn_backward",
    "ghost_bn_forward",
    "ghost_data",
    "measure_stat_noise",
    "noise_z_scores",
    "plot_ghost_experiment",
    "plot_stat_noise",
    "sample_batch_stats",
    "stat_noise_panel",
    "unbiased_var_std",
]

#: The values the batch-size slider offers: roughly log-spaced from 2 to 256.
BATCH_SIZE_OPTIONS = (
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    16,
    20,
    24,
    32,
    40,
    48,
    64,
    80,
    96,
    128,
    160,
    192,
    256,
)

#: Colours of the two statistics in this notebook's figures (blue and vermillion
#: are kept for "with / without Batch Norm").
MEAN_COLOR = plots.OKABE_ITO["green"]
VAR_COLOR = plots.OKABE_ITO["purple"]
EXAMPLE_COLOR = plots.OKABE_ITO["orange"]


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _batch_sizes(m, name: str = "m") -> np.ndarray:
    """``m`` (an int or an array of ints) as an int64 array; every entry >= 2."""
    arr = np.asarray(m)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be an integer (or an array of integers).")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold whole numbers; got {m!r}.")
    if np.any(arr < 2):
        raise ValueError(
            f"{name} must be at least 2: a mini-batch of one example has no spread "
            f"(its variance is 0); got {m!r}."
        )
    return arr.astype(np.int64)


def _positive(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number; got {value!r}.") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number; got {value}.")
    return value


def _sigma(sigma) -> np.ndarray:
    arr = np.asarray(sigma, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            "sigma (the standard deviation of the data) must be positive; "
            f"got {sigma!r}."
        )
    return arr


def _count(value, name: str, minimum: int) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _float_or_array(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


# --------------------------------------------------------------------------
# Closed forms (the exercise's reference solutions)
# --------------------------------------------------------------------------


def batch_mean_std(sigma, m):
    """Standard deviation of the mini-batch mean ``mu_B`` over random batches.

    ``mu_B`` averages ``m`` independent values of variance ``sigma^2``, so
    ``Var(mu_B) = sigma^2 / m`` (any distribution) and the standard deviation
    is ``sigma / sqrt(m)``.

    Parameters
    ----------
    sigma : standard deviation of one unit's values, > 0 (scalar or array).
    m : examples per mini-batch, >= 2 (int or int array; broadcasts with sigma).

    Returns a float, or an array of the broadcast shape of ``sigma`` and ``m``.
    """
    sigma = _sigma(sigma)
    m = _batch_sizes(m)
    # The mean of m values has variance sigma^2 / m: divide sigma by sqrt(m).
    return _float_or_array(sigma / np.sqrt(m))


def batch_var_std(sigma, m):
    """Standard deviation of the biased mini-batch variance ``var_B``, Gaussian data.

    For ``m`` independent values from ``N(mu, sigma^2)``, ``m var_B / sigma^2``
    follows a chi-square distribution with ``m - 1`` degrees of freedom, whose
    variance is ``2 (m - 1)``. Hence ``Var(var_B) = 2 sigma^4 (m - 1) / m^2``
    (exact) and the standard deviation is ``sigma^2 sqrt(2 (m - 1)) / m``.

    Parameters
    ----------
    sigma : standard deviation of one unit's values, > 0 (scalar or array).
    m : examples per mini-batch, >= 2 (int or int array; broadcasts with sigma).

    Returns a float, or an array of the broadcast shape of ``sigma`` and ``m``.
    """
    sigma = _sigma(sigma)
    m = _batch_sizes(m)
    # var_B = sigma^2 / m * chi2(m - 1) and Var(chi2(k)) = 2 k.
    return _float_or_array(sigma**2 * np.sqrt(2.0 * (m - 1)) / m)


def unbiased_var_std(sigma, m):
    """Standard deviation of the *unbiased* variance ``m/(m-1) var_B``.

    ``sigma^2 sqrt(2 / (m - 1))``: the ``Var = 2 sigma^4 / (m - 1)`` often quoted
    for the noise of the batch variance. Larger than :func:`batch_var_std` by
    the factor ``m / (m - 1)``. Same parameters and return shape.
    """
    sigma = _sigma(sigma)
    m = _batch_sizes(m)
    return _float_or_array(sigma**2 * np.sqrt(2.0 / (m - 1)))


def batch_var_mean(sigma, m):
    """Expected biased batch variance ``E[var_B] = (m - 1) / m * sigma^2``.

    Same parameters and return shape as :func:`batch_var_std`. Biased low:
    half of ``sigma^2`` at ``m = 2``.
    """
    sigma = _sigma(sigma)
    m = _batch_sizes(m)
    return _float_or_array(sigma**2 * (m - 1) / m)


def batch_var_pdf(v, sigma, m: int) -> np.ndarray:
    """Density of the biased batch variance ``var_B`` for Gaussian data.

    ``var_B = sigma^2 / m * X`` with ``X ~ chi^2_k``, ``k = m - 1``.

    Parameters
    ----------
    v : points where the density is evaluated, any shape, values > 0.
    sigma : standard deviation of the data, > 0.
    m : examples per mini-batch, an int >= 2.

    Returns the density at ``v``, same shape as ``v`` (0 where ``v <= 0``).
    """
    sigma = _positive(sigma, "sigma")
    m = int(_batch_sizes(m))
    v = np.asarray(v, dtype=np.float64)
    scale = sigma**2 / m
    k = m - 1
    x = np.where(v > 0, v / scale, 1.0)
    log_pdf = (
        (k / 2 - 1) * np.log(x) - x / 2 - (k / 2) * math.log(2) - math.lgamma(k / 2)
    )
    return np.where(v > 0, np.exp(log_pdf) / scale, 0.0)


# --------------------------------------------------------------------------
# Sampling the batch statistics
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchStats:
    """Statistics of ``n_batches`` random mini-batches of one unit.

    Attributes
    ----------
    m : examples per mini-batch.
    mu_B : each batch's mean, shape (n_batches,).
    var_B : each batch's biased variance, shape (n_batches,).
    z_norm_x : the normalized value of a fixed example ``x`` placed in every
        batch (in place of one random example), shape (n_batches,); ``None``
        when no ``x`` was given.
    """

    m: int
    mu_B: np.ndarray
    var_B: np.ndarray
    z_norm_x: np.ndarray | None = None


def sample_batch_stats(
    m: int,
    n_batches: int = 4000,
    mu: float = 1.0,
    sigma: float = 2.0,
    seed: int = 0,
    x: float | None = None,
    eps: float = 1e-5,
) -> BatchStats:
    """Draw ``n_batches`` mini-batches of ``m`` values from ``N(mu, sigma^2)``.

    All batches are drawn at once as a ``(n_batches, m)`` array (one row per
    mini-batch of one unit). The generator is seeded with ``(seed, m)``, so each
    batch size has its own fixed sample: the same arguments give the same
    numbers.

    Parameters
    ----------
    m : examples per mini-batch, >= 2.
    n_batches : number of mini-batches, >= 2.
    mu, sigma : mean and standard deviation of the data (sigma > 0).
    seed : base seed.
    x : optional fixed value; when given, column 0 of every batch is replaced by
        ``x`` for :attr:`BatchStats.z_norm_x` (``mu_B`` and ``var_B`` are those
        of the purely random batches).
    eps : added to the variance inside the square root, as in Batch Norm.

    Returns a :class:`BatchStats`.
    """
    m = int(_batch_sizes(m))
    n_batches = _count(n_batches, "n_batches", 2)
    sigma = _positive(sigma, "sigma")
    mu = float(mu)
    if not math.isfinite(mu):
        raise ValueError(f"mu must be finite; got {mu}.")
    seed = _count(seed, "seed", 0)
    rng = np.random.default_rng([seed, m])
    Z = mu + sigma * rng.standard_normal((n_batches, m))  # (n_batches, m)
    mu_B = Z.mean(axis=1)
    var_B = np.mean((Z - mu_B[:, None]) ** 2, axis=1)
    z_norm_x = None
    if x is not None:
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"x must be a finite number; got {x}.")
        Z[:, 0] = x  # the fixed example takes the place of one random example
        mu_x = Z.mean(axis=1)
        var_x = np.mean((Z - mu_x[:, None]) ** 2, axis=1)
        z_norm_x = (x - mu_x) / np.sqrt(var_x + eps)
    return BatchStats(m, mu_B, var_B, z_norm_x)


@dataclass(frozen=True)
class NoiseMeasurement:
    """Measured spread of the batch statistics per batch size.

    Every array has shape (n_sizes,), one entry per batch size.

    Attributes
    ----------
    batch_sizes : the batch sizes m (int).
    std_mu, std_var : sample standard deviation (ddof=1) of ``mu_B`` and of
        ``var_B`` over the batches.
    se_mu, se_var : standard errors of those standard deviations, from the
        sample kurtosis: ``se(s) = s * sqrt((kurt - 1) / (4 n))`` (delta method).
    mean_var : average ``var_B``.
    mu, sigma, n_batches : the settings.
    """

    batch_sizes: np.ndarray
    std_mu: np.ndarray
    std_var: np.ndarray
    se_mu: np.ndarray
    se_var: np.ndarray
    mean_var: np.ndarray
    mu: float
    sigma: float
    n_batches: int


def _std_and_se(values: np.ndarray) -> tuple[float, float]:
    n = values.shape[0]
    centred = values - values.mean()
    m2 = np.mean(centred**2)
    kurt = np.mean(centred**4) / m2**2
    s = float(np.sqrt(m2 * n / (n - 1)))
    return s, float(s * np.sqrt(max(kurt - 1.0, 0.0) / (4.0 * n)))


def measure_stat_noise(
    batch_sizes=BATCH_SIZE_OPTIONS,
    n_batches: int = 4000,
    mu: float = 1.0,
    sigma: float = 2.0,
    seed: int = 0,
) -> NoiseMeasurement:
    """Measure the standard deviation of ``mu_B`` and ``var_B`` for each ``m``.

    Uses :func:`sample_batch_stats` (``n_batches`` batches per size, seeded by
    ``(seed, m)``). Returns a :class:`NoiseMeasurement`.
    """
    sizes = _batch_sizes(batch_sizes, "batch_sizes").ravel()
    if sizes.size == 0:
        raise ValueError("batch_sizes is empty; give at least one batch size.")
    rows = []
    for m in sizes:  # one vectorized draw per batch size
        stats = sample_batch_stats(int(m), n_batches, mu, sigma, seed)
        rows.append(
            (*_std_and_se(stats.mu_B), *_std_and_se(stats.var_B), stats.var_B.mean())
        )
    cols = np.array(rows).T
    return NoiseMeasurement(
        sizes,
        cols[0],
        cols[2],
        cols[1],
        cols[3],
        cols[4],
        float(mu),
        float(sigma),
        int(n_batches),
    )


def noise_z_scores(meas: NoiseMeasurement) -> dict[str, np.ndarray]:
    """How far each measurement is from the exact theory, in standard errors.

    Returns ``{"mu": ..., "var": ..., "var_unbiased_formula": ...}``, arrays of
    shape (n_sizes,): ``(measured - theory) / standard error`` for the std of
    ``mu_B`` (theory :func:`batch_mean_std`), of ``var_B`` (theory
    :func:`batch_var_std`) and of ``var_B`` against the unbiased-variance
    formula :func:`unbiased_var_std` (which should *not* fit at small m).
    """
    m, s = meas.batch_sizes, meas.sigma
    return {
        "mu": (meas.std_mu - batch_mean_std(s, m)) / meas.se_mu,
        "var": (meas.std_var - batch_var_std(s, m)) / meas.se_var,
        "var_unbiased_formula": (meas.std_var - unbiased_var_std(s, m)) / meas.se_var,
    }


def plot_stat_noise(meas: NoiseMeasurement, ax=None) -> dict:
    """Measured std of ``mu_B`` and ``var_B`` against ``m``, with the theory.

    Log-log axes. Markers: measurements (error bars: 2 standard errors, mostly
    smaller than the markers). Solid lines: exact theory
    ``sigma / sqrt(m)`` and ``sigma^2 sqrt(2 (m-1)) / m``. Dashed: the
    unbiased-variance formula ``sigma^2 sqrt(2 / (m-1))``.

    Returns a dict of the artists (``"ax"``, ``"mu_points"``, ``"var_points"``,
    ``"mu_theory"``, ``"var_theory"``, ``"var_unbiased"``).
    """
    if ax is None:
        _, ax = plots.subplots(figsize=(7.2, 4.2))
    m = meas.batch_sizes
    grid = np.unique(np.round(np.geomspace(m.min(), m.max(), 200)).astype(int))
    s = meas.sigma
    (mu_theory,) = ax.plot(
        grid,
        batch_mean_std(s, grid),
        color=MEAN_COLOR,
        lw=1.6,
        label=r"theory: $\sigma/\sqrt{m}$",
    )
    mu_points = ax.errorbar(
        m,
        meas.std_mu,
        yerr=2 * meas.se_mu,
        fmt="o",
        color=MEAN_COLOR,
        ms=5,
        capsize=2,
        label=r"measured std of $\mu_B$",
    )
    (var_theory,) = ax.plot(
        grid,
        batch_var_std(s, grid),
        color=VAR_COLOR,
        lw=1.6,
        label=r"theory (exact, biased $\sigma^2_B$): $\sigma^2\sqrt{2(m-1)}/m$",
    )
    (var_unbiased,) = ax.plot(
        grid,
        unbiased_var_std(s, grid),
        color=VAR_COLOR,
        lw=1.2,
        ls="--",
        label=r"unbiased-variance formula $\sigma^2\sqrt{2/(m-1)}$",
    )
    var_points = ax.errorbar(
        m,
        meas.std_var,
        yerr=2 * meas.se_var,
        fmt="s",
        color=VAR_COLOR,
        ms=5,
        capsize=2,
        label=r"measured std of $\sigma^2_B$",
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(
        [2, 4, 8, 16, 32, 64, 128, 256], ["2", "4", "8", "16", "32", "64", "128", "256"]
    )
    ax.set_yticks([0.1, 0.2, 0.5, 1, 2, 5], ["0.1", "0.2", "0.5", "1", "2", "5"])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("mini-batch size m (log scale)")
    ax.set_ylabel("standard deviation over batches (log scale)")
    ax.set_title(
        f"Noise of the batch statistics, data N({meas.mu:g}, {s:g}²), "
        f"{meas.n_batches} batches per m"
    )
    ax.legend(loc="upper right")
    return {
        "ax": ax,
        "mu_points": mu_points,
        "var_points": var_points,
        "mu_theory": mu_theory,
        "var_theory": var_theory,
        "var_unbiased": var_unbiased,
    }


# --------------------------------------------------------------------------
# The panel: a slider for m
# --------------------------------------------------------------------------


def _normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def stat_noise_panel(
    mu: float = 1.0,
    sigma: float = 2.0,
    n_batches: int = 4000,
    seed: int = 0,
    x_sigmas: float = 1.5,
    options=BATCH_SIZE_OPTIONS,
    value: int = 8,
) -> widgets.Panel:
    """A slider for the batch size m; histograms of the batch statistics.

    For the chosen ``m``, ``n_batches`` mini-batches of one unit's values
    ``z ~ N(mu, sigma^2)`` are drawn (:func:`sample_batch_stats`, seeded per
    ``m``, cached). Three histograms (densities) over the batches:

    1. ``mu_B`` with the theoretical density ``N(mu, sigma^2 / m)``;
    2. ``var_B`` (biased) with its exact density (scaled chi-square with
       ``m - 1`` degrees of freedom), the true ``sigma^2`` and the expected
       ``(m - 1)/m sigma^2``;
    3. the normalized value ``z_norm`` of one fixed example
       ``x = mu + x_sigmas * sigma`` placed in every batch, with the value it
       would get from the population statistics, ``x_sigmas``.

    The axes' x ranges and the bins are fixed (so the histograms visibly narrow
    as m grows); the callback only changes bar heights, the theory curves' data
    and the y limits. Readout: measured and theoretical standard deviations.

    Returns a :class:`bnutils.widgets.Panel` with the control ``"m"`` (a
    selection slider over ``options``); ``panel.artists`` holds the histograms
    (filled :class:`~matplotlib.patches.StepPatch` artists whose values are the
    bar heights) ``"bars_mu"``, ``"bars_var"``, ``"bars_z"``, the curves
    ``"pdf_mu"``, ``"pdf_var"`` and the axes; ``panel.data`` the bin edges.
    """
    sigma = _positive(sigma, "sigma")
    mu = float(mu)
    opts = [int(v) for v in _batch_sizes(list(options), "options").ravel()]
    if int(value) not in opts:
        raise ValueError(f"value must be one of the options {opts}; got {value!r}.")
    x = mu + float(x_sigmas) * sigma
    m_min, m_max = min(opts), max(opts)

    # Fixed bins, wide enough for the smallest m (within about 3.2 std).
    half = 3.2 * float(batch_mean_std(sigma, m_min))
    edges_mu = np.linspace(mu - half, mu + half, 161)
    var_hi = sigma**2 * 3.5
    edges_var = np.linspace(0.0, var_hi, 141)
    z_lo, z_hi = -2.5, max(3.5, float(x_sigmas) + 2.0)
    edges_z = np.linspace(z_lo, z_hi, 121)
    grid_mu = np.linspace(edges_mu[0], edges_mu[-1], 400)
    grid_var = np.linspace(var_hi / 2000, var_hi, 400)

    fig, (ax_mu, ax_var, ax_z) = plots.panel_figure(1, 3, figsize=(11.5, 3.9))

    def bars(ax, edges, color, label):
        # One filled step patch per histogram: far cheaper to redraw than bars.
        return ax.stairs(
            np.zeros(edges.size - 1),
            edges,
            fill=True,
            color=color,
            alpha=0.6,
            label=label,
        )

    bars_mu = bars(ax_mu, edges_mu, MEAN_COLOR, r"$\mu_B$ of each batch")
    (pdf_mu,) = ax_mu.plot(
        grid_mu,
        np.zeros_like(grid_mu),
        color="black",
        lw=1.4,
        label=r"theory $N(\mu, \sigma^2/m)$",
    )
    ax_mu.axvline(mu, color="#555555", ls=":", lw=1.2, label=rf"true $\mu$ = {mu:g}")
    ax_mu.set_xlim(edges_mu[0], edges_mu[-1])
    ax_mu.set_xlabel(r"batch mean $\mu_B$")
    ax_mu.set_ylabel("density over batches")
    ax_mu.set_title(r"Mean $\mu_B$")
    ax_mu.legend(loc="upper left", fontsize=8)

    bars_var = bars(ax_var, edges_var, VAR_COLOR, r"$\sigma^2_B$ of each batch")
    (pdf_var,) = ax_var.plot(
        grid_var,
        np.zeros_like(grid_var),
        color="black",
        lw=1.4,
        label=r"theory: $\frac{\sigma^2}{m}\chi^2_{m-1}$",
    )
    ax_var.axvline(
        sigma**2,
        color="#555555",
        ls=":",
        lw=1.2,
        label=rf"true $\sigma^2$ = {sigma**2:g}",
    )
    mean_line = ax_var.axvline(
        float(batch_var_mean(sigma, value)),
        color="black",
        ls="--",
        lw=1.0,
        label=r"$E[\sigma^2_B] = (m-1)\,\sigma^2 / m$",
    )
    ax_var.set_xlim(0.0, var_hi)
    ax_var.set_xlabel(r"biased batch variance $\sigma^2_B$")
    ax_var.set_ylabel("density over batches")
    ax_var.set_title(r"Variance $\sigma^2_B$")
    ax_var.legend(loc="upper right", fontsize=8)

    bars_z = bars(
        ax_z, edges_z, EXAMPLE_COLOR, rf"$z_{{norm}}$ of $x = \mu + {x_sigmas:g}\sigma$"
    )
    ax_z.axvline(
        float(x_sigmas),
        color="black",
        ls="--",
        lw=1.2,
        label=f"its value with the data's μ and σ ({x_sigmas:g})",
    )
    ax_z.set_xlim(z_lo, z_hi)
    ax_z.set_xlabel(r"normalized value $z_{norm}$ of the fixed example")
    ax_z.set_ylabel("density over batches")
    ax_z.set_title("One example, normalized in each batch")
    ax_z.legend(loc="upper left", fontsize=8)

    cache: dict[int, BatchStats] = {}

    def set_bars(step_patch, values, edges):
        counts, _ = np.histogram(values, bins=edges)
        dens = counts / (values.size * np.diff(edges))
        step_patch.set_data(values=dens)
        outside = float(np.mean((values < edges[0]) | (values > edges[-1])))
        return dens, outside

    def update(m) -> str:
        m = int(_batch_sizes(m))
        if m not in cache:
            cache[m] = sample_batch_stats(m, n_batches, mu, sigma, seed, x=x)
        st = cache[m]
        d_mu, out_mu = set_bars(bars_mu, st.mu_B, edges_mu)
        th_mu = _normal_pdf(grid_mu, mu, float(batch_mean_std(sigma, m)))
        pdf_mu.set_ydata(th_mu)
        ax_mu.set_ylim(0.0, 1.15 * max(d_mu.max(), th_mu.max()))

        d_var, out_var = set_bars(bars_var, st.var_B, edges_var)
        pdf_var.set_ydata(batch_var_pdf(grid_var, sigma, m))
        ax_var.set_ylim(0.0, 1.15 * d_var.max())
        e_var = float(batch_var_mean(sigma, m))
        mean_line.set_xdata([e_var, e_var])

        d_z, out_z = set_bars(bars_z, st.z_norm_x, edges_z)
        ax_z.set_ylim(0.0, 1.15 * d_z.max())

        th_sm = float(batch_mean_std(sigma, m))
        th_sv = float(batch_var_std(sigma, m))
        sm = float(np.std(st.mu_B, ddof=1))
        sv = float(np.std(st.var_B, ddof=1))
        sz = float(np.std(st.z_norm_x, ddof=1))
        outside = max(out_mu, out_var, out_z)
        note = (
            f" ({100 * outside:.1f} % of some statistic's values fall outside the "
            "plotted range.)"
            if outside > 0.001
            else ""
        )
        return (
            f"<b>m = {m}</b>, {n_batches} mini-batches of N({mu:g}, {sigma:g}²) "
            "data.<br>"
            f"std of μ_B: measured <b>{sm:.3f}</b>, theory σ/√m = <b>{th_sm:.3f}</b>. "
            f"std of σ²_B: measured <b>{sv:.3f}</b>, theory σ²√(2(m−1))/m = "
            f"<b>{th_sv:.3f}</b> ({100 * th_sv / e_var:.0f} % of its mean "
            f"{e_var:.2f}).<br>"
            f"The example x = {x:g} (μ + {x_sigmas:g}σ): z_norm "
            f"{np.mean(st.z_norm_x):.2f} ± {sz:.2f} (mean ± std over the batches)."
            f"{note}"
        )

    slider = W.SelectionSlider(
        options=opts,
        value=int(value),
        description="m: examples per mini-batch (log-spaced steps)",
        continuous_update=True,
        style={"description_width": "initial"},
        layout=W.Layout(width="520px"),
    )
    panel = widgets.Panel(
        {"m": slider},
        fig,
        update,
        title="How noisy are one mini-batch's μ_B and σ²_B?",
    )
    panel.artists = {
        "bars_mu": bars_mu,
        "bars_var": bars_var,
        "bars_z": bars_z,
        "pdf_mu": pdf_mu,
        "pdf_var": pdf_var,
        "mean_line": mean_line,
        "ax_mu": ax_mu,
        "ax_var": ax_var,
        "ax_z": ax_z,
    }
    panel.data = {
        "edges_mu": edges_mu,
        "edges_var": edges_var,
        "edges_z": edges_z,
        "x": x,
        "m_range": (m_min, m_max),
    }
    return panel


# --------------------------------------------------------------------------
# Ghost batches: Batch Norm's own noise, with the gradient's held fixed
# --------------------------------------------------------------------------

#: The controls the ghost-batch experiment knows, besides ghost sizes (ints).
GHOST_CONTROLS = {
    "whole": "whole set (no noise)",
    "whole_nograd": "whole set, no gradient",
    "frozen": "frozen statistics",
    "plain": "no Batch Norm",
}

#: Colours of the controls in the figures (ghost sizes are Batch Norm blue).
GHOST_COLORS = {
    "whole": plots.OKABE_ITO["green"],
    "whole_nograd": plots.OKABE_ITO["sky_blue"],
    "frozen": plots.OKABE_ITO["orange"],
    "plain": plots.PLAIN_COLOR,
}

#: The notebook's run (a few seconds): every ghost size the issue asks for, the
#: three no-noise controls (the whole set with and without its gradient, and
#: frozen statistics) and a network without Batch Norm, five seeds.
#: ``scripts/ghost_batch.py`` runs the same experiment with more seeds, more
#: ghost sizes and at full image size.
GHOST_NOTEBOOK = {
    "configs": (2, 4, 8, 16, 64, "whole", "whole_nograd", "frozen", "plain"),
    "seeds": (0, 1, 2, 3, 4),
    "n_train": 500,
    "batch_size": 64,
    "epochs": 15,
    "lr": 0.5,
    "momentum_beta": 0.9,
    "hidden": (100, 100),
    "pool": 2,
}

#: A run counts as having fitted its training set at this training accuracy (%):
#: only then does the train-test gap measure overfitting.
FIT_THRESHOLD = 99.0


def _last_axis_sum(A):
    """Sum over the last axis, keepdims (shape (..., 1)), as a matrix-vector
    product: numpy's own reductions over a short last axis (a ghost batch of 2
    to 64 values) are many times slower."""
    A = np.ascontiguousarray(A)
    ones = np.ones((A.shape[-1], 1), dtype=A.dtype)
    return (A.reshape(-1, A.shape[-1]) @ ones).reshape(*A.shape[:-1], 1)


def ghost_bn_forward(Z, gamma, beta, ghost_size: int, eps: float = 1e-5):
    """Batch Norm over ghost batches, for stacks of runs (training mode).

    The same maths as :func:`bnutils.solutions.ghost_batchnorm_forward`, with
    any number of leading axes: the last axis (m examples) is cut into
    ``m // ghost_size`` consecutive ghost batches, each normalized with its own
    mean and biased variance.

    Parameters
    ----------
    Z : shape (..., n_l, m), m a multiple of ghost_size.
    gamma, beta : shape (..., n_l, 1).
    ghost_size : examples per ghost batch; ``m`` is ordinary Batch Norm.
    eps : added to the variance inside the square root.

    Returns
    -------
    Z_tilde : shape of Z.
    cache : ``(Z_norm, inv_std, ghost_size)`` for :func:`ghost_bn_backward`;
        ``inv_std`` has shape (..., n_l, m // ghost_size, 1).
    """
    *lead, n_l, m = Z.shape
    if not 2 <= ghost_size <= m or m % ghost_size:
        raise ValueError(
            f"ghost_size must be at least 2 and divide the {m} examples; got "
            f"{ghost_size}."
        )
    g = ghost_size
    Zg = Z.reshape(*lead, n_l, m // g, g)  # ghost batch j: columns j*g .. j*g + g-1
    mu = _last_axis_sum(Zg) / g
    Zc = Zg - mu
    var = _last_axis_sum(Zc * Zc) / g  # biased, as Batch Norm
    inv_std = 1.0 / np.sqrt(var + eps)
    Zc *= inv_std
    Z_norm = Zc.reshape(Z.shape)
    Z_tilde = Z_norm * gamma
    Z_tilde += beta
    return Z_tilde, (Z_norm, inv_std, g)


def ghost_bn_backward(dZ_tilde, gamma, cache):
    """Backward pass of :func:`ghost_bn_forward`.

    Within each ghost batch of g examples, the Batch Norm gradient
    ``dZ = inv_std * (dZ_norm - mean(dZ_norm) - Z_norm * mean(dZ_norm * Z_norm))``
    with the means over that ghost batch; ``dgamma`` and ``dbeta`` sum over
    all m examples.

    Returns ``(dZ, dgamma, dbeta)`` with the shapes of Z, gamma and beta.
    """
    Z_norm, inv_std, g = cache
    *lead, n_l, m = Z_norm.shape
    shape3 = (*lead, n_l, m // g, g)
    dZt = dZ_tilde.reshape(shape3)
    Zn = Z_norm.reshape(shape3)
    # gamma is one number per unit, so the ghost-batch sums of dZ_norm = dZt * gamma
    # and of dZ_norm * Z_norm are gamma times those of dZt and dZt * Z_norm.
    sum_dzt = _last_axis_sum(dZt)  # (..., n_l, k, 1)
    sum_dzt_zn = _last_axis_sum(dZt * Zn)
    dgamma = sum_dzt_zn.sum(axis=-2)  # (..., n_l, 1)
    dbeta = sum_dzt.sum(axis=-2)
    dZ = dZt - sum_dzt / g
    dZ -= Zn * (sum_dzt_zn / g)
    dZ *= gamma[..., None] * inv_std
    return dZ.reshape(Z_norm.shape), dgamma, dbeta


def ghost_data(n_train: int = 500, pool: int = 2, dtype=np.float32, seed: int = 0):
    """The experiment's data: a stratified subset of the shipped MNIST.

    ``n_train`` training images (class counts differ by at most one, seeded by
    ``seed``) and all 1,000 test images, with ``pool x pool`` average pooling
    (``pool=2``: 14 x 14 = 196 pixels; ``pool=1``: the 784 raw pixels).

    Returns ``(X_train, y_train, X_test, y_test)``: X of shape
    ``(784 // pool**2, m)``, y int64 of shape ``(m,)``.
    """
    from bnutils.data import load_mnist

    pool = _count(pool, "pool", 1)
    if 28 % pool:
        raise ValueError(f"pool must divide 28 (1, 2, 4, 7, 14); got {pool}.")
    X, y, Xt, yt = load_mnist(n_train=n_train, seed=seed, dtype=dtype)

    def pooled(A):
        side = 28 // pool
        m = A.shape[1]
        return A.reshape(side, pool, side, pool, m).mean(axis=(1, 3)).reshape(-1, m)

    return (pooled(X), y, pooled(Xt), yt) if pool > 1 else (X, y, Xt, yt)


def _config_label(config) -> str:
    if isinstance(config, str):
        return GHOST_CONTROLS[config]
    return f"ghost {config}"


def _check_configs(configs, batch_size: int) -> tuple:
    out = []
    for c in configs:
        if isinstance(c, str):
            if c not in GHOST_CONTROLS:
                raise ValueError(
                    f"a config is a ghost size (an int dividing batch_size = "
                    f"{batch_size}) or one of {list(GHOST_CONTROLS)}; got {c!r}."
                )
            out.append(c)
            continue
        g = _count(c, "a ghost size", 2)
        if batch_size % g:
            raise ValueError(
                f"ghost size {g} does not divide batch_size = {batch_size}: every "
                "ghost batch must have the same size."
            )
        out.append(g)
    if not out or len(set(out)) != len(out):
        raise ValueError(
            f"configs must be a non-empty list without repeats; got {configs!r}."
        )
    return tuple(out)


class _Stack:
    """One configuration trained for several seeds at once (leading axis S).

    ``p`` and ``grads`` map parameter names (``W1``.., ``b1``.., ``gamma1``..,
    ``beta1``..) to arrays of shape (S, ...), views into the experiment's flat
    buffers. A Batch Norm configuration keeps its hidden biases at 0 (their
    gradient is 0, as BN removes any shift before it); ``"plain"`` keeps
    gamma = 1 and beta = 0 unused.
    """

    def __init__(self, config, p, grads, n_layers, eps):
        self.config = config
        self.p = p
        self.grads = grads
        self.L = n_layers
        self.eps = eps
        self.stats = None  # frozen: per hidden layer (mu, var), (S, n_l, 1)

    # -- forward ------------------------------------------------------------
    def forward(self, A0, stats=None):
        """Forward pass; returns the output pre-activations (S, n_out, m) and
        per hidden layer ``(A_prev, Zt, bn_cache)``."""
        p, mode = self.p, self.config
        caches, A = [], A0
        for layer in range(1, self.L):
            Z = p[f"W{layer}"] @ A
            gamma, beta = p[f"gamma{layer}"], p[f"beta{layer}"]
            if mode == "plain":
                Zt, c = Z + p[f"b{layer}"], None
            elif mode in ("frozen", "whole_nograd") or stats is not None:
                mu, var = (stats or self.stats)[layer]
                inv_std = 1.0 / np.sqrt(var + self.eps)
                Zn = (Z - mu) * inv_std
                Zt, c = gamma * Zn + beta, (Zn, inv_std)
            else:
                g = Z.shape[-1] if mode == "whole" else mode
                Zt, c = ghost_bn_forward(Z, gamma, beta, g, self.eps)
            caches.append((A, Zt, c))
            A = np.maximum(Zt, 0.0)
        L = self.L
        return p[f"W{L}"] @ A + p[f"b{L}"], caches, A

    def population_stats(self, X):
        """Per hidden layer, the mean and biased variance of Z over all of X
        (each layer normalized with its own statistics before the next)."""
        stats, A = {}, X
        for layer in range(1, self.L):
            Z = self.p[f"W{layer}"] @ A
            mu = Z.mean(axis=-1, keepdims=True)
            var = Z.var(axis=-1, keepdims=True)
            stats[layer] = (mu, var)
            Zn = (Z - mu) / np.sqrt(var + self.eps)
            A = np.maximum(self.p[f"gamma{layer}"] * Zn + self.p[f"beta{layer}"], 0.0)
        return stats

    # -- backward -----------------------------------------------------------
    def backward(self, ZL, caches, A_last, y, cols=None):
        """Gradients of the mean cross-entropy, written into ``self.grads``.

        y : labels, (S, b). cols : None when the loss covers all m columns of
        ZL; else (S, b) indices of the columns that carry the loss (the
        ``"whole"`` configuration runs the whole training set forward).
        Returns the loss of each run, shape (S,).
        """
        S, _, m = ZL.shape
        seeds = np.arange(S)[:, None]
        shifted = ZL - ZL.max(axis=1, keepdims=True)
        expz = np.exp(shifted)
        total = expz.sum(axis=1, keepdims=True)
        P = expz / total
        logp = shifted - np.log(total)
        b = y.shape[1]
        if cols is None:
            cols = np.broadcast_to(np.arange(m), (S, m))
            dZ = P
        else:
            dZ = np.zeros_like(P)
            dZ[seeds, :, cols] = P[seeds, :, cols]
        loss = -logp[seeds, y, cols].mean(axis=1)
        dZ[seeds, y, cols] -= 1.0
        dZ /= b
        g, p, L = self.grads, self.p, self.L
        np.matmul(dZ, A_last.swapaxes(-1, -2), out=g[f"W{L}"])
        g[f"b{L}"][...] = _last_axis_sum(dZ)
        dA = p[f"W{L}"].swapaxes(-1, -2) @ dZ
        for layer in range(L - 1, 0, -1):
            A_prev, Zt, c = caches[layer - 1]
            dZt = dA * (Zt > 0)
            if self.config == "plain":
                dZl = dZt
                g[f"b{layer}"][...] = _last_axis_sum(dZt)
            elif c is not None and len(c) == 2:  # frozen statistics: constants
                Zn, inv_std = c
                g[f"gamma{layer}"][...] = _last_axis_sum(dZt * Zn)
                g[f"beta{layer}"][...] = _last_axis_sum(dZt)
                dZl = dZt * (p[f"gamma{layer}"] * inv_std)
            else:
                dZl, dgamma, dbeta = ghost_bn_backward(dZt, p[f"gamma{layer}"], c)
                g[f"gamma{layer}"][...] = dgamma
                g[f"beta{layer}"][...] = dbeta
            if A_prev.ndim == 2:  # the input X, shared by every run
                np.matmul(dZl, A_prev.T, out=g[f"W{layer}"])
            else:
                np.matmul(dZl, A_prev.swapaxes(-1, -2), out=g[f"W{layer}"])
            if layer > 1:
                dA = p[f"W{layer}"].swapaxes(-1, -2) @ dZl
        return loss


@dataclass
class GhostResult:
    """Accuracy and loss after training, per configuration and seed.

    Attributes
    ----------
    configs : ghost sizes (int) and controls (``"whole"``, ``"frozen"``,
        ``"plain"``), (n_configs,).
    seeds : int, (n_seeds,).
    train_acc, test_acc : in [0, 1], shape (n_configs, n_seeds): inference
        mode, every Batch Norm layer normalized with the population statistics
        of the whole training set after training.
    train_loss, test_loss : mean cross-entropy, same shape and mode.
    settings : the experiment's settings.
    seconds : wall time.
    params : with ``keep_params=True``, config -> parameter name -> the final
        values of every seed, shape (n_seeds, ...); else empty.
    """

    configs: tuple
    seeds: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    params: dict = field(default_factory=dict)

    @property
    def gap(self) -> np.ndarray:
        """Train minus test accuracy in percentage points, (n_configs, n_seeds)."""
        return 100.0 * (self.train_acc - self.test_acc)

    @property
    def labels(self) -> list[str]:
        """A readable name per configuration (``"ghost 8"``, ``"whole set (no
        noise)"``, ...)."""
        return [_config_label(c) for c in self.configs]

    @property
    def fitted(self) -> np.ndarray:
        """Whether every seed reached :data:`FIT_THRESHOLD` % training accuracy,
        per configuration (n_configs,)."""
        return np.all(100.0 * self.train_acc >= FIT_THRESHOLD, axis=1)

    def row(self, config) -> int:
        """The row of a configuration (a ghost size or a control name)."""
        return list(self.configs).index(config)

    def table(self) -> str:
        """Plain-text table: per configuration, mean train and test accuracy,
        the gap's mean and seed spread (sample std, ddof=1; range), per seed."""
        n = self.seeds.size
        lines = [
            f"{'BN statistics over':<22}{'train %':>8}{'test %':>8}"
            f"{'gap (points)':>16}   gap per seed ({n} seeds)"
        ]
        for i, label in enumerate(self.labels):
            gap = self.gap[i]
            spread = gap.std(ddof=1) if n > 1 else 0.0
            note = "" if self.fitted[i] else "  <- not fitted"
            lines.append(
                f"{label:<22}{100 * self.train_acc[i].mean():>8.1f}"
                f"{100 * self.test_acc[i].mean():>8.1f}"
                f"{gap.mean():>9.1f} ± {spread:<4.1f}   "
                + " ".join(f"{v:5.1f}" for v in gap)
                + note
            )
        return "\n".join(lines)


def ghost_batch_experiment(
    configs=GHOST_NOTEBOOK["configs"],
    seeds=GHOST_NOTEBOOK["seeds"],
    n_train: int = GHOST_NOTEBOOK["n_train"],
    batch_size: int = GHOST_NOTEBOOK["batch_size"],
    epochs: int = GHOST_NOTEBOOK["epochs"],
    lr: float = GHOST_NOTEBOOK["lr"],
    momentum_beta: float = GHOST_NOTEBOOK["momentum_beta"],
    hidden=GHOST_NOTEBOOK["hidden"],
    pool: int = GHOST_NOTEBOOK["pool"],
    eps: float = 1e-5,
    dtype=np.float32,
    data=None,
    progress: bool = True,
    keep_params: bool = False,
) -> GhostResult:
    """Train one ReLU network per configuration and seed; only the Batch Norm
    statistics differ between configurations.

    Every run: ``n_x -> hidden -> 10`` ReLU network (He initialization, Batch
    Norm on each hidden layer unless ``"plain"``), gradient mini-batches of
    ``batch_size`` examples, ``epochs`` passes over the ``n_train`` training
    images (the last incomplete mini-batch of an epoch dropped), momentum as in
    the course (``v = beta v + (1 - beta) dW``, ``W -= lr v``). Seed ``s`` fixes
    the initial weights (those of ``Network(..., weight_scale="he", seed=s)``)
    and the order of the mini-batches (that of :func:`bnutils.train.train` with
    ``seed=s``), the same for every configuration. What a configuration sets:

    * an int ``g``: the statistics of each Batch Norm layer come from ghost
      batches of ``g`` consecutive examples of the mini-batch
      (:func:`ghost_bn_forward`; ``g = batch_size`` is ordinary Batch Norm);
    * ``"whole"``: from the whole training set, recomputed at every step with
      the current weights, with the gradient through them, while the loss is
      that of the mini-batch: Batch Norm without any batch noise;
    * ``"frozen"``: from the whole training set, recomputed once per epoch and
      held fixed (no gradient through them), like inference-mode Batch Norm;
    * ``"whole_nograd"``: from the whole training set, recomputed at every step
      but without the gradient through them (separates the two differences
      of ``"frozen"``: stale statistics and no gradient through them);
    * ``"plain"``: no Batch Norm (a bias ``b`` on each hidden layer instead).

    After training, each Batch Norm layer is evaluated with the population
    statistics of the whole training set (inference mode): train and test
    accuracy and loss per run.

    Parameters
    ----------
    configs : ghost sizes (ints >= 2 dividing ``batch_size``) and controls.
    seeds : one run per seed and configuration.
    n_train, pool : the data (:func:`ghost_data`); ignored when ``data`` is given.
    batch_size, epochs, lr, momentum_beta, hidden, eps : as above.
    dtype : np.float32 (fast) or np.float64 (for tests).
    data : optional ``(X_train, y_train, X_test, y_test)``, X of shape (n_x, m).
    progress : a progress bar over the training steps (inside a notebook).
    keep_params : keep every run's final parameters in ``result.params``.

    Returns a :class:`GhostResult`; the same arguments give the same numbers.
    """
    from bnutils.network import Network

    batch_size = _count(batch_size, "batch_size", 2)
    configs = _check_configs(configs, batch_size)
    seeds = np.array([_count(s, "seed", 0) for s in np.atleast_1d(seeds)])
    if seeds.size == 0:
        raise ValueError("seeds is empty; give at least one seed.")
    epochs = _count(epochs, "epochs", 1)
    lr = _positive(lr, "lr")
    momentum_beta = float(momentum_beta)
    if not 0.0 <= momentum_beta < 1.0:
        raise ValueError(f"momentum_beta must be in [0, 1); got {momentum_beta}.")
    dt = np.dtype(dtype)
    if data is None:
        data = ghost_data(n_train, pool, dt)
    X, y, Xt, yt = (np.asarray(a) for a in data)
    X, Xt = X.astype(dt, copy=False), Xt.astype(dt, copy=False)
    n_train = X.shape[1]
    if batch_size > n_train:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_train} examples.")
    sizes = [X.shape[0], *(_count(h, "hidden size", 1) for h in hidden), 10]
    L = len(sizes) - 1
    S, C = seeds.size, len(configs)

    # One flat buffer each for parameters, gradients and momentum, so that the
    # update is three vectorized operations over every run at once.
    shapes = {}
    for layer in range(1, L + 1):
        shapes[f"W{layer}"] = (sizes[layer], sizes[layer - 1])
        shapes[f"b{layer}"] = (sizes[layer], 1)
        if layer < L:
            shapes[f"gamma{layer}"] = (sizes[layer], 1)
            shapes[f"beta{layer}"] = (sizes[layer], 1)
    per_run = sum(math.prod(s) for s in shapes.values())
    flat = np.zeros(C * S * per_run, dtype=dt)
    flat_g = np.zeros_like(flat)
    velocity = np.zeros_like(flat)

    def views(buf, c):
        out, start = {}, c * S * per_run
        for name, shp in shapes.items():
            n = S * math.prod(shp)
            out[name] = buf[start : start + n].reshape(S, *shp)
            start += n
        return out

    stacks = [
        _Stack(cfg, views(flat, c), views(flat_g, c), L, eps)
        for c, cfg in enumerate(configs)
    ]
    init = [
        Network(sizes, activation="relu", weight_scale="he", seed=int(s)) for s in seeds
    ]
    for st in stacks:
        for layer in range(1, L + 1):
            st.p[f"W{layer}"][...] = np.stack([n.params[f"W{layer}"] for n in init])
        for layer in range(1, L):
            st.p[f"gamma{layer}"][...] = 1.0

    # The mini-batch order of bnutils.train.train: reshuffle when the next
    # batch would run past the end of the data.
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    orders = [r.permutation(n_train) for r in rngs]
    pos = 0
    steps = epochs * (n_train // batch_size)
    steps_per_epoch = n_train // batch_size
    XT = np.ascontiguousarray(X.T)
    t0 = time.perf_counter()
    with (
        limit_blas_threads(TRAINING_BLAS_THREADS),
        widgets.Progress(steps, "training", enabled=progress) as bar,
        np.errstate(over="ignore", invalid="ignore"),
    ):
        for step in range(steps):
            if pos + batch_size > n_train:
                orders = [r.permutation(n_train) for r in rngs]
                pos = 0
            idx = np.stack([o[pos : pos + batch_size] for o in orders])  # (S, b)
            pos += batch_size
            Xb = XT[idx].swapaxes(-1, -2)  # (S, n_x, b)
            yb = y[idx]
            for st in stacks:
                if st.config == "whole":
                    ZL, caches, A = st.forward(X)
                    st.backward(ZL, caches, A, yb, cols=idx)
                else:
                    if (st.config == "frozen" and step % steps_per_epoch == 0) or (
                        st.config == "whole_nograd"
                    ):
                        st.stats = st.population_stats(X)
                    ZL, caches, A = st.forward(Xb)
                    st.backward(ZL, caches, A, yb)
            # Course momentum, written as u = v / (1 - beta): u = beta u + dW.
            velocity *= momentum_beta
            velocity += flat_g
            flat -= (lr * (1.0 - momentum_beta)) * velocity
            if (step + 1) % max(1, steps // 20) == 0:  # few widget messages
                bar.update(step + 1)
        bar.update(steps)

    shape = (C, S)
    acc = {
        k: np.zeros(shape) for k in ("train_acc", "test_acc", "train_loss", "test_loss")
    }
    with (
        limit_blas_threads(TRAINING_BLAS_THREADS),
        np.errstate(over="ignore", invalid="ignore"),
    ):
        for c, st in enumerate(stacks):
            stats = None if st.config == "plain" else st.population_stats(X)
            for split, (Xe, ye) in (("train", (X, y)), ("test", (Xt, yt))):
                ZL, _, _ = st.forward(Xe, stats=stats)
                ZL = ZL.astype(np.float64)
                shifted = ZL - ZL.max(axis=1, keepdims=True)
                logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                cols = np.arange(ye.size)
                acc[f"{split}_acc"][c] = np.mean(ZL.argmax(axis=1) == ye, axis=1)
                acc[f"{split}_loss"][c] = -logp[:, ye, cols].mean(axis=1)
    return GhostResult(
        configs,
        seeds,
        acc["train_acc"],
        acc["test_acc"],
        acc["train_loss"],
        acc["test_loss"],
        {
            "n_train": n_train,
            "n_test": int(Xt.shape[1]),
            "n_x": int(X.shape[0]),
            "layer_sizes": sizes,
            "batch_size": batch_size,
            "epochs": epochs,
            "steps": steps,
            "lr": lr,
            "momentum_beta": momentum_beta,
            "eps": eps,
            "dtype": dt.name,
        },
        time.perf_counter() - t0,
        {st.config: {k: v.copy() for k, v in st.p.items()} for st in stacks}
        if keep_params
        else {},
    )


_SHORT_LABELS = {
    "whole": "whole set\n(no noise)",
    "whole_nograd": "whole set,\nno grad.",
    "frozen": "frozen\nstats",
    "plain": "no BN",
}


def _short_label(config) -> str:
    """Tick label of a configuration: the ghost size, or the control's name."""
    return _SHORT_LABELS[config] if isinstance(config, str) else str(config)


def plot_ghost_experiment(result: GhostResult, axes=None) -> dict:
    """Test accuracy (left) and train-test gap (right) per configuration.

    One column per configuration (ghost sizes, then the controls, after a
    dotted line); small dots are the seeds, the black bar their mean with a
    line of one seed standard deviation either side. On the right, the axis
    covers the configurations that fitted their training set (their gap is
    overfitting); one that did not is drawn at the bottom edge with its mean
    gap and training accuracy written beside it.

    Returns a dict of artists: ``"axes"``, ``"acc_dots"``, ``"gap_dots"``,
    ``"acc_mean"``, ``"gap_mean"``, ``"notes"`` (the annotations).
    """
    if axes is None:
        _, axes = plots.subplots(1, 2, figsize=(13.0, 4.2))
    ax_acc, ax_gap = axes
    n_c, n_s = result.train_acc.shape
    x = np.arange(n_c, dtype=float)
    colors = [
        GHOST_COLORS[c] if isinstance(c, str) else plots.BN_COLOR
        for c in result.configs
    ]
    jitter = (np.arange(n_s) - (n_s - 1) / 2) * (0.35 / max(n_s, 1))
    xs = (x[:, None] + jitter[None, :]).ravel()
    n_ghost = sum(not isinstance(c, str) for c in result.configs)
    out = {"axes": axes, "notes": []}
    gap = result.gap
    fitted = result.fitted
    keep = fitted if fitted.any() else np.ones(n_c, dtype=bool)
    lo = float(gap[keep].min())
    hi = float(gap[keep].max())
    pad = 0.15 * (hi - lo) + 0.5
    gap_lim = (lo - 2 * pad, hi + pad)
    for ax, values, key, ylabel in (
        (ax_acc, 100 * result.test_acc, "acc", "test accuracy (%)"),
        (ax_gap, gap, "gap", "train − test accuracy (points)"),
    ):
        shown = values if key == "acc" else np.clip(values, *gap_lim)
        out[f"{key}_dots"] = ax.scatter(
            xs,
            shown.ravel(),
            s=16,
            c=np.repeat(colors, n_s),
            alpha=0.7,
            label=f"one seed ({n_s} per column)",
        )
        mean = shown.mean(axis=1)
        spread = values.std(axis=1, ddof=1) if n_s > 1 else np.zeros(n_c)
        if key == "gap":
            # A column whose mean gap lies below the axis gets no bar: one drawn
            # on the clipped floor would read as that value (the note says it).
            below_axis = gap.mean(axis=1) < gap_lim[0]
            mean = np.where(below_axis, np.nan, mean)
            spread = np.where(below_axis, np.nan, spread)
        out[f"{key}_mean"] = ax.errorbar(
            x,
            mean,
            yerr=spread,
            fmt="_",
            ms=18,
            mew=2,
            capsize=0,
            ecolor="black",
            color="black",
            label="mean ± seed std",
        )
        ax.set_xticks(x, [_short_label(c) for c in result.configs])
        ax.tick_params(axis="x", labelsize=7.5)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("ghost-batch size, then the controls")
        if 0 < n_ghost < n_c:
            ax.axvline(n_ghost - 0.5, color="0.5", ls=":", lw=1)
    ax_gap.set_ylim(*gap_lim)
    for i in np.flatnonzero(~fitted):
        below = gap[i].mean() < gap_lim[0]
        text = (
            f"↓ mean gap {gap[i].mean():.1f}\n(below the axis)\n" if below else ""
        ) + f"train {100 * result.train_acc[i].mean():.0f} %:\nnot fitted"
        # Above the column's highest seed (or above the bottom edge when the
        # whole column lies below the axis).
        top = gap_lim[0] if below else min(float(gap[i].max()), gap_lim[1])
        out["notes"].append(
            ax_gap.annotate(
                text,
                (x[i], top),
                xytext=(7, 6) if below else (0, 8),
                textcoords="offset points",
                ha="left" if below else "center",
                va="bottom",
                fontsize=8,
            )
        )
    s = result.settings
    ax_acc.set_title(
        f"Test accuracy ({s.get('n_train', '?')} training images, "
        f"gradient batch {s.get('batch_size', '?')})"
    )
    ax_gap.set_title("Generalization gap (smaller = less overfitting)")
    ax_acc.legend(fontsize=8, loc="lower right")
    ax_gap.legend(fontsize=8, loc="upper left")
    return out
