"""Notebook 01: data, figures, a panel and one sweep for "normalizing inputs".

The notebook itself computes what it teaches in visible cells: the
normalization, the least-squares fit, the gradient-descent loop, the search for
the largest stable learning rate and the Hessian. This module holds what would
only clutter those cells:

* **the data** (:func:`make_two_scale_data`, :func:`make_train_test`);
* **the loss as a quadratic**, :class:`Quadratic`, and gradient descent on it
  (:func:`gd_path`, the same update as the notebook's loop, written on
  ``H`` and ``g``), with its exact step count (:func:`steps_to_tolerance`),
  for the panel's readout;
* **the sweep over scale ratios** (:func:`scale_ratio_sweep`): the notebook's
  gradient descent run for 2 x R problems at once, and the largest stable rate
  found by trial, with its table and figure;
* **the contour figure and the panel** (:func:`landscape_figure`,
  :func:`landscape_panel`).

The problem: linear regression with two features and no bias,
``y_hat = w1 * x1 + w2 * x2``, fitted by plain gradient descent on the
mean-squared-error loss::

    J(w) = 1 / (2 m) * sum_i (w . x_i - y_i)**2
         = 1/2 w^T H w - g^T w + c,   H = X X^T / m,  g = X y / m,  c = y.y / (2 m)

(``X`` has the course's layout (n_x, m) = (2, m)). ``H`` is the Hessian; its
eigenvalues ``lambda_min <= lambda_max`` set the condition number ``kappa =
lambda_max / lambda_min`` and the largest learning rate for which gradient
descent converges, ``2 / lambda_max``.

Conventions used throughout (and in ``tests/test_demos_inputs.py``):

* **The data.** :func:`make_two_scale_data` draws one set of latent features
  ``Z`` (2, m), standardized exactly (each row has mean 0 and population
  standard deviation 1), and targets ``y = a1 * z1 + a2 * z2 + noise``. The raw
  features are ``x1 = z1`` and ``x2 = ratio * z2``: the *same* information with
  feature 2 measured in a unit ``ratio`` times smaller. Normalizing the raw
  features gives back ``Z``, so the normalized problem is the same for every
  ratio.
* **Where gradient descent starts.** At ``w = 0`` in every coordinate system:
  the model that predicts 0 for every example, so both runs start from the same
  model with the same loss.
* **"Converged".** The first step ``k`` with ``J(w_k) <= (1 + rel_tol) * J(w*)``
  (default ``rel_tol = 0.01``: within 1 % of the best loss any ``w`` can reach).
  The excess loss is computed as ``1/2 (w - w*)^T H (w - w*)``, the same number
  as ``J(w) - J(w*)`` without the cancellation.
* **Learning rates** are given as a fraction of the problem's own largest
  stable rate ``2 / lambda_max``.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from bnutils import plots, widgets

__all__ = [
    "DEFAULT_WEIGHTS",
    "REL_TOL",
    "Quadratic",
    "SweepResult",
    "gd_excess_closed_form",
    "gd_path",
    "landscape_figure",
    "landscape_panel",
    "largest_stable_lr",
    "make_train_test",
    "make_two_scale_data",
    "measure_largest_stable_lr",
    "measure_steps_to_tolerance",
    "quadratic_from_data",
    "scale_ratio_sweep",
    "steps_to_tolerance",
    "sweep_figure",
    "sweep_table",
]

#: Effect on ``y`` of one standard deviation of each feature: ``y = a . z + noise``.
DEFAULT_WEIGHTS = (1.0, 0.5)
#: "Converged" means the loss is within this fraction of the minimum loss.
REL_TOL = 0.01

RAW_COLOR = plots.PLAIN_COLOR
NORM_COLOR = plots.BN_COLOR


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #


def _positive(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number; got {value!r}.") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value}.")
    return value


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _pair(name: str, value) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be two finite numbers; got {value}.")
    return a


def _standardized_normal(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """(n, m) Gaussian draws, each row shifted and scaled to mean 0, std 1 exactly."""
    Z = rng.standard_normal((n, m))
    Z = Z - Z.mean(axis=1, keepdims=True)
    return Z / Z.std(axis=1, keepdims=True)


def make_two_scale_data(
    m: int = 200,
    ratio: float = 10.0,
    weights=DEFAULT_WEIGHTS,
    noise: float = 0.5,
    seed: int = 0,
):
    """Two features on scales 1 and ``ratio``, and a linear target.

    Parameters
    ----------
    m : number of examples (at least 3).
    ratio : standard deviation of feature 2 divided by that of feature 1 (> 0).
    weights : ``(a1, a2)``, the change in ``y`` per standard deviation of each
        feature.
    noise : standard deviation of the Gaussian noise added to ``y`` (>= 0).
    seed : seed of ``np.random.default_rng``. The same seed gives the same
        latent features and targets for every ``ratio``.

    Returns
    -------
    X : raw features, shape (2, m): row 0 has mean 0 and population standard
        deviation 1, row 1 mean 0 and standard deviation ``ratio`` (exactly,
        up to rounding).
    y : targets, shape (m,).
    """
    m = _count("m", m, 3)
    ratio = _positive("ratio", ratio)
    a = _pair("weights", weights)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0; got {noise}.")
    rng = np.random.default_rng(seed)
    Z = _standardized_normal(rng, 2, m)
    y = a @ Z + noise * rng.standard_normal(m)
    X = np.array([[1.0], [ratio]]) * Z
    return X, y


def make_train_test(
    ratio: float = 10.0,
    means=(0.0, 0.0),
    m_train: int = 200,
    m_test: int = 50,
    test_shift=(2.0, 0.0),
    weights=DEFAULT_WEIGHTS,
    noise: float = 0.5,
    seed: int = 0,
):
    """A training set and a test batch that sits elsewhere in input space.

    The raw features are ``x1 = means[0] + z1`` and ``x2 = means[1] + ratio *
    z2`` (feature 2 on a scale ``ratio`` times larger, both with an offset);
    both sets follow the same rule ``y = a1 * z1 + a2 * z2 + noise``, so a
    model of the raw features needs a bias. The training set's latent features
    have mean 0 and standard deviation 1 exactly (as in
    :func:`make_two_scale_data`, with the same seed); the test batch's are
    drawn around ``test_shift`` (in standard deviations of each feature), e.g.
    a group of examples whose feature 1 is two standard deviations above the
    training average.

    Returns
    -------
    X_train : shape (2, m_train).   y_train : shape (m_train,).
    X_test : shape (2, m_test).     y_test : shape (m_test,).
    """
    m_test = _count("m_test", m_test, 1)
    offset = _pair("means", means)[:, None]
    shift = _pair("test_shift", test_shift)[:, None]
    a = _pair("weights", weights)
    X_train, y_train = make_two_scale_data(m_train, ratio, weights, noise, seed)
    rng = np.random.default_rng([seed, 1])
    Z_test = rng.standard_normal((2, m_test)) + shift
    y_test = a @ Z_test + noise * rng.standard_normal(m_test)
    X_test = np.array([[1.0], [float(ratio)]]) * Z_test
    return X_train + offset, y_train, X_test + offset, y_test


def _as_features(X, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_x, m) = (features, examples); got "
            f"shape {X.shape}."
        )
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return X


# --------------------------------------------------------------------------- #
# The loss as a quadratic, and gradient descent on it
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class Quadratic:
    """``J(w) = 1/2 w^T H w - g^T w + c``: the MSE loss of a linear model.

    Attributes
    ----------
    H : Hessian ``X X^T / m``, shape (n, n), symmetric positive definite.
    g : ``X y / m``, shape (n,).
    c : ``y . y / (2 m)``, a float.
    """

    H: np.ndarray
    g: np.ndarray
    c: float

    @functools.cached_property
    def w_star(self) -> np.ndarray:
        """The minimizer ``H^{-1} g``, shape (n,)."""
        return np.linalg.solve(self.H, self.g)

    @functools.cached_property
    def loss_star(self) -> float:
        """The minimum loss ``J(w*)``."""
        return float(self.c - 0.5 * self.g @ self.w_star)

    @functools.cached_property
    def eigvals(self) -> np.ndarray:
        """Eigenvalues of ``H`` in increasing order, shape (n,)."""
        return np.linalg.eigvalsh(self.H)

    @property
    def kappa(self) -> float:
        """Condition number ``lambda_max / lambda_min``."""
        return float(self.eigvals[-1] / self.eigvals[0])

    def loss(self, W) -> np.ndarray:
        """``J`` at ``W`` of shape (..., n); returns shape (...)."""
        W = np.asarray(W, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", W, self.H, W) - W @ self.g + self.c

    def excess(self, W) -> np.ndarray:
        """``J(W) - J(w*) = 1/2 (W - w*)^T H (W - w*)``; W (..., n) -> (...)."""
        D = np.asarray(W, dtype=np.float64) - self.w_star
        return 0.5 * np.einsum("...i,ij,...j->...", D, self.H, D)

    def grad(self, W) -> np.ndarray:
        """``H W - g`` (the same as ``X (w . X - y) / m``); W (..., n) -> (..., n)."""
        return np.asarray(W, dtype=np.float64) @ self.H - self.g


def quadratic_from_data(X, y) -> Quadratic:
    """The MSE loss ``1/(2m) sum (w . x - y)^2`` of data ``X`` (n, m), ``y`` (m,)."""
    X = _as_features(X, "X")
    y = np.asarray(y, dtype=np.float64)
    m = X.shape[1]
    if y.shape != (m,):
        raise ValueError(f"y must have shape (m,) = ({m},); got {y.shape}.")
    return Quadratic(H=X @ X.T / m, g=X @ y / m, c=float(y @ y) / (2 * m))


def largest_stable_lr(quad: Quadratic) -> float:
    """``2 / lambda_max(H)``: gradient descent converges for every smaller rate."""
    return float(2.0 / quad.eigvals[-1])


def gd_path(quad: Quadratic, w0, lr: float, steps: int) -> np.ndarray:
    """Run ``w <- w - lr * grad J(w)`` for ``steps`` steps.

    The same update as notebook 01's ``gradient_descent`` cell, with the
    gradient ``X (w . X - y) / m`` written as ``H w - g``. Returns the visited
    points, shape (steps + 1, n), row 0 being ``w0``. Divergent runs are not
    stopped here; see :func:`landscape_panel` for how the panel keeps them on
    screen.
    """
    steps = _count("steps", steps, 0)
    w = np.array(w0, dtype=np.float64)
    path = np.empty((steps + 1, w.size))
    path[0] = w
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps):
            w = w - lr * quad.grad(w)
            path[k + 1] = w
    return path


def _eigen_start(quad: Quadratic, w0, lr: float):
    lam, V = np.linalg.eigh(quad.H)
    coef = V.T @ (np.asarray(w0, dtype=np.float64) - quad.w_star)
    return lam, 0.5 * lam * coef**2, 1.0 - lr * lam


def gd_excess_closed_form(quad: Quadratic, w0, lr: float, steps: int) -> np.ndarray:
    """Excess loss ``J(w_k) - J(w*)`` of gradient descent for k = 0..steps, exactly.

    In the eigenbasis of ``H`` each coordinate of ``w - w*`` is multiplied by
    ``(1 - lr * lambda_i)`` per step, so
    ``J(w_k) - J(w*) = sum_i 1/2 lambda_i c_i^2 (1 - lr lambda_i)^(2k)`` with
    ``c = V^T (w0 - w*)``. Returns shape (steps + 1,).
    """
    steps = _count("steps", steps, 0)
    _, e0, q = _eigen_start(quad, w0, lr)
    k = np.arange(steps + 1)[:, None]
    with np.errstate(over="ignore"):
        return (e0 * np.abs(q) ** (2 * k)).sum(axis=1)


def steps_to_tolerance(
    quad: Quadratic, w0, lr: float, rel_tol: float = REL_TOL, max_steps: int = 10**9
) -> int | None:
    """Fewest steps after which ``J(w_k) <= (1 + rel_tol) J(w*)``, from the
    closed form of :func:`gd_excess_closed_form` (fast even for millions of steps).

    Returns ``None`` when gradient descent never gets there (``lr >= 2 /
    lambda_max``, so a component oscillates forever or grows) or needs more
    than ``max_steps`` steps.
    """
    _, e0, q = _eigen_start(quad, w0, lr)
    target = rel_tol * quad.loss_star
    if e0.sum() <= target:
        return 0
    a = np.abs(q)
    if np.any((a >= 1.0) & (e0 > 0)):
        return None

    def excess(k: int) -> float:
        return float((e0 * a ** (2 * k)).sum())

    if excess(max_steps) > target:
        return None
    lo, hi = 0, max_steps  # excess(lo) > target >= excess(hi); excess decreasing
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if excess(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def _stack(quads):
    H = np.stack([q.H for q in quads])
    g = np.stack([q.g for q in quads])
    w_star = np.stack([q.w_star for q in quads])
    return H, g, w_star


def measure_steps_to_tolerance(
    quads, w0s, lrs, rel_tol: float = REL_TOL, max_steps: int = 200_000
) -> np.ndarray:
    """Run gradient descent on several problems at once and count the steps.

    Parameters
    ----------
    quads : sequence of B :class:`Quadratic` (all of the same size n).
    w0s : starting points, shape (B, n).
    lrs : learning rates, shape (B,).

    Returns
    -------
    steps : int array, shape (B,): the first step ``k`` with
        ``J(w_k) <= (1 + rel_tol) J(w*)``, or -1 if not reached in ``max_steps``.

    The update ``w <- w - lr * (H w - g)`` moves the error ``e = w - w*`` by
    ``e <- M e`` with ``M = I - lr H`` (because ``g = H w*``), so the iterates
    are ``e_k = M^k e_0``: this computes them 256 steps at a time, with the
    powers ``M, M^2, ..., M^256`` formed once, and checks the loss at every
    step. (The same numbers as running the update step by step, up to
    rounding; ``tests/test_demos_inputs.py`` compares the two.)
    """
    H, _, w_star = _stack(quads)
    B, n = w_star.shape
    E = np.array(w0s, dtype=np.float64) - w_star  # (B, n): the error e_0
    lrs = np.asarray(lrs, dtype=np.float64).reshape(B, 1, 1)
    M = np.eye(n) - lrs * H  # (B, n, n)
    target = rel_tol * np.array([q.loss_star for q in quads])
    first = np.full(B, -1)
    chunk = 256
    powers = np.empty((chunk, B, n, n))  # powers[j] = M^(j + 1)
    powers[0] = M
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(1, chunk):
            powers[j] = powers[j - 1] @ M
        first[0.5 * np.einsum("bi,bik,bk->b", E, H, E) <= target] = 0
        k = 0
        while k < max_steps and np.any(first < 0):
            steps = min(chunk, max_steps - k)
            Es = np.einsum("jbik,bk->jbi", powers[:steps], E)  # (steps, B, n)
            excess = 0.5 * np.einsum("jbi,bik,jbk->jb", Es, H, Es)  # (steps, B)
            hit = excess <= target
            new = (first < 0) & hit.any(axis=0)
            first[new] = k + 1 + np.argmax(hit[:, new], axis=0)
            E = Es[-1]
            k += steps
    return first


def _excess_batch(Ws, H, w_star):
    """Ws (T, B, K, n), H (B, n, n), w_star (B, n) -> excess loss (T, B, K)."""
    D = Ws - w_star[:, None, :]
    return 0.5 * np.sum((D @ H) * D, axis=-1)


def measure_largest_stable_lr(
    quads, w0s, steps: int = 1000, rounds: int = 3, n_grid: int = 64
) -> np.ndarray:
    """Find the largest stable learning rate by trying many, without the formula.

    A rate counts as stable when, after ``steps`` steps from ``w0``, the loss
    is finite and not above where it started. Each round tries ``n_grid``
    rates spaced geometrically between the last stable and the first unstable
    rate of the previous round (the first round spans 1e-8 to 1e4).

    quads : B problems; w0s : shape (B, n). Returns shape (B,): the largest
    rate found stable.
    """
    H, g, w_star = _stack(quads)
    w0s = np.asarray(w0s, dtype=np.float64)
    B = len(quads)
    lo = np.full(B, 1e-8)
    hi = np.full(B, 1e4)
    for _ in range(rounds):
        t = np.linspace(0.0, 1.0, n_grid)
        lrs = lo[:, None] * (hi / lo)[:, None] ** t  # (B, K)
        W = np.repeat(w0s[:, None, :], n_grid, axis=1)  # (B, K, n)
        e_start = _excess_batch(W[None], H, w_star)[0]
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(steps):
                W = W - lrs[..., None] * (W @ H - g[:, None])
            e_end = _excess_batch(W[None], H, w_star)[0]
            stable = np.isfinite(e_end) & (e_end <= e_start)
        if not np.all(stable[:, 0]) or np.any(stable[:, -1]):
            raise ValueError(
                "The search range does not bracket the stability limit; pass "
                "problems whose 2 / lambda_max lies between 1e-8 and 1e4."
            )
        last = stable.shape[1] - 1 - np.argmax(stable[:, ::-1], axis=1)
        lo = lrs[np.arange(B), last]
        hi = lrs[np.arange(B), last + 1]
    return lo


# --------------------------------------------------------------------------- #
# The sweep over scale ratios
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class SweepResult:
    """What :func:`scale_ratio_sweep` measured; every array has shape (R,).

    ``steps_*`` is -1 where the tolerance was not reached.
    """

    ratios: np.ndarray
    kappa_raw: np.ndarray
    kappa_norm: np.ndarray
    lr_max_raw: np.ndarray  # 2 / lambda_max, closed form
    lr_max_norm: np.ndarray
    lr_max_raw_measured: np.ndarray  # by trying learning rates
    lr_max_norm_measured: np.ndarray
    steps_raw: np.ndarray  # gradient-descent steps to reach the tolerance
    steps_norm: np.ndarray
    lr_fraction: float
    rel_tol: float


@functools.lru_cache(maxsize=64)
def _problems(ratio: float, m: int = 200, seed: int = 0):
    """(raw, normalized) quadratics for one ratio (cached for the panel)."""
    X, y = make_two_scale_data(m=m, ratio=ratio, seed=seed)
    mu = X.mean(axis=1, keepdims=True)
    sigma = X.std(axis=1, keepdims=True)
    return quadratic_from_data(X, y), quadratic_from_data((X - mu) / sigma, y)


def scale_ratio_sweep(
    ratios=None,
    lr_fraction: float = 0.5,
    rel_tol: float = REL_TOL,
    m: int = 200,
    seed: int = 0,
    max_steps: int = 200_000,
) -> SweepResult:
    """For each scale ratio, measure gradient descent on raw and normalized inputs.

    Parameters
    ----------
    ratios : scale ratios to try, shape (R,); default ``logspace(0, 2, 9)``
        (1 to 100).
    lr_fraction : every run uses ``lr = lr_fraction * 2 / lambda_max`` of its
        own problem (0.5 gives ``1 / lambda_max``), so both get the same recipe.
    rel_tol, m, seed, max_steps : see the module docstring and
        :func:`measure_steps_to_tolerance`.

    Every run starts at ``w = 0``. Steps are counted by running gradient
    descent (all 2R runs at once); the largest stable rate is both computed
    (``2 / lambda_max``) and found by trial (:func:`measure_largest_stable_lr`).
    """
    ratios = np.logspace(0, 2, 9) if ratios is None else np.asarray(ratios, float)
    if ratios.ndim != 1 or ratios.size == 0 or np.any(~(ratios > 0)):
        raise ValueError(
            f"ratios must be a 1-D array of positive numbers; got {ratios}."
        )
    if not 0 < lr_fraction < 1:
        raise ValueError(f"lr_fraction must lie in (0, 1); got {lr_fraction}.")
    pairs = [_problems(float(r), m, seed) for r in ratios]
    quads = [p[0] for p in pairs] + [p[1] for p in pairs]
    w0s = np.zeros((len(quads), 2))
    lr_max = np.array([largest_stable_lr(q) for q in quads])
    steps = measure_steps_to_tolerance(
        quads, w0s, lr_fraction * lr_max, rel_tol=rel_tol, max_steps=max_steps
    )
    measured = measure_largest_stable_lr(quads, w0s)
    R = ratios.size
    kappa = np.array([q.kappa for q in quads])
    return SweepResult(
        ratios=ratios,
        kappa_raw=kappa[:R],
        kappa_norm=kappa[R:],
        lr_max_raw=lr_max[:R],
        lr_max_norm=lr_max[R:],
        lr_max_raw_measured=measured[:R],
        lr_max_norm_measured=measured[R:],
        steps_raw=steps[:R],
        steps_norm=steps[R:],
        lr_fraction=float(lr_fraction),
        rel_tol=float(rel_tol),
    )


def sweep_table(result: SweepResult) -> str:
    """The sweep as a plain-text table (one row per ratio).

    Columns: the ratio; the steps to 1.01 J* for the raw and the normalized
    features; then the largest stable learning rate of each, from the formula
    2 / lambda_max ("2/λmax") and found by trial ("trial").
    """
    head = (
        f"{'ratio':>6} | {'steps raw':>9} | {'steps norm':>10} | "
        f"{'raw 2/λmax':>10} {'raw trial':>10} | "
        f"{'norm 2/λmax':>11} {'norm trial':>10}"
    )
    rows = [head, "-" * len(head)]
    r = result
    for i in range(r.ratios.size):
        rows.append(
            f"{r.ratios[i]:6.1f} | {r.steps_raw[i]:9d} | {r.steps_norm[i]:10d} | "
            f"{r.lr_max_raw[i]:10.4g} {r.lr_max_raw_measured[i]:10.4g} | "
            f"{r.lr_max_norm[i]:11.4g} {r.lr_max_norm_measured[i]:10.4g}"
        )
    return "\n".join(rows)


def _plain_log_ticks(ax) -> None:
    """Decade ticks labelled 1, 10, 100, 0.01 ... in plain text: mathtext labels
    such as 10^2 cost a parse each and made this figure three times slower."""
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10.0, numticks=12))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.10g}"))


def sweep_figure(result: SweepResult):
    """Two panels: steps to converge, and the largest stable rate, vs the ratio.

    Returns ``(fig, axes)``; a static figure for a notebook cell.
    """
    r = result
    fig, (ax1, ax2) = plots.subplots(1, 2, figsize=(9.6, 3.6))
    ok_raw, ok_norm = r.steps_raw > 0, r.steps_norm > 0
    ax1.loglog(
        r.ratios[ok_raw],
        r.steps_raw[ok_raw],
        "o-",
        color=RAW_COLOR,
        label="raw features",
    )
    ax1.loglog(
        r.ratios[ok_norm],
        r.steps_norm[ok_norm],
        "s-",
        color=NORM_COLOR,
        label="normalized features",
    )
    guide = r.steps_raw[-1] * (r.ratios / r.ratios[-1]) ** 2
    ax1.loglog(
        r.ratios,
        guide,
        ":",
        color=plots.OKABE_ITO["black"],
        label="∝ ratio² (slope 2)",
    )
    ax1.set_xlabel("scale ratio std(x2) / std(x1) (log scale)")
    ax1.set_ylabel("GD steps to reach the tolerance (log scale)")
    ax1.set_title(
        f"Steps until J ≤ {1 + r.rel_tol:g}·J*  "
        f"(lr = {r.lr_fraction:g} × largest stable)"
    )
    ax1.legend(loc="upper left")

    ax2.loglog(r.ratios, r.lr_max_raw, "-", color=RAW_COLOR, label="raw: 2/λ_max")
    ax2.loglog(
        r.ratios,
        r.lr_max_raw_measured,
        "o",
        color=RAW_COLOR,
        mfc="none",
        label="raw: found by trial",
    )
    ax2.loglog(
        r.ratios, r.lr_max_norm, "-", color=NORM_COLOR, label="normalized: 2/λ_max"
    )
    ax2.loglog(
        r.ratios,
        r.lr_max_norm_measured,
        "s",
        color=NORM_COLOR,
        mfc="none",
        label="normalized: found by trial",
    )
    ax2.set_xlabel("scale ratio std(x2) / std(x1) (log scale)")
    ax2.set_ylabel("largest stable learning rate (log scale)")
    ax2.set_title("Largest learning rate before GD diverges")
    ax2.legend(loc="lower left")
    for ax in (ax1, ax2):
        _plain_log_ticks(ax)
    return fig, (ax1, ax2)


# --------------------------------------------------------------------------- #
# Contours and paths: a static figure and a slider panel
# --------------------------------------------------------------------------- #

_HALF_WIDTH = 1.6  # half the side of the square window around w*
_GRID = 81
_DISPLAY_STEPS = 150
_LEVELS = np.geomspace(1e-3, 1e3, 13)  # excess-loss levels of the contours


def _grid_excess(quad: Quadratic):
    """Grid (W1, W2) around w* and the excess loss on it."""
    c = quad.w_star
    u = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, _GRID)
    W1, W2 = np.meshgrid(c[0] + u, c[1] + u)
    E = quad.excess(np.stack([W1, W2], axis=-1))
    return W1, W2, np.maximum(E, _LEVELS[0] * 1e-3)


@functools.lru_cache(maxsize=64)
def _contour_grid(ratio: float, normalized: bool):
    """:func:`_grid_excess` of the panel's problems (cached per ratio)."""
    return _grid_excess(_problems(ratio)[1 if normalized else 0])


def _clip_path(path: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Keep the path up to where it leaves a box 10x the window (divergence)."""
    far = np.any(~(np.abs(path - center) <= 10 * _HALF_WIDTH), axis=1)
    if np.any(far):
        path = path[: max(int(np.argmax(far)) + 1, 2)]
        path = np.where(np.isfinite(path), path, center + 10 * _HALF_WIDTH)
    return path


class _LandscapeView:
    """Artists of the two contour plots and the code that updates them."""

    def __init__(self, axes, steps: int):
        self.axes = axes
        self.contours = [None, None]
        self.paths, self.starts, self.optima = [], [], []
        for ax, color in zip(axes, (RAW_COLOR, NORM_COLOR), strict=True):
            (path,) = ax.plot(
                [],
                [],
                "o-",
                color=color,
                ms=2.5,
                lw=1.2,
                label=f"first {steps} GD steps",
            )
            (start,) = ax.plot([], [], "D", color=color, ms=6, label="start w = 0")
            (opt,) = ax.plot(
                [], [], "*", color=plots.OKABE_ITO["black"], ms=11, label="minimum w*"
            )
            self.paths.append(path)
            self.starts.append(start)
            self.optima.append(opt)
            ax.set_aspect("equal", adjustable="box")
            ax.legend(loc="lower right", fontsize=8)
        axes[0].set_xlabel("w1 (weight of x1)")
        axes[0].set_ylabel("w2 (weight of x2)")
        axes[1].set_xlabel("w1 (weight of normalized x1)")
        axes[1].set_ylabel("w2 (weight of normalized x2)")

    def draw(self, i: int, quad: Quadratic, grid, path: np.ndarray) -> None:
        ax = self.axes[i]
        if self.contours[i] is not None:
            self.contours[i].remove()
        self.contours[i] = ax.contour(
            *grid,
            levels=_LEVELS,
            colors=plots.OKABE_ITO["black"],
            linewidths=0.6,
            alpha=0.45,
        )
        c = quad.w_star
        path = _clip_path(path, c)
        self.paths[i].set_data(path[:, 0], path[:, 1])
        self.starts[i].set_data([path[0, 0]], [path[0, 1]])
        self.optima[i].set_data([c[0]], [c[1]])
        ax.set_xlim(c[0] - _HALF_WIDTH, c[0] + _HALF_WIDTH)
        ax.set_ylim(c[1] - _HALF_WIDTH, c[1] + _HALF_WIDTH)


def _readout(rows, lr_fraction: float) -> str:
    cells = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{kappa:,.4g}</td><td>{lr:.3g}</td>"
        f"<td><b>{html.escape(verdict)}</b></td></tr>"
        for name, kappa, lr, verdict in rows
    )
    return (
        "<table style='border-collapse:collapse'><tr><th>features</th>"
        "<th>elongation &kappa; (condition number)</th>"
        f"<th>learning rate ({lr_fraction:.2f} &times; largest stable)</th>"
        f"<th>GD steps until J &le; {1 + REL_TOL:g}&middot;J*</th></tr>{cells}</table>"
    )


def landscape_figure(X_raw, X_norm, y, path_raw, path_norm):
    """Contours of the loss and gradient-descent paths, raw | normalized.

    Parameters
    ----------
    X_raw, X_norm : the raw and the normalized features, shape (2, m).
    y : targets, shape (m,).
    path_raw, path_norm : the points gradient descent visited on each,
        shape (k + 1, 2) (e.g. from the notebook's ``gradient_descent``).

    Returns ``(fig, axes)``: contours of ``J - J*`` (13 levels from 1e-3 to
    1e3, geometric) around each minimum, the path, its start and the minimum.
    """
    paths = [np.asarray(p, dtype=np.float64) for p in (path_raw, path_norm)]
    for p in paths:
        if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
            raise ValueError(
                f"each path must have shape (k + 1, 2), one row per visited w; got "
                f"{p.shape}."
            )
    quads = [quadratic_from_data(X, y) for X in (X_raw, X_norm)]
    fig, axes = plots.subplots(1, 2, figsize=(8.8, 4.2))
    view = _LandscapeView(axes, paths[0].shape[0] - 1)
    for i, (quad, path) in enumerate(zip(quads, paths, strict=True)):
        view.draw(i, quad, _grid_excess(quad), path)
    axes[0].set_title("Raw features")
    axes[1].set_title("Normalized features: mean 0, variance 1")
    return fig, axes


def landscape_panel(
    ratio: float = 10.0, lr_fraction: float = 0.5, steps: int = _DISPLAY_STEPS
) -> widgets.Panel:
    """Sliders for the scale ratio (log, 1 to 100) and the learning rate (as a
    fraction of each problem's own largest stable rate, 0.05 to 1.10); the
    contours, the first ``steps`` GD steps from ``w = 0`` and a readout of the
    steps needed update live. Past 1.0 gradient descent diverges; the path is
    cut where it leaves the picture and the readout says so.
    """
    steps = _count("steps", steps, 1)
    fig, axes = plots.panel_figure(1, 2, figsize=(8.8, 4.2))
    view = _LandscapeView(axes, steps)

    def update(ratio: float, lr_fraction: float) -> str:
        ratio, lr_fraction = _positive("ratio", ratio), float(lr_fraction)
        rows = []
        for i, (quad, name) in enumerate(
            zip(_problems(ratio), ("raw", "normalized"), strict=True)
        ):
            lr = lr_fraction * largest_stable_lr(quad)
            w0 = np.zeros(2)
            path = gd_path(quad, w0, lr, steps)
            view.draw(i, quad, _contour_grid(ratio, normalized=bool(i)), path)
            n = steps_to_tolerance(quad, w0, lr)
            verdict = "never (diverges or oscillates)" if n is None else f"{n:,}"
            rows.append((name, quad.kappa, lr, verdict))
        axes[0].set_title(f"Raw features: x2 on a scale {ratio:.3g}x larger")
        axes[1].set_title("Normalized features: mean 0, variance 1")
        return _readout(rows, lr_fraction)

    controls = {
        "ratio": widgets.log_slider(
            "scale ratio std(x2)/std(x1) (log)", ratio, 0.0, 2.0, readout_format=".3g"
        ),
        "lr_fraction": widgets.float_slider(
            "learning rate (fraction of the largest stable)",
            lr_fraction,
            0.05,
            1.10,
            0.01,
        ),
    }
    return widgets.Panel(
        controls, fig, update, title="Gradient descent on raw vs normalized inputs"
    )
