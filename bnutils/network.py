"""A tiny fully connected network, with or without Batch Norm, in the course's notation.

Layer ``l = 1 .. L`` computes (arrays are (units, examples) = ``(n_l, m)``)::

    Z[l]  = W[l] @ A[l-1] (+ b[l])        W[l]: (n_l, n_{l-1}), b[l]: (n_l, 1)
    Zt[l] = BN(Z[l]; gamma[l], beta[l])   hidden layers with Batch Norm
    Zt[l] = Z[l]                          hidden layers without it
    A[l]  = g(Zt[l])                      g = sigmoid, tanh or relu
    A[L]  = softmax(Z[L])                 the output layer never has Batch Norm

with ``A[0] = X`` of shape ``(n_x, m)``. The loss is the mean cross-entropy over
the batch, computed from a log-softmax (log-sum-exp), so it never overflows.

Bias. By default (``use_bias=None``) a layer has ``b[l]`` only when no Batch Norm
follows it: BN subtracts the batch mean, so a bias before it has no effect and
its gradient is zero (Ioffe & Szegedy 2015, section 3.2; the course drops it and
lets BN's ``beta`` play its role). ``use_bias=True`` keeps ``b[l]`` everywhere,
so the zero gradient can be shown; ``use_bias=False`` drops it everywhere,
including the output layer.

Parameters live in one dict, :attr:`Network.params`, with keys ``"W1", "b1",
"gamma1", "beta1", "W2", ...``. The Batch Norm layers in :attr:`Network.bn_layers`
read their ``gamma`` and ``beta`` from that same dict (they hold no copy), so an
optimizer that updates ``net.params`` updates the BN layers too, and replacing
``net.params["gamma1"]`` or ``net.bn_layers[1].gamma`` changes both views.

Modes. ``training=True`` normalizes with the mini-batch statistics and, in
:meth:`Network.forward` only, updates the running statistics (unless
``update_running=False``). ``training=False`` uses the running statistics and
changes nothing. :meth:`Network.loss`, :meth:`Network.predict`,
:meth:`Network.accuracy` and :meth:`Network.inspect` never change any state.
"""

from __future__ import annotations

import numpy as np

from bnutils.layers import (
    BatchNorm,
    _backward_core,
    _check_ema_beta,
    _check_eps,
    _einsum,
    _forward_core,
    _is_real_number,
    batchnorm_inference,
    validate_param,
)

__all__ = ["ACTIVATIONS", "Network", "NonFiniteError"]

#: The hidden-layer activations the network knows.
ACTIVATIONS = ("sigmoid", "tanh", "relu")


class NonFiniteError(ValueError):
    """Raised when NaN or infinite values reach a Batch Norm layer (for example
    after a diverging update). :func:`bnutils.train.train` catches it and marks
    the run as diverged."""


def _sigmoid(Z: np.ndarray) -> np.ndarray:
    """Logistic function, as ``(1 + tanh(Z / 2)) / 2``: the same function, never
    overflows, and one vectorized tanh is several times faster than exp plus a
    select. (Outputs below about 1e-16 come out as 0, which changes nothing the
    series computes.)"""
    out = np.multiply(Z, 0.5)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def _relu(Z: np.ndarray) -> np.ndarray:
    return np.maximum(Z, 0)


def _activate(name: str, Zt: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return _sigmoid(Zt)
    if name == "tanh":
        return np.tanh(Zt)
    return _relu(Zt)


def _activation_grad(name: str, Zt: np.ndarray, A: np.ndarray) -> np.ndarray:
    """g'(Zt), from the cached output A where that is cheaper. Shape of Zt."""
    if name == "sigmoid":
        g = np.subtract(1.0, A)
        g *= A
        return g
    if name == "tanh":
        g = np.multiply(A, A)
        np.subtract(1.0, g, out=g)
        return g
    return (Zt > 0).astype(Zt.dtype)


def _log_softmax(Z: np.ndarray) -> np.ndarray:
    """log softmax over the units axis (axis 0) via log-sum-exp, shape of Z."""
    shifted = Z - Z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


class _LinkedBatchNorm(BatchNorm):
    """A :class:`~bnutils.layers.BatchNorm` whose ``gamma`` and ``beta`` are the
    arrays ``params["gamma<l>"]`` and ``params["beta<l>"]`` of its network.

    Reading ``bn.gamma`` returns the array stored in the dict; assigning
    ``bn.gamma = x`` stores ``x`` in the dict. There is one storage, so the two
    views cannot drift apart.
    """

    def __init__(self, params: dict, layer: int, n_units: int, ema_beta, eps, dtype):
        self._params = params
        self._gamma_key = f"gamma{layer}"
        self._beta_key = f"beta{layer}"
        self._dtype = np.dtype(dtype)
        self.layer = layer
        # BatchNorm.__init__ assigns gamma = 1 and beta = 0, which go to params.
        super().__init__(n_units, ema_beta=ema_beta, eps=eps)
        self.running_mean = self.running_mean
        self.running_var = self.running_var
        self.dgamma = self.dgamma.astype(self._dtype)
        self.dbeta = self.dbeta.astype(self._dtype)

    def _stat_dtype(self):
        return self._dtype

    def _store(self, key: str, name: str, value) -> None:
        value = validate_param(value, name, self.n_units)
        self._params[key] = np.asarray(value, dtype=self._dtype)

    @property
    def gamma(self) -> np.ndarray:
        """Scale, shape (n_units, 1): the array ``net.params["gamma<l>"]``."""
        return self._params[self._gamma_key]

    @gamma.setter
    def gamma(self, value) -> None:
        self._store(self._gamma_key, "gamma", value)

    @property
    def beta(self) -> np.ndarray:
        """Shift, shape (n_units, 1): the array ``net.params["beta<l>"]``."""
        return self._params[self._beta_key]

    @beta.setter
    def beta(self, value) -> None:
        self._store(self._beta_key, "beta", value)

    def __repr__(self) -> str:
        return (
            f"BatchNorm(n_units={self.n_units}, ema_beta={self.ema_beta}, "
            f"eps={self.eps}; layer {self.layer} of a Network)"
        )

    def forward_train(self, Z: np.ndarray, update_running: bool):
        """Training-mode forward returning ``(Z_tilde, cache)``, for the network.

        ``update_running=True`` is :meth:`BatchNorm.forward` with
        ``training=True`` (running statistics updated); ``False`` uses the same
        mini-batch maths and leaves every attribute untouched. ``Z`` comes from
        the network (a finite float array of the right shape), so only what can
        go wrong inside a network is checked: parameters replaced by arrays of
        another shape, and NaN or infinity (raised as :class:`NonFiniteError`).
        """
        gamma, beta = self.gamma, self.beta
        shape = (self.n_units, 1)
        if gamma.shape != shape or beta.shape != shape:
            validate_param(gamma, "gamma", self.n_units)
            validate_param(beta, "beta", self.n_units)
        # gamma and beta are finite: the network's public methods check every
        # parameter on entry, and train() after every update.
        out = _forward_core(Z, gamma, beta, self.eps)
        if out is None:
            raise NonFiniteError(
                f"NaN or infinite values reached the Batch Norm layer of layer "
                f"{self.layer} (in Z, gamma or beta, or Z so large that its variance "
                "overflows). The parameters have probably diverged: try a smaller "
                "learning rate."
            )
        Zt, cache = out
        if update_running:
            self._update_running(cache)
            self._cache = cache
        return Zt, cache


class Network:
    """Fully connected network with optional Batch Norm on every hidden layer.

    Parameters
    ----------
    layer_sizes : ``[n_x, n_1, ..., n_{L-1}, n_out]``, e.g. ``[784, 100, 100,
        100, 10]``; at least an input and an output size, ``n_out >= 2``.
    activation : ``"sigmoid"``, ``"tanh"`` or ``"relu"`` for the hidden layers.
    batchnorm : Batch Norm on every hidden layer (never on the output layer).
    weight_scale : standard deviation ``s`` of the initial weights
        ``W[l] ~ N(0, s^2)`` (a positive float), or ``"he"``
        (``s = sqrt(2 / n_{l-1})``) or ``"xavier"`` (``s = sqrt(1 / n_{l-1})``,
        the course's version). Biases start at 0, gamma at 1, beta at 0.
    use_bias : ``None``: b[l] only on layers not followed by Batch Norm;
        ``True``: on every layer; ``False``: on no layer.
    ema_beta, eps : passed to each :class:`~bnutils.layers.BatchNorm`.
    seed : seed of ``np.random.default_rng`` for the weights. The weights are
        drawn in the same order whatever ``batchnorm`` is, so a plain and a BN
        network with the same seed and sizes start from the same W.
    dtype : ``np.float64`` (default) or ``np.float32``; parameters and
        computations use it.

    Attributes
    ----------
    params : dict ``"W1", "b1", "gamma1", "beta1", ...`` -> arrays of shapes
        ``(n_l, n_{l-1})`` for W and ``(n_l, 1)`` for b, gamma, beta.
    grads : dict with the same keys after :meth:`backward` (empty before).
    bn_layers : dict ``l -> BatchNorm`` for the hidden layers with Batch Norm.
    cache : what the last :meth:`forward` kept: ``"A0"`` (the input) and, per
        layer, ``"Z<l>"`` (pre-BN), ``"Zt<l>"`` (input of the activation),
        ``"A<l>"`` (output; ``A<L>`` are the softmax probabilities).
    """

    def __init__(
        self,
        layer_sizes,
        activation: str = "sigmoid",
        batchnorm: bool = False,
        weight_scale: float | str = 0.05,
        use_bias: bool | None = None,
        ema_beta: float = 0.9,
        eps: float = 1e-5,
        seed: int = 0,
        dtype=np.float64,
    ):
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}; got {activation!r}."
            )
        if not isinstance(batchnorm, (bool, np.bool_)):
            raise ValueError(f"batchnorm must be True or False; got {batchnorm!r}.")
        if use_bias is not None and not isinstance(use_bias, (bool, np.bool_)):
            raise ValueError(
                f"use_bias must be None (bias only where no Batch Norm follows), "
                f"True or False; got {use_bias!r}."
            )
        if isinstance(seed, (bool, np.bool_)) or not isinstance(
            seed, (int, np.integer)
        ):
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
        if seed < 0:
            raise ValueError(
                f"seed must be a non-negative integer (it seeds "
                f"np.random.default_rng); got {seed}."
            )
        # Validated even without Batch Norm, so a typo never waits for the day
        # batchnorm=True is switched on.
        ema_beta = _check_ema_beta(ema_beta)
        eps = _check_eps(eps)
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise ValueError(f"dtype must be np.float64 or np.float32; {exc}") from None
        if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be np.float64 or np.float32; got {dt}.")
        self.activation = activation
        self.batchnorm = bool(batchnorm)
        self.weight_scale = _check_weight_scale(weight_scale)
        self.use_bias = None if use_bias is None else bool(use_bias)
        self.ema_beta = ema_beta
        self.eps = eps
        self.seed = int(seed)
        self.dtype = dt
        self.L = len(self.layer_sizes) - 1

        rng = np.random.default_rng(self.seed)
        self._params: dict[str, np.ndarray] = {}
        self._has_bias: dict[int, bool] = {}
        self.bn_layers: dict[int, BatchNorm] = {}
        for layer in range(1, self.L + 1):
            n_in, n_out = self.layer_sizes[layer - 1], self.layer_sizes[layer]
            std = self._init_std(n_in)
            W = rng.standard_normal((n_out, n_in)) * std
            self._params[f"W{layer}"] = W.astype(dt)
            has_bn = self.batchnorm and layer < self.L
            has_b = (not has_bn) if self.use_bias is None else self.use_bias
            self._has_bias[layer] = has_b
            if has_b:
                self._params[f"b{layer}"] = np.zeros((n_out, 1), dtype=dt)
            if has_bn:
                # Creates params["gamma<l>"] = 1 and params["beta<l>"] = 0.
                self.bn_layers[layer] = _LinkedBatchNorm(
                    self._params, layer, n_out, ema_beta, eps, dt
                )
        self.grads: dict[str, np.ndarray] = {}
        self.cache: dict = {}

    # ------------------------------------------------------------------ info
    @property
    def params(self) -> dict:
        """The parameters by name (read-only attribute; the dict is mutable)."""
        return self._params

    @property
    def n_params(self) -> int:
        """Number of learnable numbers (W, b, gamma, beta; not running stats)."""
        return int(sum(p.size for p in self._params.values()))

    @property
    def hidden_layers(self) -> range:
        """Indices ``1 .. L-1`` of the hidden layers."""
        return range(1, self.L)

    def has_bias(self, layer: int) -> bool:
        """Whether layer ``layer`` (1 .. L) has a bias b[l]."""
        return self._has_bias[layer]

    def __repr__(self) -> str:
        return (
            f"Network(layer_sizes={list(self.layer_sizes)}, "
            f"activation={self.activation!r}, batchnorm={self.batchnorm}, "
            f"n_params={self.n_params}, dtype={self.dtype.name})"
        )

    def _init_std(self, n_in: int) -> float:
        if self.weight_scale == "he":
            return float(np.sqrt(2.0 / n_in))
        if self.weight_scale == "xavier":
            return float(np.sqrt(1.0 / n_in))
        return float(self.weight_scale)

    def copy(self) -> Network:
        """An independent deep copy: parameters, running statistics and counts
        of running-statistic updates (not the cache or gradients)."""
        new = Network(
            self.layer_sizes,
            activation=self.activation,
            batchnorm=self.batchnorm,
            weight_scale=self.weight_scale,
            use_bias=self.use_bias,
            ema_beta=self.ema_beta,
            eps=self.eps,
            seed=self.seed,
            dtype=self.dtype,
        )
        for key, value in self._params.items():
            new._params[key] = np.array(value, dtype=self.dtype, copy=True)
        for layer, bn in self.bn_layers.items():
            nb = new.bn_layers[layer]
            nb.running_mean = np.array(bn.running_mean, dtype=self.dtype, copy=True)
            nb.running_var = np.array(bn.running_var, dtype=self.dtype, copy=True)
            nb.n_updates = bn.n_updates
        return new

    # ------------------------------------------------------------ validation
    def params_finite(self) -> bool:
        """Whether every parameter is finite (one cheap pass per array)."""
        total = 0.0
        for p in self._params.values():
            total += _einsum("i->", p.reshape(-1))
        return bool(np.isfinite(total)) or all(
            np.all(np.isfinite(p)) for p in self._params.values()
        )

    def check_params(self) -> None:
        """Raise :class:`NonFiniteError` naming the first parameter that holds
        NaN or infinity (e.g. assigned by hand, or left by a diverged run)."""
        if self.params_finite():
            return
        for key, p in self._params.items():
            if not np.all(np.isfinite(p)):
                raise NonFiniteError(
                    f"params[{key!r}] contains NaN or infinite values: the network "
                    "cannot compute anything meaningful. A diverged run leaves such "
                    "parameters; train again with a smaller learning rate."
                )

    def check_X(self, X, name: str = "X") -> np.ndarray:
        """Validate inputs of shape (n_x, m); return them in the network's dtype.

        Every public method calls it first; it also checks that the network's
        parameters are finite (:meth:`check_params`).
        """
        self.check_params()
        X = np.asarray(X)
        n_x = self.layer_sizes[0]
        if X.ndim != 2:
            hint = (
                f" For one example use {name}.reshape(-1, 1)."
                if X.ndim == 1 and X.size == n_x
                else ""
            )
            raise ValueError(
                f"{name} must be 2-D with shape (n_x, m) = ({n_x}, m), features by "
                f"examples; got shape {X.shape}.{hint}"
            )
        if X.shape[0] != n_x:
            if X.shape[1] == n_x:
                raise ValueError(
                    f"{name} has shape {X.shape} = (m, n_x): it looks transposed. The "
                    f"network expects (n_x, m) = ({n_x}, m), one column per example "
                    f"as in the course; pass {name}.T."
                )
            raise ValueError(
                f"{name} has {X.shape[0]} rows but the input layer has n_x = {n_x} "
                f"units; {name} must have shape ({n_x}, m)."
            )
        if X.shape[1] == 0:
            raise ValueError(f"{name} has no examples (shape {X.shape}).")
        if X.dtype == np.bool_ or not (
            np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)
        ):
            raise ValueError(f"{name} must hold real numbers; got dtype {X.dtype}.")
        X = X.astype(self.dtype, copy=False)
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        return X

    def check_y(self, y, m: int, name: str = "y") -> np.ndarray:
        """Validate integer labels of shape (m,) in ``[0, n_out)``; return them as
        an int64 array. A row of shape (1, m) is accepted and flattened."""
        y = np.asarray(y)
        n_out = self.layer_sizes[-1]
        if y.ndim == 2 and y.shape[0] == 1:
            y = y[0]
        if y.ndim == 2 and y.shape == (n_out, m):
            raise ValueError(
                f"{name} has shape {y.shape}: it looks one-hot. Pass the integer "
                f"labels instead, {name}.argmax(axis=0), shape ({m},)."
            )
        if y.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D array of integer labels of shape (m,) = "
                f"({m},); got shape {y.shape}."
            )
        if y.shape[0] != m:
            raise ValueError(
                f"{name} has {y.shape[0]} labels but X has m = {m} examples (columns)."
                " Did you pass the transposed X or labels of another set?"
            )
        if not np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
            raise ValueError(
                f"{name} must hold integer class labels; got dtype {y.dtype}. "
                f"Convert with {name}.astype(int) if the values are whole numbers."
            )
        if y.size and (y.min() < 0 or y.max() >= n_out):
            raise ValueError(
                f"{name} must hold labels in [0, {n_out}) for {n_out} output units; "
                f"got values from {y.min()} to {y.max()}."
            )
        return y.astype(np.int64, copy=False)

    # --------------------------------------------------------------- forward
    def _forward(self, X: np.ndarray, training: bool, update_running: bool) -> dict:
        """Forward pass on validated X; returns the cache dict (no state stored
        except BN running statistics when ``training and update_running``)."""
        p = self._params
        if training and self.bn_layers and X.shape[1] < 2:
            raise ValueError(
                f"X has shape {X.shape}: a mini-batch of {X.shape[1]} example in "
                "training mode. With one example each Batch Norm layer's batch "
                "variance is 0 and it outputs beta whatever the input. Use a "
                "mini-batch of at least 2 examples (in practice 32 or more), or "
                "training=False to use the running statistics."
            )
        cache: dict = {"A0": X, "training": training, "bn": {}}
        A = X
        for layer in range(1, self.L + 1):
            Z = p[f"W{layer}"] @ A
            if self._has_bias[layer]:
                Z += p[f"b{layer}"]
            cache[f"Z{layer}"] = Z
            if layer == self.L:
                break
            bn = self.bn_layers.get(layer)
            if bn is None:
                Zt = Z
            elif training:
                try:
                    Zt, bn_cache = bn.forward_train(Z, update_running)
                except ValueError as exc:
                    _raise_if_nonfinite(exc, layer, Z, bn)
                    raise
                cache["bn"][layer] = bn_cache
            else:
                try:
                    Zt = batchnorm_inference(
                        Z, bn.gamma, bn.beta, bn.running_mean, bn.running_var, bn.eps
                    )
                except ValueError as exc:
                    _raise_if_nonfinite(exc, layer, Z, bn)
                    raise
                # References, not copies: BatchNorm rebinds (never mutates) its
                # running statistics, so these stay those of this pass.
                cache["bn"][layer] = (bn.running_mean, bn.running_var, bn.gamma)
            A = _activate(self.activation, Zt)
            cache[f"Zt{layer}"] = Zt
            cache[f"A{layer}"] = A
        logp = _log_softmax(Z)
        cache[f"Zt{self.L}"] = Z
        cache["logp"] = logp
        cache[f"A{self.L}"] = np.exp(logp)
        return cache

    def forward(self, X, training: bool = True, *, update_running: bool = True):
        """Forward pass; keeps the per-layer values in :attr:`cache`.

        Parameters
        ----------
        X : inputs, shape (n_x, m).
        training : True: Batch Norm uses the mini-batch statistics (needs
            m >= 2) and updates the running statistics; False: it uses the
            running statistics and updates nothing.
        update_running : with ``training=True``, False uses the mini-batch
            statistics without touching the running statistics (for probes
            and finite differences).

        Returns
        -------
        probs : softmax probabilities, shape (n_out, m); each column sums to 1.
        """
        training = _check_bool(training, "training")
        update_running = _check_bool(update_running, "update_running")
        X = self.check_X(X)
        self.cache = self._forward(X, training, update_running)
        return self.cache[f"A{self.L}"]

    def inspect(self, X, training: bool = False) -> dict:
        """Per-layer values of a forward pass, with no side effect at all.

        ``training=True`` normalizes with the statistics of the batch ``X``
        (what the layers see while training) but never updates the running
        statistics; ``training=False`` uses the running statistics.

        Returns a dict with ``"A0"`` = X (n_x, m) and, for ``l = 1 .. L``,
        ``"Z<l>"`` (pre-BN), ``"Zt<l>"`` (input of the activation) and ``"A<l>"``
        (output; ``A<L>`` = softmax probabilities), each of shape (n_l, m).
        """
        training = _check_bool(training, "training")
        X = self.check_X(X)
        cache = self._forward(X, training, update_running=False)
        keys = ["A0"] + [
            f"{v}{layer}" for layer in range(1, self.L + 1) for v in ("Z", "Zt", "A")
        ]
        return {k: cache[k] for k in keys}

    # -------------------------------------------------------------- backward
    def _backward(self, y: np.ndarray) -> dict:
        cache = self.cache
        p = self._params
        m = y.shape[0]
        grads: dict[str, np.ndarray] = {}
        dZ = cache[f"A{self.L}"].copy()
        dZ[y, np.arange(m)] -= 1
        dZ /= m
        for layer in range(self.L, 0, -1):
            A_prev = cache[f"A{layer - 1}"]
            grads[f"W{layer}"] = dZ @ A_prev.T
            if self._has_bias[layer]:
                grads[f"b{layer}"] = dZ.sum(axis=1, keepdims=True)
            if layer == 1:
                break
            h = layer - 1
            dZt = p[f"W{layer}"].T @ dZ
            dZt *= _activation_grad(self.activation, cache[f"Zt{h}"], cache[f"A{h}"])
            bn = self.bn_layers.get(h)
            if bn is None:
                dZ = dZt
                continue
            bn_cache = cache["bn"][h]
            if cache["training"]:
                out = _backward_core(dZt, bn_cache)
                if out is None:
                    raise NonFiniteError(
                        f"NaN or infinite gradients reached the Batch Norm layer of "
                        f"layer {h} in the backward pass: the loss has probably "
                        "diverged; try a smaller learning rate."
                    )
                dZ, dgamma, dbeta = out
            else:
                # Frozen BN (running statistics): an affine map of Z.
                r_mean, r_var, gamma = bn_cache
                inv_std = 1.0 / np.sqrt(r_var + bn.eps)
                Z_norm = (cache[f"Z{h}"] - r_mean) * inv_std
                dgamma = np.sum(dZt * Z_norm, axis=1, keepdims=True)
                dbeta = dZt.sum(axis=1, keepdims=True)
                dZ = dZt * (gamma * inv_std)
            bn.dgamma, bn.dbeta = dgamma, dbeta
            grads[f"gamma{h}"] = dgamma
            grads[f"beta{h}"] = dbeta
        self.grads = {k: grads[k] for k in p}
        return self.grads

    def backward(self, y) -> dict:
        """Gradients of the mean cross-entropy of the last :meth:`forward`.

        Parameters
        ----------
        y : integer labels, shape (m,), values in ``[0, n_out)``.

        Returns
        -------
        grads : dict with the keys of :attr:`params` and the same shapes (also
            stored in :attr:`grads`; BN layers get ``dgamma`` and ``dbeta``).
            After a ``training=False`` forward the gradient is that of the
            network with frozen (running) Batch Norm statistics.
        """
        if f"A{self.L}" not in self.cache:
            raise ValueError("backward(y) needs a preceding forward(X).")
        m = self.cache["A0"].shape[1]
        y = self.check_y(y, m)
        return self._backward(y)

    def _loss_from_cache(self, cache: dict, y: np.ndarray) -> float:
        logp = cache["logp"]
        m = y.shape[0]
        return float(-np.add.reduce(logp[y, np.arange(m)])) / m

    def _loss_and_grads(self, X: np.ndarray, y: np.ndarray):
        """loss_and_grads in training mode on validated inputs (training loop)."""
        self.cache = self._forward(X, True, True)
        return self._loss_from_cache(self.cache, y), self._backward(y)

    def loss_and_grads(self, X, y, training: bool = True):
        """Forward and backward on one batch.

        Parameters
        ----------
        X : shape (n_x, m). y : int labels, shape (m,).
        training : as in :meth:`forward` (True updates BN running statistics).

        Returns
        -------
        (loss, grads) : mean cross-entropy (float) and the gradient dict.
        """
        training = _check_bool(training, "training")
        X = self.check_X(X)
        y = self.check_y(y, X.shape[1])
        self.cache = self._forward(X, training, True)
        return self._loss_from_cache(self.cache, y), self._backward(y)

    # ------------------------------------------------------------ evaluation
    def loss(self, X, y, training: bool = False) -> float:
        """Mean cross-entropy on (X, y) without changing any state.

        ``training=True`` uses the batch statistics of X (the loss the training
        step sees) but does not update the running statistics.
        X : shape (n_x, m); y : int labels, shape (m,).
        """
        training = _check_bool(training, "training")
        X = self.check_X(X)
        y = self.check_y(y, X.shape[1])
        return self._loss_from_cache(self._forward(X, training, False), y)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X, False, False)["logp"].argmax(axis=0)

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (m,), in inference mode. X : shape (n_x, m)."""
        return self._predict(self.check_X(X))

    def accuracy(self, X, y) -> float:
        """Share of correct predictions in inference mode, in [0, 1].
        X : shape (n_x, m); y : int labels, shape (m,)."""
        X = self.check_X(X)
        y = self.check_y(y, X.shape[1])
        return float(np.mean(self._predict(X) == y))


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def _check_layer_sizes(layer_sizes) -> tuple:
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise ValueError(
            f"layer_sizes must be a list like [784, 100, 10]; got {layer_sizes!r}."
        ) from None
    if len(sizes) < 2:
        raise ValueError(
            "layer_sizes needs at least an input and an output size, e.g. [784, 10]; "
            f"got {sizes}."
        )
    for s in sizes:
        ok = _is_real_number(s) and np.isfinite(s) and int(s) == s and s >= 1
        if not ok:
            raise ValueError(
                f"layer_sizes must hold positive integers (units per layer, input "
                f"first); got {sizes}, where {s!r} is not one."
            )
    if sizes[-1] < 2:
        raise ValueError(
            f"the output layer needs at least 2 units (classes) for softmax; got "
            f"{sizes[-1]}."
        )
    return tuple(int(s) for s in sizes)


def _check_weight_scale(weight_scale):
    if isinstance(weight_scale, str):
        if weight_scale in ("he", "xavier"):
            return weight_scale
        raise ValueError(
            f'weight_scale must be a positive number, "he" or "xavier"; got '
            f"{weight_scale!r}."
        )
    try:
        if not _is_real_number(weight_scale):
            raise TypeError
        s = float(weight_scale)
    except (TypeError, ValueError):
        raise ValueError(
            f'weight_scale must be a positive number, "he" or "xavier"; got '
            f"{weight_scale!r}."
        ) from None
    if not (np.isfinite(s) and s > 0):
        raise ValueError(
            f"weight_scale is the standard deviation of the initial weights and must "
            f"be a positive number; got {weight_scale!r}."
        )
    return s


def _raise_if_nonfinite(exc: ValueError, layer: int, Z: np.ndarray, bn) -> None:
    """Turn a Batch Norm ValueError caused by NaN/inf into NonFiniteError."""
    arrays = (Z, bn.gamma, bn.beta, bn.running_mean, bn.running_var)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise NonFiniteError(
            f"NaN or infinite values reached the Batch Norm layer of layer {layer} "
            "(in Z, gamma, beta or the running statistics). The parameters have "
            "probably diverged: try a smaller learning rate."
        ) from exc
