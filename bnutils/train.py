"""Mini-batch training of a :class:`~bnutils.network.Network`, with records.

:func:`train` runs ``steps`` optimizer steps on mini-batches and, every
``eval_every`` steps, records what the series' figures need in a
:class:`History`: the training loss, train and test accuracy, and the input
of one activation unit per hidden layer over a fixed probe batch (Ioffe &
Szegedy 2015, Figure 1 b, c), plus optional diagnostics (update-to-data ratio,
saturation, gradient spread, as in Karpathy's "Building makemore" lectures).

Mini-batches: each epoch the training set is shuffled with
``np.random.default_rng(seed)`` and cut into batches of ``batch_size``; the
last incomplete batch of an epoch is dropped (every batch has the same size,
which Batch Norm needs). Same network, optimizer settings, data and seed give
the same run, bit for bit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from bnutils.network import Network, NonFiniteError
from bnutils.optim import NonFiniteGradientError, Optimizer
from bnutils.threads import TRAINING_BLAS_THREADS, limit_blas_threads
from bnutils.widgets import Progress

__all__ = ["PERCENTILES", "SATURATION_MARGIN", "History", "train"]

#: Percentiles of the probed unit's input recorded in :attr:`History.percentiles`.
PERCENTILES = (15, 50, 85)
#: Sigmoid outputs within this of 0 or 1 (tanh: ``|A| > 1 - margin``) are saturated.
SATURATION_MARGIN = 0.03
#: Training accuracy is measured on the first this-many training examples.
TRAIN_SUBSET = 1000
#: Default probe: the first this-many test (or training) examples.
PROBE_SIZE = 500

_LAYER_KEYED = ("percentiles", "unit_inputs", "saturation")
_PARAM_KEYED = ("update_ratio", "grad_std")


@dataclass(eq=False)
class History:
    """What :func:`train` recorded. ``n_records`` rows, one per record step.

    Records are taken at step 0 (before any update), at every multiple of
    ``eval_every`` and at the last step.

    Attributes
    ----------
    step : int, (n_records,): the step of each record (0, eval_every, ...).
    loss : (n_records,): mean training loss (cross-entropy of each mini-batch,
        computed in the step's forward pass, before its update) over the steps
        since the previous record. At step 0: the loss of the first mini-batch.
    train_acc : (n_records,): accuracy on the first min(1000, m) training
        examples, inference mode.
    test_acc : (n_records,): accuracy on the test set, inference mode (NaN when
        no test set was given).
    percentiles : hidden layer l -> (n_records, 3): the 15th, 50th and 85th
        percentiles of ``Zt[l]`` (the input of the activation) of unit
        ``probe_unit`` over the probe examples.
    unit_inputs : hidden layer l -> (n_records, n_probe): those values.
    update_ratio : parameter name -> (n_records,): ``std(update) / std(param)``
        of the step just taken (NaN at step 0 and when std(param) is 0, e.g.
        gamma = 1 and beta = 0 at the start). Only with ``record_diagnostics``.
    saturation : hidden layer l -> (n_records,): on the probe batch, the share
        of sigmoid outputs within 0.03 of 0 or 1, of tanh outputs with
        ``|A| > 0.97``, or of dead ReLU units (zero for every probe example).
        Only with ``record_diagnostics``.
    grad_std : parameter name -> (n_records,): standard deviation of the
        gradient of the step just taken (NaN at step 0). Only with
        ``record_diagnostics``.
    step_loss : (steps_done,): the loss of every mini-batch.
    diverged : True if a loss, a parameter or a BN running statistic became NaN
        or infinite.
    diverged_at : the step at which it happened, else None.
    seconds : wall time of the run.
    config : the settings of the run (batch size, seed, network, optimizer...).

    Divergence: training stops at the step whose loss, or whose updated
    parameters or running statistics, are not finite. The history then ends
    with one record at ``diverged_at`` whose every value is NaN; ``step_loss``
    ends at that step (NaN if its loss was not finite). So the arrays hold
    finite numbers or NaN, never infinity, and ``np.nanmax`` and plots work on
    them unchanged. A record whose evaluation overflows inside the network is
    NaN as a whole too.
    """

    step: np.ndarray
    loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    percentiles: dict = field(default_factory=dict)
    unit_inputs: dict = field(default_factory=dict)
    update_ratio: dict = field(default_factory=dict)
    saturation: dict = field(default_factory=dict)
    grad_std: dict = field(default_factory=dict)
    step_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diverged: bool = False
    diverged_at: int | None = None
    seconds: float = float("nan")
    config: dict = field(default_factory=dict)

    @property
    def n_records(self) -> int:
        """Number of records (rows)."""
        return int(self.step.shape[0])

    @property
    def steps_done(self) -> int:
        """Number of steps run (including a diverging one)."""
        return int(self.step_loss.shape[0])

    @property
    def steps_per_second(self) -> float:
        """Training speed of the run, records included."""
        return self.steps_done / self.seconds if self.seconds > 0 else float("nan")

    def smoothed_loss(self, window: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Trailing mean of the mini-batch losses over ``window`` steps.

        Returns ``(step, loss)``, 1-D float arrays over the steps 1, 2, ... up to
        the last finite loss: ``loss[i]`` is the mean loss of the steps
        ``max(1, i + 2 - window) .. i + 1``. A diverged run stops before its
        first non-finite loss, so both arrays hold finite numbers only.
        """
        if int(window) < 1:
            raise ValueError(
                f"window must be a positive number of steps; got {window}."
            )
        raw = np.asarray(self.step_loss, dtype=float)
        finite = np.isfinite(raw)
        n = raw.shape[0] if finite.all() else int(np.argmin(finite))
        csum = np.concatenate([[0.0], np.cumsum(raw[:n])])
        idx = np.arange(1, n + 1)
        lo = np.maximum(idx - int(window), 0)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = (csum[idx] - csum[lo]) / (idx - lo)
        ok = np.isfinite(mean)
        return idx[ok].astype(float), mean[ok]

    def __repr__(self) -> str:
        if self.n_records == 0:
            return "History(empty)"
        i = self.n_records - 1
        text = (
            f"History({self.n_records} records, steps 0..{int(self.step[i])}, "
            f"{self.steps_done} steps in {self.seconds:.2f} s; last record: "
            f"loss {self.loss[i]:.4g}, train_acc {self.train_acc[i]:.3f}, "
            f"test_acc {self.test_acc[i]:.3f}"
        )
        if self.diverged:
            text += f"; DIVERGED at step {self.diverged_at}"
        return text + ")"

    def to_dict(self) -> dict:
        """Flat dict name -> numpy array, ready for ``np.savez``.

        Dict-valued fields become ``"percentiles/1"``, ``"update_ratio/W1"``,
        ...; ``diverged_at`` is -1 when the run did not diverge; ``config`` is
        a JSON string. :meth:`from_dict` inverts it.
        """
        out = {
            "step": self.step,
            "loss": self.loss,
            "train_acc": self.train_acc,
            "test_acc": self.test_acc,
            "step_loss": self.step_loss,
            "diverged": np.array(bool(self.diverged)),
            "diverged_at": np.array(
                -1 if self.diverged_at is None else self.diverged_at
            ),
            "seconds": np.array(float(self.seconds)),
            "config": np.array(json.dumps(self.config)),
        }
        for name in _LAYER_KEYED + _PARAM_KEYED:
            for key, arr in getattr(self, name).items():
                out[f"{name}/{key}"] = arr
        return out

    @classmethod
    def from_dict(cls, d) -> History:
        """Rebuild a History from :meth:`to_dict` output (or an ``np.load`` file)."""
        groups: dict[str, dict] = {name: {} for name in _LAYER_KEYED + _PARAM_KEYED}
        for key in d:
            if "/" in key:
                name, sub = key.split("/", 1)
                if name not in groups:
                    raise ValueError(f"unknown History field {key!r}.")
                groups[name][int(sub) if name in _LAYER_KEYED else sub] = np.asarray(
                    d[key]
                )
        diverged_at = int(np.asarray(d["diverged_at"]))
        return cls(
            step=np.asarray(d["step"]),
            loss=np.asarray(d["loss"]),
            train_acc=np.asarray(d["train_acc"]),
            test_acc=np.asarray(d["test_acc"]),
            step_loss=np.asarray(d["step_loss"]),
            diverged=bool(np.asarray(d["diverged"])),
            diverged_at=None if diverged_at < 0 else diverged_at,
            seconds=float(np.asarray(d["seconds"])),
            config=json.loads(str(np.asarray(d["config"]))),
            **{name: groups[name] for name in groups},
        )

    def save(self, path) -> None:
        """Save to a compressed ``.npz`` file (see :meth:`load`)."""
        np.savez_compressed(path, **self.to_dict())

    @classmethod
    def load(cls, path) -> History:
        """Load a History saved with :meth:`save`."""
        with np.load(path) as f:
            return cls.from_dict({k: f[k] for k in f.files})

    def _head(self, n: int) -> History:
        """The first n records (views), for callbacks during training;
        ``step_loss`` is cut at the step of the n-th record."""

        def cut(dct):
            return {k: v[:n] for k, v in dct.items()}

        return History(
            step=self.step[:n],
            loss=self.loss[:n],
            train_acc=self.train_acc[:n],
            test_acc=self.test_acc[:n],
            percentiles=cut(self.percentiles),
            unit_inputs=cut(self.unit_inputs),
            update_ratio=cut(self.update_ratio),
            saturation=cut(self.saturation),
            grad_std=cut(self.grad_std),
            step_loss=self.step_loss[: int(self.step[n - 1])],
            diverged=self.diverged,
            diverged_at=self.diverged_at,
            seconds=self.seconds,
            config=self.config,
        )


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}.")
    return int(value)


def _all_finite(net: Network) -> bool:
    """Whether every parameter is finite after an update.

    The BN running statistics need no check: they are averages of batch
    statistics that the Batch Norm layer has already found finite.
    """
    return net.params_finite()


def _saturation(activation: str, A: np.ndarray) -> float:
    """Share of saturated outputs (sigmoid, tanh) or of dead units (ReLU).

    A : activations of one layer over the probe, shape (n_l, n_probe).
    """
    if activation == "sigmoid":
        return float(np.mean((A < SATURATION_MARGIN) | (A > 1 - SATURATION_MARGIN)))
    if activation == "tanh":
        return float(np.mean(np.abs(A) > 1 - SATURATION_MARGIN))
    return float(np.mean(np.all(A <= 0, axis=1)))


def train(
    net: Network,
    optimizer: Optimizer,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    batch_size: int = 60,
    steps: int = 1000,
    eval_every: int = 50,
    probe=None,
    probe_unit: int = 0,
    record_diagnostics: bool = False,
    seed: int = 0,
    progress: bool = True,
    callback=None,
    blas_threads: int | None = TRAINING_BLAS_THREADS,
) -> History:
    """Train ``net`` with ``optimizer`` on mini-batches; return a :class:`History`.

    Parameters
    ----------
    net : the network; trained in place (its parameters and BN running
        statistics change).
    optimizer : e.g. ``make_optimizer("momentum", 0.1)``; its state carries
        over if it is used again.
    X_train : shape (n_x, m); y_train : int labels, shape (m,).
    X_test, y_test : optional test set, shapes (n_x, m_test) and (m_test,).
    batch_size : examples per mini-batch (>= 2 with Batch Norm, <= m).
    steps : number of optimizer steps (mini-batches), not epochs.
    eval_every : record every this many steps (and at step 0 and the end).
    probe : examples whose activation inputs are recorded, shape
        (n_x, n_probe); default: the first 500 test examples (training
        examples when there is no test set). With Batch Norm the probe is
        normalized with its own batch statistics, as in a training step,
        without touching the running statistics: early in training the
        running averages still lean on their initial values, so inference
        mode would show the warm-up rather than what the sigmoid sees.
    probe_unit : which unit of each hidden layer to record.
    record_diagnostics : also record update_ratio, saturation and grad_std.
    seed : seed of the mini-batch shuffling.
    progress : show a progress bar (only inside a notebook).
    callback : ``callback(step, history)`` called after each record with the
        records so far.
    blas_threads : BLAS threads while training (default 1, see
        :mod:`bnutils.threads`); None leaves numpy's setting alone.

    Returns
    -------
    History; see its docstring for every array's shape and for how a
    diverging run (NaN or infinite loss) is recorded: training stops, nothing
    is raised.
    """
    if not isinstance(net, Network):
        raise ValueError(f"net must be a bnutils Network; got {type(net).__name__}.")
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            "optimizer must be a bnutils optimizer, e.g. make_optimizer('gd', 0.1); "
            f"got {type(optimizer).__name__}."
        )
    X_train = net.check_X(X_train, "X_train")
    m = X_train.shape[1]
    y_train = net.check_y(y_train, m, "y_train")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither.")
    if X_test is not None:
        X_test = net.check_X(X_test, "X_test")
        y_test = net.check_y(y_test, X_test.shape[1], "y_test")
    batch_size = _check_int(batch_size, "batch_size", 1)
    if net.bn_layers and batch_size < 2:
        raise ValueError(
            "batch_size must be at least 2 with Batch Norm: a batch of one example "
            "has variance 0, and every normalized value is 0."
        )
    if batch_size > m:
        raise ValueError(
            f"batch_size = {batch_size} is larger than the training set (m = {m})."
        )
    steps = _check_int(steps, "steps", 1)
    eval_every = _check_int(eval_every, "eval_every", 1)
    if probe is None:
        source = X_test if X_test is not None else X_train
        probe = source[:, :PROBE_SIZE]
    else:
        probe = net.check_X(probe, "probe")
    if net.bn_layers and probe.shape[1] < 2:
        raise ValueError(
            "the probe needs at least 2 examples with Batch Norm (it is normalized "
            "with its own batch statistics)."
        )
    hidden = list(net.hidden_layers)
    probe_unit = _check_int(probe_unit, "probe_unit", 0)
    if hidden:
        n_min = min(net.layer_sizes[h] for h in hidden)
        if probe_unit >= n_min:
            raise ValueError(
                f"probe_unit must be in [0, {n_min}) (the smallest hidden layer has "
                f"{n_min} units); got {probe_unit}."
            )
    if not isinstance(record_diagnostics, (bool, np.bool_)):
        raise ValueError("record_diagnostics must be True or False.")
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError("progress must be True or False.")
    seed = _check_int(seed, "seed", 0)
    if callback is not None and not callable(callback):
        raise ValueError("callback must be a function callback(step, history) or None.")

    if blas_threads is not None and (
        isinstance(blas_threads, (bool, np.bool_))
        or not isinstance(blas_threads, (int, np.integer))
        or blas_threads < 1
    ):
        raise ValueError(
            f"blas_threads must be a positive integer or None; got {blas_threads!r}."
        )
    with limit_blas_threads(None if blas_threads is None else int(blas_threads)):
        return _train_loop(
            net,
            optimizer,
            X_train,
            y_train,
            X_test,
            y_test,
            batch_size,
            steps,
            eval_every,
            probe,
            probe_unit,
            record_diagnostics,
            seed,
            progress,
            callback,
            m,
        )


def _train_loop(
    net,
    optimizer,
    X_train,
    y_train,
    X_test,
    y_test,
    batch_size,
    steps,
    eval_every,
    probe,
    probe_unit,
    record_diagnostics,
    seed,
    progress,
    callback,
    m,
) -> History:
    """The body of :func:`train`, on validated arguments."""
    hidden = list(net.hidden_layers)
    rec_steps = np.unique(np.r_[0, np.arange(eval_every, steps + 1, eval_every), steps])
    n_rec = rec_steps.shape[0]
    n_probe = probe.shape[1]

    def nans(*shape):
        return np.full(shape, np.nan)

    hist = History(
        step=rec_steps.astype(np.int64),
        loss=nans(n_rec),
        train_acc=nans(n_rec),
        test_acc=nans(n_rec),
        percentiles={h: nans(n_rec, len(PERCENTILES)) for h in hidden},
        unit_inputs={h: nans(n_rec, n_probe) for h in hidden},
        step_loss=nans(steps),
        config={
            "network": repr(net),
            "optimizer": repr(optimizer),
            "batch_size": batch_size,
            "steps": steps,
            "eval_every": eval_every,
            "probe_unit": probe_unit,
            "n_probe": n_probe,
            "train_subset": min(TRAIN_SUBSET, m),
            "seed": seed,
        },
    )
    if record_diagnostics:
        hist.update_ratio = {k: nans(n_rec) for k in net.params}
        hist.grad_std = {k: nans(n_rec) for k in net.params}
        hist.saturation = {h: nans(n_rec) for h in hidden}

    # Contiguous copies: a column slice of X is strided, and numpy would copy it
    # again at every record.
    X_sub = np.ascontiguousarray(X_train[:, :TRAIN_SUBSET])
    y_sub = y_train[:TRAIN_SUBSET]
    probe = np.ascontiguousarray(probe)
    probe_training = bool(net.bn_layers)

    def record(k: int, before: dict | None) -> None:
        try:
            _record(k, before)
        except NonFiniteError:
            # Values overflow inside the net: the whole record is NaN.
            for arr in (hist.train_acc, hist.test_acc):
                arr[k] = np.nan
            for name in _LAYER_KEYED + _PARAM_KEYED:
                for arr in getattr(hist, name).values():
                    arr[k] = np.nan

    def _record(k: int, before: dict | None) -> None:
        hist.train_acc[k] = np.mean(net._predict(X_sub) == y_sub)
        if X_test is not None:
            hist.test_acc[k] = np.mean(net._predict(X_test) == y_test)
        if hidden:
            c = net._forward(probe, probe_training, update_running=False)
            for h in hidden:
                z = c[f"Zt{h}"][probe_unit]
                hist.unit_inputs[h][k] = z
                # From the stored float64 copy, whatever the network's dtype.
                hist.percentiles[h][k] = np.percentile(
                    hist.unit_inputs[h][k], PERCENTILES
                )
                if record_diagnostics:
                    hist.saturation[h][k] = _saturation(net.activation, c[f"A{h}"])
        if record_diagnostics and before is not None:
            for key, p in net.params.items():
                hist.grad_std[key][k] = np.std(net.grads[key])
                sd = np.std(before[key])
                if sd > 0:
                    hist.update_ratio[key][k] = np.std(p - before[key]) / sd

    # Examples as rows, so a mini-batch is a cheap row gather; .T gives (n_x, b).
    XT = np.ascontiguousarray(X_train.T)
    rng = np.random.default_rng(seed)
    order = rng.permutation(m)
    pos = 0
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        try:
            first = order[:batch_size]
            c0 = net._forward(XT[first].T, True, update_running=False)
            hist.loss[0] = net._loss_from_cache(c0, y_train[first])
        except NonFiniteError:
            pass
        if not np.isfinite(hist.loss[0]):
            hist.loss[0] = np.nan
        record(0, None)
    hist.seconds = time.perf_counter() - t0
    if callback is not None:
        callback(0, hist._head(1))

    next_rec = 1
    diverged_at = None
    tick = max(1, steps // 100)
    with Progress(steps, "training", enabled=progress) as bar:
        for s in range(1, steps + 1):
            if pos + batch_size > m:
                order = rng.permutation(m)
                pos = 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            is_rec = next_rec < n_rec and rec_steps[next_rec] == s
            before = None
            if is_rec and record_diagnostics:
                before = {k: p.copy() for k, p in net.params.items()}
            with np.errstate(all="ignore"):
                try:
                    loss, grads = net._loss_and_grads(XT[idx].T, y_train[idx])
                except NonFiniteError:
                    loss = np.nan
                ok = bool(np.isfinite(loss))
                if ok:
                    try:
                        optimizer.step(net.params, grads)
                    except NonFiniteGradientError:
                        ok = False
                    else:
                        ok = _all_finite(net)
            hist.step_loss[s - 1] = loss if np.isfinite(loss) else np.nan
            if not ok:
                diverged_at = s
                break
            if is_rec:
                with np.errstate(all="ignore"):
                    record(next_rec, before)
                prev = int(rec_steps[next_rec - 1])
                hist.loss[next_rec] = np.mean(hist.step_loss[prev:s])
                hist.seconds = time.perf_counter() - t0
                if callback is not None:
                    callback(s, hist._head(next_rec + 1))
                next_rec += 1
            if s % tick == 0:
                bar.update(s)
        bar.update(steps if diverged_at is None else diverged_at)

    hist.seconds = time.perf_counter() - t0
    if diverged_at is not None:
        n = next_rec + 1  # records done, plus one all-NaN record at diverged_at
        hist.step = hist.step[:n].copy()
        hist.step[-1] = diverged_at
        for name in ("loss", "train_acc", "test_acc"):
            setattr(hist, name, getattr(hist, name)[:n])
        for name in _LAYER_KEYED + _PARAM_KEYED:
            setattr(hist, name, {k: v[:n] for k, v in getattr(hist, name).items()})
        hist.step_loss = hist.step_loss[:diverged_at]
        hist.diverged = True
        hist.diverged_at = diverged_at
        if callback is not None:
            callback(diverged_at, hist)
    return hist
