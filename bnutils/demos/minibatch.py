"""Notebook 04, mini-batch statistics: Batch Norm's noise and what it does.

Every mini-batch (미니배치) is normalized with its own mean and variance only,
so the statistics, and with them every normalized value, change from one
mini-batch to the next. What the notebook computes and shows:

* :func:`example_dataset` and :func:`same_example_in_batches`: one fixed example
  put into many random mini-batches of a dataset; its ``Z_norm`` differs in
  each.
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
  axes; :func:`stat_noise_panel` is the slider over ``m``.
* :func:`batch_size_experiment` and :func:`plot_batch_size_experiment`: the
  regularizing effect (정규화 효과): the same network, with and without Batch
  Norm, trained on a small MNIST training set with several batch sizes for the
  same number of epochs; train and test accuracy and their gap per batch size
  and seed; :func:`gap_summary` compares the change of the gap with the
  seed-to-seed spread. :data:`LARGE_CONFIG` is the longer run behind
  :func:`recorded_large_result` (``python -m bnutils.demos.minibatch`` reruns
  it); the notebook's quick run is a corner of it.
* The exercise: :func:`batch_mean_std` and :func:`batch_var_std` are the
  reference solutions, :func:`check_batch_mean_std` and
  :func:`check_batch_var_std` the checkers (they never raise; they name the
  usual mistakes: ``m`` for ``sqrt(m)``, ``m`` for ``m - 1``, the unbiased
  formula, a variance returned instead of a standard deviation, ...).

Arrays follow the course's layout (units, examples) = ``(n_l, m)``. A stack of
many mini-batches of *one* unit is stored as ``(n_batches, m)``: one row per
mini-batch, so statistics over ``axis=1`` give every batch's ``mu_B`` at once.
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

__all__ = [
    "BATCH_SIZE_OPTIONS",
    "CHECK_CASES",
    "CHECK_TOL",
    "EXAMPLE_COLOR",
    "FIT_THRESHOLD",
    "LARGE_CONFIG",
    "MEAN_COLOR",
    "NOTEBOOK_CONFIG",
    "RECORDED_LARGE",
    "VAR_COLOR",
    "BatchSizeResult",
    "BatchStats",
    "NoiseMeasurement",
    "batch_mean_std",
    "batch_size_experiment",
    "batch_var_mean",
    "batch_var_pdf",
    "batch_var_std",
    "check_batch_mean_std",
    "check_batch_var_std",
    "example_dataset",
    "gap_summary",
    "measure_stat_noise",
    "noise_z_scores",
    "plot_batch_size_experiment",
    "plot_stat_noise",
    "recorded_large_result",
    "same_example_in_batches",
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
# One example in many mini-batches
# --------------------------------------------------------------------------


def example_dataset(n_examples: int = 4000, seed: int = 0) -> np.ndarray:
    """A dataset's pre-activations in one layer of 3 units, shape (3, n_examples).

    Unit means (2, -1, 0.5) and standard deviations (1, 3, 0.5): Gaussian,
    seeded. Example 0 is the one the notebook follows.
    """
    from bnutils.data import gaussian_batch

    n_examples = _count(n_examples, "n_examples", 3)
    return gaussian_batch(
        3, n_examples, mean=[2.0, -1.0, 0.5], std=[1.0, 3.0, 0.5], seed=seed
    )


def same_example_in_batches(
    Z_all, index: int, m: int, n_batches: int, seed: int = 0, eps: float = 1e-5
) -> dict:
    """Put example ``index`` into ``n_batches`` random mini-batches of size ``m``.

    Each mini-batch holds the example and ``m - 1`` other examples drawn
    without replacement from the rest of the dataset (a fresh draw per batch).
    The example is normalized with each batch's own mean and biased variance,
    as Batch Norm does in training (gamma = 1, beta = 0).

    Parameters
    ----------
    Z_all : the dataset's pre-activations, shape (n_l, N), N >= m.
    index : which example (column of ``Z_all``) to follow.
    m : mini-batch size, 2 <= m <= N.
    n_batches : number of random mini-batches.
    seed, eps : seed of the draws; eps as in :func:`bnutils.batchnorm_forward`.

    Returns
    -------
    dict with

    * ``"z_norm"``: the example's normalized value in each batch, (n_l, n_batches);
    * ``"mu_B"``, ``"var_B"``: each batch's statistics, (n_l, n_batches);
    * ``"others"``: the other examples' indices in each batch, (n_batches, m - 1);
    * ``"z_norm_full"``: the example normalized with the whole dataset's mean
      and biased variance, (n_l,).
    """
    Z_all = np.asarray(Z_all, dtype=np.float64)
    if Z_all.ndim != 2:
        raise ValueError(f"Z_all must have shape (n_l, N); got {Z_all.shape}.")
    n_l, N = Z_all.shape
    index = _count(index, "index", 0)
    if index >= N:
        raise ValueError(f"index must be below N = {N}; got {index}.")
    m = int(_batch_sizes(m))
    if m > N:
        raise ValueError(f"m = {m} is larger than the dataset (N = {N}).")
    n_batches = _count(n_batches, "n_batches", 1)
    rng = np.random.default_rng(seed)
    # m - 1 distinct positions among the N - 1 other examples, per batch: the
    # smallest m - 1 of N - 1 random keys (a vectorized draw without replacement).
    keys = rng.random((n_batches, N - 1))
    pos = np.argpartition(keys, m - 2, axis=1)[:, : m - 1]
    others = pos + (pos >= index)  # skip the example itself, (n_batches, m - 1)
    x = Z_all[:, index]  # (n_l,)
    batch = np.concatenate(
        [np.broadcast_to(x[:, None, None], (n_l, n_batches, 1)), Z_all[:, others]],
        axis=2,
    )  # (n_l, n_batches, m); the example is column 0 of every batch
    mu_B = batch.mean(axis=2)
    var_B = np.mean((batch - mu_B[..., None]) ** 2, axis=2)
    z_norm = (x[:, None] - mu_B) / np.sqrt(var_B + eps)
    mu, var = Z_all.mean(axis=1), Z_all.var(axis=1)
    return {
        "z_norm": z_norm,
        "mu_B": mu_B,
        "var_B": var_B,
        "others": others,
        "z_norm_full": (x - mu) / np.sqrt(var + eps),
    }


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
# The regularizing effect: batch size vs train/test gap
# --------------------------------------------------------------------------

#: The quick run in the notebook (a few seconds): a corner of :data:`LARGE_CONFIG`
#: (same epochs, same seeds), so its numbers reproduce the recorded ones.
NOTEBOOK_CONFIG = {
    "batch_sizes": (8, 64),
    "n_train": 500,
    "epochs": 30,
    "seeds": (0, 1),
}

#: The longer run behind :func:`recorded_large_result` (about 30 s of CPU):
#: ``python -m bnutils.demos.minibatch`` reruns it and prints the table.
LARGE_CONFIG = {
    "batch_sizes": (4, 8, 16, 32, 64, 128),
    "n_train": 500,
    "epochs": 30,
    "seeds": (0, 1, 2),
}

#: Correct answers of every run of :data:`LARGE_CONFIG`, as printed by
#: ``python -m bnutils.demos.minibatch`` (numpy float64, OpenBLAS, x86-64; 48 s
#: on 2 busy cores). Indexed [kind ("BN", "plain")][seed (0, 1, 2)][batch size
#: (4, 8, 16, 32, 64, 128)]; out of 500 training and 1000 test images.
RECORDED_LARGE = {
    "train_correct": [
        [
            [499, 500, 500, 500, 500, 500],
            [499, 500, 500, 500, 500, 500],
            [498, 500, 500, 500, 500, 499],
        ],
        [
            [500, 500, 500, 500, 500, 481],
            [500, 500, 500, 500, 500, 476],
            [500, 500, 500, 500, 498, 482],
        ],
    ],
    "test_correct": [
        [
            [851, 856, 853, 868, 861, 851],
            [851, 861, 865, 858, 857, 858],
            [851, 875, 871, 859, 859, 846],
        ],
        [
            [889, 877, 867, 869, 865, 861],
            [880, 885, 871, 869, 869, 857],
            [887, 882, 872, 866, 865, 854],
        ],
    ],
}


@dataclass
class BatchSizeResult:
    """Train and test accuracy per network kind, seed and batch size.

    Attributes
    ----------
    batch_sizes : int, (n_sizes,).
    seeds : int, (n_seeds,).
    kinds : names of the networks, e.g. ``("BN", "plain")``; (n_kinds,).
    train_acc, test_acc : accuracy after training, inference mode, shape
        (n_kinds, n_seeds, n_sizes). Train accuracy is on the whole training set.
    steps : optimizer steps per run for each batch size, (n_sizes,).
    seconds : wall time of the whole experiment.
    config : the settings.
    """

    batch_sizes: np.ndarray
    seeds: np.ndarray
    kinds: tuple
    train_acc: np.ndarray
    test_acc: np.ndarray
    steps: np.ndarray
    seconds: float = 0.0
    config: dict = field(default_factory=dict)

    @property
    def gap(self) -> np.ndarray:
        """``train_acc - test_acc``, shape (n_kinds, n_seeds, n_sizes)."""
        return self.train_acc - self.test_acc

    def table(self) -> str:
        """A plain-text table: one row per network kind and batch size, accuracy
        in percent as mean over seeds, and the gap's range over seeds."""
        lines = [
            f"{'net':<6}{'m':>5}{'steps':>7}{'train %':>9}{'test %':>9}"
            f"{'gap %':>8}   gap per seed %"
        ]
        for k, kind in enumerate(self.kinds):
            for j, m in enumerate(self.batch_sizes):
                tr = 100 * self.train_acc[k, :, j]
                te = 100 * self.test_acc[k, :, j]
                gp = tr - te
                per_seed = " ".join(f"{g:5.1f}" for g in gp)
                lines.append(
                    f"{kind:<6}{m:>5}{self.steps[j]:>7}{tr.mean():>9.1f}"
                    f"{te.mean():>9.1f}{gp.mean():>8.1f}   {per_seed}"
                )
        return "\n".join(lines)


def batch_size_experiment(
    batch_sizes=NOTEBOOK_CONFIG["batch_sizes"],
    n_train: int = NOTEBOOK_CONFIG["n_train"],
    epochs: int = NOTEBOOK_CONFIG["epochs"],
    seeds=NOTEBOOK_CONFIG["seeds"],
    kinds=("BN", "plain"),
    hidden=(100, 100),
    lr: float = 0.1,
    data=None,
    progress: bool = True,
) -> BatchSizeResult:
    """Train the same network with several batch sizes on a small training set.

    The network is ``784 -> hidden -> 10`` with ReLU units and He-initialized
    weights, with Batch Norm on every hidden layer (``"BN"``) or without
    (``"plain"``). Every run sees the same number of examples: ``epochs``
    passes over the ``n_train`` training images (``epochs * (n_train // m)``
    steps of momentum, learning rate ``lr``, momentum 0.9). Seed ``s`` fixes the
    initial weights (the same for both kinds) and the mini-batch order; the
    training subset is the same for every run.

    Parameters
    ----------
    batch_sizes : mini-batch sizes m, each in 2..n_train.
    n_train : training images (a stratified subset of the shipped MNIST, seed 0);
        the test set is the shipped 1000 test images.
    epochs : passes over the training set per run.
    seeds : one run per seed, network kind and batch size.
    kinds : subset of ``("BN", "plain")``.
    hidden : hidden layer sizes.
    lr : learning rate of momentum.
    data : optional ``(X_train, y_train, X_test, y_test)`` in the course's layout
        (X: (784, m)); default: :func:`bnutils.data.load_mnist`.
    progress : one progress bar over all runs (inside a notebook).

    Returns a :class:`BatchSizeResult`; the same arguments give the same numbers.
    """
    from bnutils.data import load_mnist
    from bnutils.network import Network
    from bnutils.optim import make_optimizer
    from bnutils.train import train

    kinds = tuple(kinds)
    if not kinds or any(k not in ("BN", "plain") for k in kinds):
        raise ValueError(
            f"kinds must be a non-empty subset of ('BN', 'plain'); got {kinds}."
        )
    n_train = _count(n_train, "n_train", 2)
    epochs = _count(epochs, "epochs", 1)
    sizes = _batch_sizes(batch_sizes, "batch_sizes").ravel()
    if sizes.size == 0 or np.any(sizes > n_train):
        raise ValueError(
            f"batch_sizes must be a non-empty list of sizes between 2 and n_train = "
            f"{n_train}; got {batch_sizes!r}."
        )
    seeds = np.array(
        [_count(s, "seed", 0) for s in np.atleast_1d(seeds)], dtype=np.int64
    )
    if seeds.size == 0:
        raise ValueError("seeds is empty; give at least one seed.")
    lr = _positive(lr, "lr")
    if data is None:
        data = load_mnist(n_train=n_train, seed=0)
    X, y, Xt, yt = data
    if X.shape[1] != n_train:
        raise ValueError(
            f"data has {X.shape[1]} training examples; n_train is {n_train}."
        )
    layer_sizes = [X.shape[0], *[int(h) for h in hidden], int(np.max(y)) + 1]
    steps = epochs * (n_train // sizes)
    shape = (len(kinds), seeds.size, sizes.size)
    train_acc, test_acc = np.zeros(shape), np.zeros(shape)
    total = int(steps.sum()) * seeds.size * len(kinds)
    done = 0
    t0 = time.perf_counter()
    with widgets.Progress(total, "training runs", enabled=progress) as bar:
        for k, kind in enumerate(kinds):
            for i, seed in enumerate(seeds):
                for j, m in enumerate(sizes):
                    net = Network(
                        layer_sizes,
                        activation="relu",
                        batchnorm=(kind == "BN"),
                        weight_scale="he",
                        seed=int(seed),
                    )
                    train(
                        net,
                        make_optimizer("momentum", lr),
                        X,
                        y,
                        batch_size=int(m),
                        steps=int(steps[j]),
                        eval_every=int(steps[j]),
                        probe=X[:, :2],
                        seed=int(seed),
                        progress=False,
                    )
                    train_acc[k, i, j] = net.accuracy(X, y)
                    test_acc[k, i, j] = net.accuracy(Xt, yt)
                    done += int(steps[j])
                    bar.update(done)
    return BatchSizeResult(
        sizes,
        seeds,
        kinds,
        train_acc,
        test_acc,
        steps,
        time.perf_counter() - t0,
        {
            "n_train": n_train,
            "n_test": int(Xt.shape[1]),
            "epochs": epochs,
            "layer_sizes": layer_sizes,
            "activation": "relu",
            "optimizer": f"momentum(lr={lr}, momentum_beta=0.9)",
        },
    )


def recorded_large_result() -> BatchSizeResult:
    """The recorded run of :data:`LARGE_CONFIG` (:data:`RECORDED_LARGE`) as a
    :class:`BatchSizeResult` (``seconds`` is 0: nothing is trained)."""
    cfg = LARGE_CONFIG
    sizes = np.array(cfg["batch_sizes"], dtype=np.int64)
    return BatchSizeResult(
        sizes,
        np.array(cfg["seeds"], dtype=np.int64),
        ("BN", "plain"),
        np.array(RECORDED_LARGE["train_correct"], dtype=np.float64) / cfg["n_train"],
        np.array(RECORDED_LARGE["test_correct"], dtype=np.float64) / 1000,
        cfg["epochs"] * (cfg["n_train"] // sizes),
        0.0,
        {
            "n_train": cfg["n_train"],
            "n_test": 1000,
            "epochs": cfg["epochs"],
            "layer_sizes": [784, 100, 100, 10],
            "activation": "relu",
            "optimizer": "momentum(lr=0.1, momentum_beta=0.9)",
            "recorded": True,
        },
    )


#: A run counts as having fitted its training set at this training accuracy (%).
FIT_THRESHOLD = 99.0


def gap_summary(result: BatchSizeResult) -> dict[str, dict[str, float]]:
    """How much the train-test gap changes with m, compared with seed noise.

    A gap only measures overfitting when the training set is fitted, so the
    comparison uses the batch sizes at which every seed reached
    :data:`FIT_THRESHOLD` % training accuracy. For each network kind, in
    percentage points unless stated:

    * ``"m_small"``, ``"m_large"``: the smallest and largest such batch size
      (NaN if none);
    * ``"gap_small_m"``, ``"gap_large_m"``: the mean gap over seeds there;
    * ``"change"``: ``gap_large_m - gap_small_m`` (positive: less overfitting
      with small batches, what a regularizing noise predicts);
    * ``"seed_range"``: the largest spread (max - min over seeds) of the gap at
      any of the fitted batch sizes (0 with a single seed);
    * ``"n_unfitted"``: how many batch sizes were left out;
    * ``"within_noise"``: 1.0 if ``|change| <= seed_range``, else 0.0.
    """
    out = {}
    gap = 100.0 * result.gap
    for k, kind in enumerate(result.kinds):
        fitted = np.all(100.0 * result.train_acc[k] >= FIT_THRESHOLD, axis=0)
        cols = np.flatnonzero(fitted)
        g = gap[k][:, cols]  # (n_seeds, n_fitted)
        if cols.size == 0:
            nan = float("nan")
            out[kind] = dict.fromkeys(
                ("m_small", "m_large", "gap_small_m", "gap_large_m", "change"), nan
            )
            out[kind].update(
                seed_range=nan, n_unfitted=float(fitted.size), within_noise=nan
            )
            continue
        change = float(g[:, -1].mean() - g[:, 0].mean())
        spread = float(np.max(g.max(axis=0) - g.min(axis=0)))
        out[kind] = {
            "m_small": float(result.batch_sizes[cols[0]]),
            "m_large": float(result.batch_sizes[cols[-1]]),
            "gap_small_m": float(g[:, 0].mean()),
            "gap_large_m": float(g[:, -1].mean()),
            "change": change,
            "seed_range": spread,
            "n_unfitted": float(fitted.size - cols.size),
            "within_noise": float(abs(change) <= spread),
        }
    return out


def plot_batch_size_experiment(result: BatchSizeResult, axes=None) -> dict:
    """Train and test accuracy (left) and their gap (right) against batch size.

    Log-2 x axis. Blue: with Batch Norm; vermillion: without. Left: test
    accuracy (solid, circles) and train accuracy (dashed, triangles), mean over
    seeds. Right: the gap train - test in percentage points; small dots are the
    individual seeds, the line their mean.

    Returns a dict of artists (``"axes"``, ``"test_lines"``, ``"train_lines"``,
    ``"gap_lines"``, ``"gap_dots"``) keyed by network kind where relevant.
    """
    if axes is None:
        _, axes = plots.subplots(1, 2, figsize=(10.0, 3.8))
    ax_acc, ax_gap = axes
    m = result.batch_sizes
    colors = {"BN": plots.BN_COLOR, "plain": plots.PLAIN_COLOR}
    names = {"BN": "with BN", "plain": "without BN"}
    out = {
        "axes": axes,
        "test_lines": {},
        "train_lines": {},
        "gap_lines": {},
        "gap_dots": {},
    }
    for k, kind in enumerate(result.kinds):
        c = colors[kind]
        tr = 100 * result.train_acc[k]
        te = 100 * result.test_acc[k]
        (out["train_lines"][kind],) = ax_acc.plot(
            m, tr.mean(axis=0), "^--", color=c, ms=5, label=f"train, {names[kind]}"
        )
        (out["test_lines"][kind],) = ax_acc.plot(
            m, te.mean(axis=0), "o-", color=c, ms=5, label=f"test, {names[kind]}"
        )
        gap = tr - te  # (n_seeds, n_sizes)
        jitter = np.where(kind == "BN", 0.97, 1.03)
        out["gap_dots"][kind] = ax_gap.scatter(
            np.broadcast_to(m * jitter, gap.shape).ravel(),
            gap.ravel(),
            s=14,
            color=c,
            alpha=0.55,
            label=f"one seed, {names[kind]}",
        )
        (out["gap_lines"][kind],) = ax_gap.plot(
            m,
            gap.mean(axis=0),
            "o-",
            color=c,
            ms=5,
            label=f"mean over {result.seeds.size} seed"
            f"{'s' if result.seeds.size > 1 else ''}, {names[kind]}",
        )
        unfit = np.flatnonzero(tr.min(axis=0) < FIT_THRESHOLD)
        for j in unfit:  # a gap of an unfitted run is not overfitting: say so
            ax_gap.annotate(
                f"train only {tr[:, j].mean():.0f} %:\nnot fitted",
                (m[j], gap[:, j].mean()),
                xytext=(-8, 8),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color=c,
            )
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(m, [str(v) for v in m])
        ax.set_xlabel("mini-batch size m (log scale)")
    ax_acc.legend(fontsize=8, loc="center right")
    lo, hi = ax_gap.get_ylim()
    ax_gap.set_ylim(lo - 0.45 * (hi - lo), hi)
    ax_gap.legend(fontsize=8, loc="lower center", ncols=2)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title(
        f"Accuracy after {result.config.get('epochs', '?')} epochs "
        f"({result.config.get('n_train', '?')} training images)"
    )
    ax_gap.set_ylabel("train − test accuracy (percentage points)")
    ax_gap.set_title("Generalization gap (smaller = less overfitting)")
    return out


# --------------------------------------------------------------------------
# The longer experiment as a script
# --------------------------------------------------------------------------


def _main() -> None:  # pragma: no cover - a long run, started by hand
    print(f"Running batch_size_experiment(**LARGE_CONFIG) = {LARGE_CONFIG} ...")
    result = batch_size_experiment(**LARGE_CONFIG, progress=False)
    print(result.table())
    print(f"({result.seconds:.0f} s)")
    print(
        "train correct:",
        np.rint(result.train_acc * result.config["n_train"]).astype(int).tolist(),
    )
    print(
        "test correct:",
        np.rint(result.test_acc * result.config["n_test"]).astype(int).tolist(),
    )


if __name__ == "__main__":  # pragma: no cover
    _main()
