"""Notebook 07, Batch Norm in practice: the training loop its experiments share,
its figures, its training lab and the full-size results it quotes.

The experiments themselves (which networks are trained, with which settings,
and what is read off them) are written in the notebook's cells and, at full
size, in ``scripts/sweeps.py``. Both train with :func:`fit`, so a cell and the
script run the same code. This module keeps:

* :func:`fit` and :class:`Fit`: mini-batch training of a
  :class:`bnutils.network.Network` that measures only what it is asked to
  (test accuracy at given steps, the update-to-data ratio of each weight
  matrix) and records a diverging run instead of raising.
* :func:`steps_to_target`: the first measured step at a target accuracy.
* :func:`fit_together`: the same for several networks of one shape at once,
  each with its own learning rate (the sweeps).
* Figures: :func:`plot_comparison`, :func:`plot_sweep`, :func:`plot_diagnostics`
  (with :func:`layer_snapshot`, the per-layer values and gradients it draws),
  and :func:`sweep_table`, the short sweep beside the full-size one.
* :func:`training_lab`: a :class:`bnutils.widgets.TrainPanel` to train the
  network with any setting and read its curves and diagnostics.
* :func:`full_size_results`: what ``scripts/sweeps.py`` measured at full size
  (stored in ``bnutils/datafiles/sweeps_full.npz`` by ``--save``), so the
  notebook can show it beside its short runs.

Layout: arrays are (units, examples) = ``(n_l, m)``; labels are int arrays of
shape ``(m,)``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from importlib import resources

import ipywidgets as ipw
import numpy as np

# The saturation exercise's checker and reference solution, re-exported: the
# tests of bnutils.checks.saturation call them through this module.
from bnutils.checks.saturation import check_saturation_share
from bnutils.layers import _einsum, batchnorm_backward
from bnutils.network import ACTIVATIONS, Network, NonFiniteError
from bnutils.optim import NonFiniteGradientError, make_optimizer
from bnutils.plots import BN_COLOR, OKABE_ITO, PLAIN_COLOR, panel_figure, subplots
from bnutils.solutions import saturation_share
from bnutils.threads import limit_blas_threads
from bnutils.widgets import TrainPanel, int_slider, log_slider

__all__ = [
    "CHANCE",
    "FULL_SIZE_FILE",
    "LAB_BATCH_SIZES",
    "LAB_MAX_EXAMPLES",
    "LAB_TRAINED",
    "LAYER_COLORS",
    "RATIO_REFERENCE",
    "SIZES",
    "Fit",
    "check_saturation_share",
    "fit",
    "fit_together",
    "full_size_results",
    "layer_snapshot",
    "plot_comparison",
    "plot_diagnostics",
    "plot_sweep",
    "saturation_share",
    "seed_range",
    "steps_to_target",
    "sweep_table",
    "training_lab",
]

#: The network of Ioffe & Szegedy's MNIST experiment: 784 -> 3 x 100 -> 10.
SIZES = (784, 100, 100, 100, 10)
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
#: Where ``scripts/sweeps.py --save`` stores its results (package data).
FULL_SIZE_FILE = "sweeps_full.npz"

_LABELS = {False: "without BN", True: "with BN"}
_COLORS = {False: PLAIN_COLOR, True: BN_COLOR}
_MARKERS = {False: "o", True: "s"}


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------


@dataclass(eq=False)
class Fit:
    """What :func:`fit` measured.

    Attributes
    ----------
    net : the trained network (trained in place).
    step_loss : (steps_done,) the loss of every mini-batch, computed in the
        step's forward pass before its update (NaN where it was not finite).
    eval_steps : (K,) the steps after which the test accuracy was measured.
    test_acc : (K,) test accuracy in inference mode at those steps; NaN for
        the steps a diverged run did not reach.
    update_ratio : ``"W1", "W2", ...`` -> (K,) ``std(W_after - W_before) /
        std(W_before)`` of the step taken at each evaluation step (empty
        unless ``record_ratio``); NaN where not reached.
    diverged_at : the step whose loss or gradients were not finite (or, at
        the last step, whose updated parameters were not), where training
        stopped; None if it didn't.
    seconds : wall time of the training, evaluations included.
    lr, batch_size, optimizer : the settings of the run.
    """

    net: Network
    step_loss: np.ndarray
    eval_steps: np.ndarray
    test_acc: np.ndarray
    update_ratio: dict = field(default_factory=dict)
    diverged_at: int | None = None
    seconds: float = math.nan
    lr: float = math.nan
    batch_size: int = 0
    optimizer: str = "gd"

    @property
    def diverged(self) -> bool:
        """True if training stopped at a non-finite loss or parameter."""
        return self.diverged_at is not None

    @property
    def steps_done(self) -> int:
        """Steps run (the diverging one included)."""
        return int(self.step_loss.shape[0])

    @property
    def final_acc(self) -> float:
        """Test accuracy at the last evaluation step (NaN if not reached)."""
        return float(self.test_acc[-1])

    @property
    def steps_per_second(self) -> float:
        """Training speed, evaluations included."""
        return self.steps_done / self.seconds if self.seconds > 0 else math.nan

    def acc_at(self, step: int) -> float:
        """Test accuracy measured after ``step`` (one of :attr:`eval_steps`)."""
        hit = np.flatnonzero(self.eval_steps == int(step))
        if hit.size == 0:
            raise ValueError(
                f"the test accuracy was not measured at step {step}; measured at "
                f"{self.eval_steps.tolist()}."
            )
        return float(self.test_acc[hit[0]])

    def smoothed_loss(self, window: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """``(step, loss)``: the trailing mean of the mini-batch losses over
        ``window`` steps, up to the last finite loss."""
        raw = self.step_loss
        finite = np.isfinite(raw)
        n = raw.shape[0] if finite.all() else int(np.argmin(finite))
        csum = np.concatenate([[0.0], np.cumsum(raw[:n], dtype=np.float64)])
        idx = np.arange(1, n + 1)
        lo = np.maximum(idx - int(window), 0)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = (csum[idx] - csum[lo]) / (idx - lo)
        ok = np.isfinite(mean)
        return idx[ok].astype(float), mean[ok]


def _finite(net: Network) -> bool:
    """Every parameter and running statistic finite (one cheap sum each)."""
    arrays = list(net.params.values())
    for bn in net.bn_layers.values():
        arrays += [bn.running_mean, bn.running_var]
    with np.errstate(over="ignore", invalid="ignore"):
        return all(np.isfinite(a.sum()) or np.all(np.isfinite(a)) for a in arrays)


def _eval_steps(steps: int, eval_at, eval_every) -> np.ndarray:
    if eval_at is not None and eval_every is not None:
        raise ValueError("give eval_at or eval_every, not both.")
    if eval_every is not None:
        every = int(eval_every)
        if every < 1:
            raise ValueError(
                f"eval_every must be a positive integer; got {eval_every}."
            )
        chosen = np.r_[np.arange(every, steps + 1, every), steps]
    elif eval_at is not None:
        chosen = np.asarray(list(eval_at), dtype=np.int64)
        if chosen.ndim != 1 or chosen.size == 0:
            raise ValueError("eval_at must be a non-empty list of steps, e.g. [150].")
        if chosen.min() < 1 or chosen.max() > steps:
            raise ValueError(
                f"eval_at must hold steps between 1 and steps = {steps}; got "
                f"{sorted(set(chosen.tolist()))}."
            )
    else:
        chosen = np.array([steps])
    return np.unique(chosen.astype(np.int64))


def _check_run(net: Network, data, steps, batch_size):
    """Validate what :func:`fit` and :func:`fit_together` train on.

    Returns ``((X_train, y_train, X_test, y_test), steps, batch_size)``,
    checked and converted by ``net`` (its dtype), or raises a ValueError that
    says what was wrong.
    """
    try:
        X_train, y_train, X_test, y_test = data
    except (TypeError, ValueError):
        raise ValueError("data must be (X_train, y_train, X_test, y_test).") from None
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}.")
    X_train = net.check_X(X_train, "X_train")
    m = X_train.shape[1]
    y_train = net.check_y(y_train, m, "y_train")
    X_test = net.check_X(X_test, "X_test")
    y_test = net.check_y(y_test, X_test.shape[1], "y_test")
    batch_size = int(batch_size)
    if not 1 <= batch_size <= m or (net.bn_layers and batch_size < 2):
        raise ValueError(
            f"batch_size must be between {2 if net.bn_layers else 1} and the "
            f"{m} training examples; got {batch_size}."
        )
    return (X_train, y_train, X_test, y_test), steps, batch_size


def fit(
    net: Network,
    lr: float,
    steps: int,
    data,
    *,
    optimizer: str = "gd",
    batch_size: int = 60,
    eval_at=None,
    eval_every: int | None = None,
    record_ratio: bool = False,
    seed: int = 0,
    progress=None,
) -> Fit:
    """Train ``net`` in place with mini-batches; measure what is asked.

    Parameters
    ----------
    net : a :class:`~bnutils.network.Network` (float32 is twice as fast).
    lr : learning rate of the optimizer.
    steps : optimizer steps (mini-batches), not epochs.
    data : ``(X_train, y_train, X_test, y_test)``, X of shape (n_x, m), y int
        labels of shape (m,).
    optimizer : ``"gd"``, ``"momentum"``, ``"rmsprop"`` or ``"adam"``.
    batch_size : examples per mini-batch (>= 2 with Batch Norm).
    eval_at : steps after which to measure the test accuracy (default: the
        last step only); or ``eval_every`` for every multiple of it and the
        last step.
    record_ratio : also record the update-to-data ratio of each ``W[l]`` at
        the evaluation steps.
    seed : seeds the order of the mini-batches: each epoch the training set
        is shuffled with ``np.random.default_rng(seed)`` and cut into
        mini-batches, the last incomplete one dropped (as
        :func:`bnutils.train.train` does). The same seed gives the same
        mini-batches to every network.
    progress : an object with ``update(value)`` and ``value`` (a
        :class:`bnutils.widgets.Progress`), advanced by one per step.

    Returns a :class:`Fit`. A run whose loss or gradients become NaN or
    infinite stops at that step (``diverged_at``); nothing is raised.
    Parameters that overflow in an update make the next step's loss NaN, so
    they are caught one step later (after the last step, directly).
    """
    if not isinstance(net, Network):
        raise ValueError(f"net must be a bnutils Network; got {type(net).__name__}.")
    (X_train, y_train, X_test, y_test), steps, batch_size = _check_run(
        net, data, steps, batch_size
    )
    m = X_train.shape[1]
    opt = make_optimizer(optimizer, lr)
    evals = _eval_steps(steps, eval_at, eval_every)
    is_eval = np.zeros(steps + 1, dtype=bool)
    is_eval[evals] = True
    acc = np.full(evals.size, np.nan)
    w_keys = [k for k in net.params if k.startswith("W")]
    ratio = {k: np.full(evals.size, np.nan) for k in w_keys} if record_ratio else {}
    losses = np.full(steps, np.nan)
    XT = np.ascontiguousarray(X_train.T)  # a mini-batch is then a cheap row gather
    rng = np.random.default_rng(int(seed))
    order, pos, k = rng.permutation(m), 0, 0
    diverged_at = None
    t0 = time.perf_counter()
    with limit_blas_threads(), np.errstate(all="ignore"):
        for s in range(1, steps + 1):
            if pos + batch_size > m:
                order, pos = rng.permutation(m), 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            before = (
                {key: net.params[key].copy() for key in w_keys}
                if record_ratio and is_eval[s]
                else None
            )
            try:
                loss, grads = net._loss_and_grads(XT[idx].T, y_train[idx])
                losses[s - 1] = loss if np.isfinite(loss) else np.nan
                ok = bool(np.isfinite(loss))
                if ok:
                    opt.step(net.params, grads)  # refuses non-finite gradients
                    # Overflowing weights make the next loss NaN; after the
                    # last step there is no next loss, so look at them.
                    ok = s < steps or _finite(net)
            except (NonFiniteError, NonFiniteGradientError):
                ok = False
            if progress is not None and (s % 10 == 0 or s == steps or not ok):
                progress.update(progress.value + (s - 1) % 10 + 1)
            if not ok:
                diverged_at = s
                losses = losses[:s]
                break
            if is_eval[s]:
                acc[k] = net.accuracy(X_test, y_test)
                for key, old in (before or {}).items():
                    sd = float(np.std(old))
                    if sd > 0:
                        ratio[key][k] = float(np.std(net.params[key] - old)) / sd
                k += 1
    return Fit(
        net=net,
        step_loss=losses,
        eval_steps=evals,
        test_acc=acc,
        update_ratio=ratio,
        diverged_at=diverged_at,
        seconds=time.perf_counter() - t0,
        lr=float(lr),
        batch_size=batch_size,
        optimizer=optimizer,
    )


def _act(name: str, Z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(Z, 0)
    if name == "tanh":
        return np.tanh(Z)
    return (np.tanh(Z * 0.5) + 1.0) * 0.5  # sigmoid, as bnutils.network computes it


def _act_grad(name: str, Zt: np.ndarray, A: np.ndarray) -> np.ndarray:
    if name == "relu":
        return (Zt > 0).astype(Zt.dtype)
    if name == "tanh":
        return 1.0 - A * A
    return A * (1.0 - A)


def _per_member_finite(*arrays) -> np.ndarray:
    """Bool (K,): every array of member k (its first axis) is finite."""
    ok = None
    for a in arrays:
        s = np.isfinite(a.reshape(a.shape[0], -1).sum(axis=1))
        ok = s if ok is None else ok & s
    return ok


def fit_together(
    nets,
    lrs,
    steps: int,
    data,
    *,
    batch_size: int = 60,
    eval_at=None,
    seed: int = 0,
    progress=None,
) -> list[Fit]:
    """Train several networks of the same shape at once, each with its own
    learning rate: what :func:`fit` does for each, in one loop.

    The networks' arrays are stacked along a new first axis (network k's
    ``W[l]`` becomes ``W[l][k]``), so each numpy call (a matrix product per
    layer, one Batch Norm, one update) serves all of them; for the series'
    784-100-100-100-10 networks that is about 1.1 (plain) to 1.3 (Batch Norm)
    times faster than training them one after the other. Each network keeps
    its own weights, learning rate and running statistics, sees the same
    mini-batches as with :func:`fit` and the same ``seed``, and goes through
    the operations of :class:`bnutils.network.Network` in the same order: the
    results are those of :func:`fit`, bit for bit (tested). A network that
    diverges stops there with the weights it had; the others go on.

    Parameters
    ----------
    nets : :class:`~bnutils.network.Network` objects with the same layer
        sizes, activation, Batch Norm setting, biases, dtype, ``ema_beta`` and
        ``eps``; trained in place.
    lrs : one learning rate per network (plain mini-batch gradient descent).
    steps, data, batch_size, eval_at, seed, progress : as in :func:`fit`.

    Returns one :class:`Fit` per network, in order (without update ratios).
    """
    nets = list(nets)
    lrs = [float(lr) for lr in lrs]
    if not nets or len(lrs) != len(nets):
        raise ValueError(
            "give one learning rate per network (and at least one network)."
        )
    first = nets[0]
    for net in nets:
        if not isinstance(net, Network):
            raise ValueError(
                f"nets must be bnutils Networks; got {type(net).__name__}."
            )
        same = (
            net.layer_sizes == first.layer_sizes
            and net.activation == first.activation
            and net.batchnorm == first.batchnorm
            and net.dtype == first.dtype
            and net.ema_beta == first.ema_beta
            and net.eps == first.eps
            and list(net.params) == list(first.params)
        )
        if not same:
            raise ValueError(
                "fit_together needs networks of the same shape: layer sizes, "
                "activation, Batch Norm, biases, dtype, ema_beta and eps; train the "
                "others with fit()."
            )
    if not all(np.isfinite(lr) and lr > 0 for lr in lrs):
        raise ValueError(f"learning rates must be positive numbers; got {lrs}.")
    (X_train, y_train, X_test, y_test), steps, m = _check_run(
        first, data, steps, batch_size
    )
    m_all = X_train.shape[1]
    evals = _eval_steps(steps, eval_at, None)
    is_eval = np.zeros(steps + 1, dtype=bool)
    is_eval[evals] = True

    K, L, act = len(nets), first.L, first.activation
    dt = first.dtype
    keys = list(first.params)
    P = {k: np.stack([net.params[k] for net in nets]) for k in keys}  # (K, ...)
    bn_l = sorted(first.bn_layers)
    R = {
        layer: [
            np.stack([net.bn_layers[layer].running_mean for net in nets]),
            np.stack([net.bn_layers[layer].running_var for net in nets]),
        ]
        for layer in bn_l
    }
    b_ema, eps = first.ema_beta, first.eps
    lr = np.array(lrs, dtype=dt).reshape(K, 1, 1)
    alive = np.arange(K)  # which networks the stacked arrays hold
    acc = np.full((K, evals.size), np.nan)
    losses = np.full((K, steps), np.nan)
    diverged_at: list[int | None] = [None] * K

    def retire(members, step):
        """Write the networks' arrays back and drop them from the stack."""
        nonlocal alive, lr
        keep = np.ones(alive.size, dtype=bool)
        for j in members:
            k = int(alive[j])
            net = nets[k]
            for key in keys:
                net.params[key][...] = P[key][j]
            for layer in bn_l:
                net.bn_layers[layer].running_mean = R[layer][0][j]
                net.bn_layers[layer].running_var = R[layer][1][j]
            if step is not None:
                diverged_at[k] = step
            keep[j] = False
        for key in keys:
            P[key] = P[key][keep]
        for layer in bn_l:
            R[layer] = [R[layer][0][keep], R[layer][1][keep]]
        lr = lr[keep]
        alive = alive[keep]

    def inference_acc():
        A = X_test
        for layer in range(1, L + 1):
            Z = P[f"W{layer}"] @ A
            if f"b{layer}" in P:
                Z = Z + P[f"b{layer}"]
            if layer == L:
                break
            if layer in R:
                rm, rv = R[layer]
                Z = (
                    P[f"gamma{layer}"] * (Z - rm) / np.sqrt(rv + eps)
                    + P[f"beta{layer}"]
                )
            A = _act(act, Z)
        return np.mean(Z.argmax(axis=1) == y_test, axis=1)

    XT = np.ascontiguousarray(X_train.T)
    rng = np.random.default_rng(int(seed))
    order, pos, e = rng.permutation(m_all), 0, 0
    cols = np.arange(m)
    t0 = time.perf_counter()
    with limit_blas_threads(), np.errstate(all="ignore"):
        for s in range(1, steps + 1):
            if alive.size == 0:
                break
            if pos + m > m_all:
                order, pos = rng.permutation(m_all), 0
            idx = order[pos : pos + m]
            pos += m
            Xb, yb = XT[idx].T, y_train[idx]
            # forward, training mode
            A, cache, stats_ok = Xb, [], np.ones(alive.size, dtype=bool)
            for layer in range(1, L + 1):
                Z = P[f"W{layer}"] @ A
                if f"b{layer}" in P:
                    Z += P[f"b{layer}"]
                if layer == L:
                    break
                Zn = inv = None
                if layer in R:
                    # The operations of bnutils.layers, in the same order, so
                    # that each network gets the same numbers as with fit().
                    mu = _einsum("kij->ki", Z)[..., None]
                    mu *= 1.0 / m
                    Zc = Z - mu
                    var = _einsum("kij,kij->ki", Zc, Zc)[..., None]
                    var *= 1.0 / m
                    stats_ok &= _per_member_finite(mu, var)
                    inv = var + eps
                    np.sqrt(inv, out=inv)
                    np.divide(1.0, inv, out=inv)
                    Zn = Zc * inv
                    Zt = Zn * P[f"gamma{layer}"]
                    Zt += P[f"beta{layer}"]
                    rm, rv = R[layer]
                    R[layer] = [
                        (b_ema * rm + (1.0 - b_ema) * mu).astype(dt, copy=False),
                        (b_ema * rv + ((1.0 - b_ema) * m / (m - 1)) * var).astype(
                            dt, copy=False
                        ),
                    ]
                else:
                    Zt = Z
                A_prev, A = A, _act(act, Zt)
                cache.append((A_prev, Zt, A, Zn, inv))
            shifted = Z - Z.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            # (K,), summed one network at a time as Network does (the same
            # rounding, so the recorded losses match fit's too)
            picked = logp[:, yb, cols]
            loss = np.array([float(-np.add.reduce(row)) / m for row in picked])
            losses[alive, s - 1] = np.where(np.isfinite(loss), loss, np.nan)
            # backward
            grads = {}
            dZ = np.exp(logp)
            dZ[:, yb, cols] -= 1
            dZ /= m
            for layer in range(L, 0, -1):
                A_prev = A if layer == L else cache[layer - 1][0]  # A[layer - 1]
                grads[f"W{layer}"] = dZ @ np.swapaxes(A_prev, -1, -2)
                if f"b{layer}" in P:
                    grads[f"b{layer}"] = dZ.sum(axis=2, keepdims=True)
                if layer == 1:
                    break
                _, Zt, A_h, Zn, inv = cache[layer - 2]
                dZt = np.swapaxes(P[f"W{layer}"], -1, -2) @ dZ
                dZt *= _act_grad(act, Zt, A_h)
                if Zn is not None:
                    h = layer - 1
                    dbeta = _einsum("kij->ki", dZt)[..., None]
                    dgamma = _einsum("kij,kij->ki", dZt, Zn)[..., None]
                    grads[f"gamma{h}"], grads[f"beta{h}"] = dgamma, dbeta
                    dZ = Zn * (dgamma * (1.0 / m))
                    np.subtract(dZt, dZ, out=dZ)
                    dZ -= dbeta * (1.0 / m)
                    dZ *= P[f"gamma{h}"] * inv
                else:
                    dZ = dZt
            ok = np.isfinite(loss) & stats_ok & _per_member_finite(*grads.values())
            for key in keys:
                g = grads[key]
                if not ok.all():
                    g[~ok] = 0  # no update for a network that diverges now
                g *= lr
                P[key] -= g
            bad = np.flatnonzero(~ok)
            if s == steps:
                bad = np.flatnonzero(~ok | ~_per_member_finite(*P.values()))
            if bad.size:
                retire(bad, s)
            if is_eval[s] and alive.size:
                acc[alive, e] = inference_acc()
            if is_eval[s]:
                e += 1
            if progress is not None and (s % 10 == 0 or s == steps):
                progress.update(progress.value + (s - 1) % 10 + 1)
        seconds = time.perf_counter() - t0
        retire(np.arange(alive.size), None)
    out = []
    for k, net in enumerate(nets):
        d = diverged_at[k]
        out.append(
            Fit(
                net=net,
                step_loss=losses[k, : (steps if d is None else d)],
                eval_steps=evals,
                test_acc=acc[k],
                diverged_at=d,
                seconds=seconds,
                lr=lrs[k],
                batch_size=m,
                optimizer="gd",
            )
        )
    return out


def steps_to_target(run: Fit, target: float) -> int | None:
    """The first evaluation step at which the test accuracy reached ``target``
    (in (0, 1]), or None; exact up to the spacing of the evaluation steps."""
    target = float(target)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be an accuracy in (0, 1]; got {target}.")
    hit = np.flatnonzero(np.nan_to_num(run.test_acc, nan=-1.0) >= target)
    return int(run.eval_steps[hit[0]]) if hit.size else None


# ----------------------------------------------------------------------------
# Figures: the comparison and the sweeps
# ----------------------------------------------------------------------------


def _fixed_layout(fig, **margins) -> None:
    """Fixed margins instead of constrained layout: a static figure is drawn
    twice by the notebook's inline backend (once to find its bounding box), and
    solving the layout each time cost as much as drawing it."""
    fig.set_layout_engine(None)
    fig.subplots_adjust(**margins)


def plot_comparison(runs: dict, target: float = 0.9, axes=None) -> dict:
    """Loss and test accuracy against the step, without and with Batch Norm.

    Parameters
    ----------
    runs : ``{False: Fit, True: Fit}`` (Batch Norm off, on), same setting.
    target : a target accuracy, drawn dashed; the step where each run first
        reached it is marked with a dotted line.
    axes : two Axes, or None for a new figure.

    Returns ``{"loss": {bn: Line2D}, "acc": {bn: Line2D}, "hits": {bn: Line2D
    or None}}``.
    """
    if axes is None:
        fig, axes = subplots(1, 2, figsize=(10.5, 3.6))
        _fixed_layout(fig, left=0.09, right=0.99, bottom=0.14, top=0.92, wspace=0.22)
    ax_l, ax_a = axes
    loss_lines, acc_lines, hits = {}, {}, {}
    for bn, run in runs.items():
        step, loss = run.smoothed_loss()
        (loss_lines[bn],) = ax_l.plot(step, loss, color=_COLORS[bn], label=_LABELS[bn])
        ok = np.isfinite(run.test_acc)
        s = steps_to_target(run, target)
        where = f"{target:.0%} at step {s}" if s is not None else "target not reached"
        (acc_lines[bn],) = ax_a.plot(
            run.eval_steps[ok],
            100 * run.test_acc[ok],
            color=_COLORS[bn],
            marker=_MARKERS[bn],
            ms=3,
            label=f"{_LABELS[bn]} ({where})",
        )
        hits[bn] = None
        if s is not None:
            hits[bn] = ax_a.axvline(s, color=_COLORS[bn], ls=":", lw=1.5)
    batch = next(iter(runs.values())).batch_size
    ax_l.set_yscale("log")
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


def plot_sweep(
    values,
    acc: dict,
    diverged: dict,
    *,
    xlabel: str,
    steps: int,
    mark: float | None = None,
    full_size: dict | None = None,
    full_steps: int | None = None,
    ax=None,
) -> dict:
    """Test accuracy against a swept setting (log scale), both networks.

    Parameters
    ----------
    values : the settings trained here, shape (n,), positive.
    acc : ``{False: (n,), True: (n,)}`` final test accuracy after ``steps``
        steps (NaN if diverged).
    diverged : same keys, bool (n,): drawn as a large X on the chance line.
    xlabel : what was swept, e.g. ``"learning rate"``.
    steps : the length of each run here.
    mark : a value to show as a dash-dotted vertical line.
    full_size : optional ``{False: (grid, acc_short, acc_long), True: ...}``
        from ``scripts/sweeps.py``: accuracy over its finer grid after
        ``steps`` steps (solid) and after ``full_steps`` steps (dashed);
        diverged runs (NaN) have no accuracy: the lines pass through the
        chance line there, and an open circle marks each. With it, the runs
        trained here are drawn as markers only (they lie on the solid line
        when the script's seed is this one); without it, as a line.
    ax : an Axes or None for a new figure.

    Returns ``{"points": {bn: Line2D}, "diverged": {bn: Line2D}, "short":
    {bn: Line2D}, "long": {bn: Line2D}, "script_diverged": {bn: Line2D}}``
    (the last three empty without ``full_size``).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0 or np.any(values <= 0):
        raise ValueError(f"values must be positive numbers, shape (n,); got {values}.")
    if ax is None:
        fig, ax = subplots(figsize=(6.8, 4.9))
        _fixed_layout(fig, left=0.11, right=0.98, bottom=0.36, top=0.93)
    points, crosses, short, long_, script_div = {}, {}, {}, {}, {}
    for bn in (False, True):
        a = np.asarray(acc[bn], dtype=float)
        d = np.asarray(diverged[bn], dtype=bool)
        if a.shape != values.shape or d.shape != values.shape:
            raise ValueError(
                f"acc[{bn}] and diverged[{bn}] must have the shape {values.shape} of "
                "values."
            )
        if full_size is not None:
            grid, f_short, f_long = (np.asarray(x, dtype=float) for x in full_size[bn])
            (short[bn],) = ax.plot(
                grid,
                100 * np.nan_to_num(f_short, nan=CHANCE),
                color=_COLORS[bn],
                lw=1.6,
                label=f"{_LABELS[bn]}, {steps} steps (script)",
            )
            (long_[bn],) = ax.plot(
                grid,
                100 * np.nan_to_num(f_long, nan=CHANCE),
                color=_COLORS[bn],
                ls="--",
                lw=1.6,
                label=f"{_LABELS[bn]}, {full_steps} steps (script)",
            )
            lost = np.isnan(f_short) | np.isnan(f_long)
            (script_div[bn],) = ax.plot(
                grid[lost],
                np.full(int(lost.sum()), 100 * CHANCE),
                ls="none",
                marker="o",
                ms=15,
                mfc="none",
                mew=1.6,
                color=_COLORS[bn],
                label=(
                    f"{_LABELS[bn]}: diverged in the script (drawn at 10 %)"
                    if lost.any()
                    else None
                ),
            )
        (points[bn],) = ax.plot(
            values,
            100 * a,
            color=_COLORS[bn],
            marker=_MARKERS[bn],
            ms=7,
            ls="none" if full_size is not None else "-",
            lw=2,
            label=f"{_LABELS[bn]}, {steps} steps here",
        )
        (crosses[bn],) = ax.plot(
            values[d],
            np.full(int(d.sum()), 100 * CHANCE),
            ls="none",
            marker="X",
            ms=11,
            color=_COLORS[bn],
            label=f"{_LABELS[bn]}: diverged here (NaN)" if d.any() else None,
        )
    ax.axhline(100 * CHANCE, color="0.5", ls=":", lw=1, label="chance (10 %)")
    if mark is not None:
        ax.axvline(
            mark, color="0.3", ls="-.", lw=1, label=f"section 1 setting ({mark:g})"
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"{xlabel} (log scale)")
    ax.set_ylabel("test accuracy at the end of each run (%)")
    lengths = f"{steps} and {full_steps}" if full_size is not None else f"{steps}"
    ax.set_title(f"Test accuracy after {lengths} steps vs {xlabel} (seed 0)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize=8)
    return {
        "points": points,
        "diverged": crosses,
        "short": short,
        "long": long_,
        "script_diverged": script_div,
    }


# ----------------------------------------------------------------------------
# Diagnostics (Karpathy): what enters and leaves each activation, gradients
# ----------------------------------------------------------------------------


def _walk_back(net: Network, X, y) -> dict:
    """Training-mode forward (running statistics untouched) and a backward walk.

    Returns ``{"dA": {l: dL/dA[l]}, "dZt": {l: dL/dZt[l]}}`` for the hidden
    layers (``Zt`` is the input of the activation) and ``"dZ": {l: dL/dZ[l]}``
    for every layer ``1 .. L`` (pre-BN ``Z``), each of shape (n_l, m), float64.
    """
    net.forward(X, training=True, update_running=False)
    c, p = net.cache, net.params
    y = net.check_y(y, c["A0"].shape[1])
    m = y.shape[0]
    dZ = c[f"A{net.L}"].astype(np.float64)
    dZ[y, np.arange(m)] -= 1
    dZ /= m
    out: dict = {"dA": {}, "dZt": {}, "dZ": {net.L: dZ}}
    for layer in range(net.L - 1, 0, -1):
        dA = p[f"W{layer + 1}"].T.astype(np.float64) @ dZ
        A, Zt = c[f"A{layer}"], c[f"Zt{layer}"]
        if net.activation == "sigmoid":
            dZt = dA * A * (1 - A)
        elif net.activation == "tanh":
            dZt = dA * (1 - A * A)
        else:
            dZt = dA * (Zt > 0)
        if layer in net.bn_layers:
            cache = c["bn"][layer]
            cache = cache._replace(
                **{
                    f: getattr(cache, f).astype(np.float64)
                    for f in cache._fields
                    if isinstance(getattr(cache, f), np.ndarray)
                }
            )
            dZ = batchnorm_backward(dZt, cache)[0]
        else:
            dZ = dZt
        out["dA"][layer], out["dZt"][layer], out["dZ"][layer] = dA, dZt, dZ
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def layer_snapshot(net: Network, X, y) -> dict:
    """Per hidden layer: what enters and leaves the activation, and gradients.

    Parameters
    ----------
    net : a trained network; its parameters and running statistics do not
        change (``net.cache`` is overwritten).
    X : a probe batch, shape (n_x, m); y : its labels, shape (m,). With Batch
        Norm the batch is normalized with its own statistics, as in training.

    Returns a dict of ``{l: array (n_l, m)}`` for the hidden layers: ``"Zt"``
    (the input of the activation), ``"A"`` (its output), ``"dA"`` (``dL/dA[l]``)
    and ``"dZt"`` (``dL/dZt[l]``: the gradient that got through the activation;
    a saturated tanh or sigmoid, or an inactive ReLU, lets almost none
    through), the loss being the mean cross-entropy of the probe batch.
    Gradients are computed in float64.
    """
    grads = _walk_back(net, X, y)
    c = net.cache
    hidden = list(net.hidden_layers)
    return {
        "Zt": {h: c[f"Zt{h}"] for h in hidden},
        "A": {h: c[f"A{h}"] for h in hidden},
        "dA": grads["dA"],
        "dZt": grads["dZt"],
    }


def _log_abs(values) -> np.ndarray:
    """log10 |v| of the non-zero entries, flattened (zeros have no logarithm)."""
    v = np.abs(np.ravel(values)).astype(np.float64)
    return np.log10(v[v > 0])


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


def plot_diagnostics(snapshots: dict, activation: str, axes=None) -> dict:
    """Karpathy's per-layer diagnostics, without (top row) and with BN (bottom).

    Columns, on the probe batch after training: histograms of the activation's
    input ``Zt[l]``, of its output ``A[l]`` (legend: saturated or dead share
    per layer) and of ``log10 |dL/dZt[l]|`` (zeros left out). Each column's
    range is shared by the two rows; values outside it are not drawn.

    Parameters
    ----------
    snapshots : ``{False: dict, True: dict}`` from :func:`layer_snapshot`.
    activation : the hidden layers' activation, for the saturation legend.
    axes : a (2, 3) array of Axes, or None for a new figure.

    Returns ``{(bn, field, layer): list of Polygon}``, the histograms.
    """
    if axes is None:
        fig, axes = subplots(2, 3, figsize=(11.0, 5.6))
        _fixed_layout(
            fig, left=0.06, right=0.99, bottom=0.09, top=0.95, wspace=0.25, hspace=0.5
        )
    keys = (False, True)
    what = "dead units" if activation == "relu" else "saturated"
    columns = (
        ("Zt", "input of the activation, Z̃[l]", "z̃"),
        ("A", f"output A[l] = {activation}(Z̃[l])", "a"),
        ("dZt", "gradient through it, dL/dZ̃[l]", "log10 |dL/dz̃|"),
    )

    def values(snap, name, h):
        return _log_abs(snap[name][h]) if name == "dZt" else np.ravel(snap[name][h])

    hists = {}
    for col, (name, title, xlabel) in enumerate(columns):
        rng = _shared_range(
            [values(snapshots[k], name, h) for k in keys for h in snapshots[k][name]]
        )
        if name == "A" and activation in ("tanh", "sigmoid"):
            rng = (-1.0, 1.0) if activation == "tanh" else (0.0, 1.0)
        for row, bn in enumerate(keys):
            ax = axes[row, col]
            snap = snapshots[bn]
            ax.set_title(f"{_LABELS[bn]}: {title}", color=_COLORS[bn], fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("density")
            for i, h in enumerate(snap[name]):
                label = f"layer {h}"
                if name == "A":
                    share = saturation_share(snap["A"][h], activation)
                    label += f": {share:.0%} {what}"
                _, _, patches = ax.hist(
                    values(snap, name, h),
                    bins=40,
                    range=rng,
                    density=True,
                    histtype="step",
                    lw=1.6,
                    color=LAYER_COLORS[i % 3],
                    label=label,
                )
                hists[(bn, name, h)] = patches
            ax.set_xlim(*rng)
            ax.legend(loc="upper left" if name == "dZt" else "upper right", fontsize=8)
    return hists


# ----------------------------------------------------------------------------
# The full-size results of scripts/sweeps.py
# ----------------------------------------------------------------------------


def full_size_results(path=None) -> dict:
    """What ``scripts/sweeps.py --save`` stored (see that script).

    Returns a dict of numpy arrays: ``"seeds"`` (S,), ``"steps"`` (the length
    of each sweep run), ``"lrs"`` (n,), ``"lr_acc"`` (2, S, n) final test
    accuracy without [0] and with [1] Batch Norm (NaN where diverged),
    ``"lr_diverged"`` (2, S, n) bool, ``"scales"``, ``"scale_acc"``,
    ``"scale_diverged"`` likewise for the initial weight scale,
    ``"compare_steps"``, ``"targets"`` (T,), ``"steps_to_target"`` (2, S, T)
    (-1: not reached), ``"compare_acc"`` (2, S) final accuracy of the
    comparison, and ``"command"`` (the command line that produced it).
    """
    if path is None:
        ref = resources.files("bnutils") / "datafiles" / FULL_SIZE_FILE
        with resources.as_file(ref) as p:
            return _read_full_size(p)
    return _read_full_size(path)


def _read_full_size(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: run `python scripts/sweeps.py --save` to create it."
        ) from None
    out["command"] = str(out["command"])
    return out


def seed_range(acc, div, steps) -> str:
    """The range of final accuracies over seeds, as text: ``"86-88 %"`` over the
    seeds that did not diverge within ``steps`` (``div``: the step each seed
    diverged at, -1 for none), then ``"(k div.)"`` if k seeds did, or
    ``"diverged"`` if all did. acc, div : shape (S,)."""
    gone = (div >= 0) & (div <= steps)
    ok = acc[~gone & np.isfinite(acc)]
    if ok.size == 0:
        return "diverged"
    lo, hi = f"{100 * ok.min():.1f}", f"{100 * ok.max():.1f}"
    text = f"{lo} %" if lo == hi else f"{lo}-{hi} %"
    if gone.any():
        text += f" ({int(gone.sum())} div.)"
    return text


def sweep_table(values, acc: dict, full: dict, name: str, steps: int = 150) -> str:
    """This notebook's short sweep beside ``scripts/sweeps.py``'s, as text.

    Parameters
    ----------
    values : the settings the notebook trained, shape (n,); each must be one
        of the script's.
    acc : ``{False: (n,), True: (n,)}`` the notebook's final test accuracy
        after ``steps`` steps (NaN: diverged).
    full : :func:`full_size_results`.
    name : ``"lr"`` or ``"scale"``: which of the script's sweeps.
    steps : the notebook's run length (the script also measured it).

    Returns the table, one row per value of the script's grid: for each
    network, the notebook's accuracy (``"-"`` where it did not train that
    value), the range over the script's seeds after ``steps`` steps, and the
    range after the script's full run length (``"div."``: diverged;
    ``(k div.)``: k seeds diverged and the range is over the others).
    """
    if name not in ("lr", "scale"):
        raise ValueError(f"name must be 'lr' or 'scale'; got {name!r}.")
    grid = np.asarray(full[f"{name}s"], dtype=float)
    f_acc, f_div = full[f"{name}_acc"], full[f"{name}_diverged_at"]
    short, long_ = int(full["short_steps"]), int(full["steps"])
    if short != steps:
        raise ValueError(
            f"the script measured after {short} steps, not {steps}: run it again."
        )
    mine = {}
    for i, v in enumerate(np.asarray(values, dtype=float)):
        hit = np.flatnonzero(np.isclose(grid, v, rtol=1e-9))
        if hit.size == 0:
            raise ValueError(
                f"{v:g} is not one of the script's values {grid.tolist()}."
            )
        mine[int(hit[0])] = {
            bn: float(np.asarray(acc[bn], dtype=float)[i]) for bn in acc
        }
    label = "lr" if name == "lr" else "std"
    head = f"{steps} here  {f'{steps}: seeds':>16}  {f'{long_}: seeds':>16}"
    lines = [
        f"{'':>7}  {'without BN':^{len(head)}}   {'with BN':^{len(head)}}",
        f"{label:>7}  {head}   {head}",
    ]
    for j, v in enumerate(grid):
        cells = []
        for bn in (False, True):
            if j not in mine:
                here = "-"
            else:
                here = "div." if np.isnan(mine[j][bn]) else f"{100 * mine[j][bn]:.1f} %"
            k = int(bn)
            at_short = seed_range(f_acc[k, :, j, 0], f_div[k, :, j], short)
            at_long = seed_range(f_acc[k, :, j, 1], f_div[k, :, j], long_)
            cells.append(f"{here:>8}  {at_short:>16}  {at_long:>16}")
        lines.append(f"{v:>7g}  {cells[0]}   {cells[1]}")
    seed_list = ", ".join(str(int(x)) for x in full["seeds"])
    lines.append(
        f"({steps} here: trained in this notebook, seed 0; '-': not trained here. "
        f"Ranges: seeds {seed_list} of scripts/sweeps.py, same code and setting.)"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# The training lab
# ----------------------------------------------------------------------------

#: Batch sizes the lab offers.
LAB_BATCH_SIZES = (2, 4, 8, 16, 32, 60, 128, 256)
#: The lab trains on at most this many examples (steps x batch size), so that
#: every run takes a few seconds.
LAB_MAX_EXAMPLES = 48_000
#: The lab calls a run "Trained." from this test accuracy on; between twice
#: chance and this it "learned a little" (e.g. 28 % with batches of two).
LAB_TRAINED = 0.5
#: Test images whose last hidden layer gives the lab's saturated share.
_LAB_PROBE = 200


def _status(run: Fit) -> str:
    if run.diverged:
        return (
            f"<b style='color:{PLAIN_COLOR}'>Diverged at step {run.diverged_at}</b>: "
            "the loss or the weights became NaN or infinite, so training stopped; "
            "the curves show the steps before. Try a smaller learning rate or weight "
            "scale, or switch Batch Norm on."
        )
    if not np.isfinite(run.final_acc) or run.final_acc < 2 * CHANCE:
        return (
            f"<b style='color:{PLAIN_COLOR}'>Did not learn</b>: the test accuracy "
            "stayed near chance (10 %)."
        )
    if run.final_acc < LAB_TRAINED:
        return (
            "<b>Learned a little</b>: the test accuracy ended above chance (10 %) "
            f"but below {LAB_TRAINED:.0%}."
        )
    return "<b>Trained.</b>"


def training_lab(
    data,
    hidden=(100, 100, 100),
    seed: int = 0,
    max_examples: int = LAB_MAX_EXAMPLES,
    steps: int = 800,
    first: Fit | None = None,
) -> TrainPanel:
    """Train the network with any setting; read its curves and diagnostics.

    Controls: Batch Norm on/off, activation, optimizer, learning rate and
    initial weight std (log sliders), batch size, steps; a Train button and a
    progress bar. Steps are capped so that ``steps * batch_size <=
    max_examples`` (the readout says when). Every run is float32, seeded
    with ``seed`` (weights and mini-batches), and measures the test accuracy
    ten times (:func:`fit`).

    Figure: the mini-batch loss (smoothed), the test accuracy, and log10 of
    the update-to-data ratio of each ``W[l]`` with the -3 reference line; the
    previous run stays as a thin grey line on the first two. A diverging run
    shows the steps before it diverged and a message in the readout.

    Parameters
    ----------
    data : ``(X_train, y_train, X_test, y_test)``, X of shape (784, m).
    hidden : hidden layer sizes.
    seed : seeds the weights and mini-batches of every run.
    max_examples : cap on ``steps * batch_size``.
    steps : the steps slider's first value (50 .. 800, a multiple of 50).
    first : a finished run to show on creation instead of training one (it
        must match the controls' first values: Batch Norm on, ReLU, GD, lr
        0.1, weight std 0.05, batch 60, ``steps`` steps, ``hidden`` layers,
        with ``record_ratio``); None trains on creation.

    Returns a :class:`bnutils.widgets.TrainPanel`; ``panel.artists`` holds the
    lines and ``panel.last_run`` the last :class:`Fit`.
    """
    X_train, _, X_test, _ = data
    hidden = tuple(int(h) for h in hidden)
    probe = X_test[:, :_LAB_PROBE]
    fig, (ax_l, ax_a, ax_r) = panel_figure(1, 3, figsize=(11.5, 3.5))
    _fixed_layout(fig, left=0.085, right=0.99, bottom=0.15, top=0.91, wspace=0.3)
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
    ratio_lines = {}
    for i in range(len(hidden) + 1):
        (ratio_lines[f"W{i + 1}"],) = ax_r.plot(
            [], [], color=LAYER_COLORS[min(i, 3)], lw=1.6, label=f"W{i + 1}"
        )
    ax_r.axhline(RATIO_REFERENCE, color="0.3", ls="--", lw=1.2, label="-3 (healthy)")
    ax_r.set_xlabel("step")
    ax_r.set_ylabel("log10(std(ΔW) / std(W))")
    ax_r.set_title("Update-to-data ratio")
    ax_r.legend(loc="lower left", fontsize=8, ncols=3)
    note = ax_l.text(
        0.5, 0.5, "", ha="center", va="center", transform=ax_l.transAxes,
        color=PLAIN_COLOR,
    )  # fmt: skip
    ratio_note = ax_r.text(
        0.5, 0.6, "", ha="center", va="center", transform=ax_r.transAxes,
        color=PLAIN_COLOR,
    )  # fmt: skip
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
        "steps": int_slider("steps", steps, 50, 800, 50, continuous_update=False),
    }
    state: dict = {"first": first, "panel": None, "last": None}

    def train_one(
        batchnorm,
        activation,
        optimizer,
        lr,
        weight_scale,
        batch_size,
        steps_run,
        progress,
    ):
        net = Network(
            [X_train.shape[0], *hidden, 10], activation=activation,
            batchnorm=bool(batchnorm), weight_scale=float(weight_scale), seed=seed,
            dtype=np.float32,
        )  # fmt: skip

        class _Bar:
            value = 0

            def update(self, value):
                self.value = value
                progress(value, steps_run)

        return fit(
            net, float(lr), steps_run, data, optimizer=optimizer,
            batch_size=batch_size, eval_every=max(1, steps_run // 10),
            record_ratio=True, seed=seed, progress=_Bar(),
        )  # fmt: skip

    def update(
        batchnorm, activation, optimizer, lr, weight_scale, batch_size, steps, progress
    ):
        batch_size = int(batch_size)
        steps = int(steps)
        cap = max(1, int(max_examples) // batch_size)
        capped = steps > cap
        steps_run = min(steps, cap)
        if state["first"] is not None:
            run, state["first"] = state["first"], None
        else:
            run = train_one(
                batchnorm, activation, optimizer, lr, weight_scale, batch_size,
                steps_run, progress,
            )  # fmt: skip
        color = BN_COLOR if batchnorm else PLAIN_COLOR
        # the previous run becomes the grey reference
        prev_loss.set_data(*loss_line.get_data())
        prev_acc.set_data(*acc_line.get_data())
        step, loss = run.smoothed_loss(window=10)
        loss_line.set_data(step, loss)
        loss_line.set_color(color)
        ok = np.isfinite(run.test_acc)
        acc_line.set_data(run.eval_steps[ok].astype(float), 100 * run.test_acc[ok])
        acc_line.set_color(color)
        for name, line in ratio_lines.items():
            r_ = np.asarray(run.update_ratio.get(name, []), dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.log10(r_)
            good = np.isfinite(lg)
            line.set_data(run.eval_steps[: lg.size][good].astype(float), lg[good])
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
        if state["panel"] is not None:
            state["panel"].last_run = run
        state["last"] = run

        finite_acc = run.test_acc[ok]
        best = f"{finite_acc.max():.1%}" if finite_acc.size else "n/a"
        parts = [_status(run)]
        if capped:
            parts.append(
                f"Steps capped at {steps_run} (steps x batch size <= {max_examples:,} "
                "keeps a run to a few seconds)."
            )
        net_txt = "with" if batchnorm else "without"
        acc = run.final_acc
        acc_txt = f"{acc:.1%}" if np.isfinite(acc) else "n/a (diverged)"
        parts.append(
            f"{net_txt} BN, {activation}, {optimizer} lr {lr:.3g}, weight std "
            f"{weight_scale:.3g}, batch {batch_size}: final test accuracy "
            f"<b>{acc_txt}</b> (best {best}) after {run.steps_done} steps, "
            f"{run.steps_per_second:.0f} steps/s."
        )
        last = run.net.L - 1
        try:
            with np.errstate(all="ignore"):
                A = run.net.inspect(probe, training=run.net.batchnorm)[f"A{last}"]
        except ValueError:  # NaN or overflow inside a network that diverged
            A = None
        if not run.diverged and A is not None and np.all(np.isfinite(A)):
            sat = saturation_share(A, activation)
            what = "dead units" if activation == "relu" else "saturated outputs"
            parts.append(
                f"Layer {last}: {sat:.0%} {what} on {probe.shape[1]} test images."
            )
        return "<br>".join(parts)

    panel = TrainPanel(controls, fig, update, title="Training lab: MNIST digits")
    panel.last_run = state["last"]
    state["panel"] = panel
    panel.artists.update(
        loss=loss_line,
        acc=acc_line,
        ratios=ratio_lines,
        prev_loss=prev_loss,
        prev_acc=prev_acc,
        note=note,
        ratio_note=ratio_note,
    )
    return panel
