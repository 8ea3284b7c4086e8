"""The public API refuses what it cannot compute, or computes it correctly.

Every case of the "Public API" section of the checkers-and-API issue: float16
inputs, huge finite values, booleans and strings for numeric hyperparameters,
hyperparameters validated even where unused, running statistics assigned from
outside, complex / masked / string arrays in the backward pass and the
optimizers, NaN gradients. Each bad input must raise a ValueError whose message
names the argument; never a silent wrong answer, never an error from deep inside
numpy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bnutils import (
    GD,
    Adam,
    BatchNorm,
    Momentum,
    Network,
    RMSprop,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)
from bnutils.checks import rel_error

RNG = np.random.default_rng(9)
Z = RNG.normal(size=(4, 8))
G = np.ones((4, 1))
B = np.zeros((4, 1))


def _reference_forward(Z, gamma, beta, eps=1e-5):
    """Float64 textbook Batch Norm, independent of bnutils."""
    Z = np.asarray(Z, dtype=np.float64)
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


# -- float16 -----------------------------------------------------------------


def test_float16_statistics_do_not_overflow():
    # |Z - mu| > 256 squares past float16's largest number (65504).
    Z16 = (Z * 300).astype(np.float16)
    out, cache = batchnorm_forward(Z16, G, B)
    assert cache.var.dtype == np.float32  # statistics in float32
    assert np.all(np.isfinite(cache.var))
    ref = _reference_forward(Z16.astype(np.float64), G, B)
    assert rel_error(out, ref) < 1e-5
    # Every unit is normalized: variance about 1, not 0.
    assert np.allclose(out.var(axis=1), 1.0, atol=1e-3)


def test_float16_layer_keeps_finite_running_statistics():
    layer = BatchNorm(4)
    layer.forward((Z * 300).astype(np.float16))
    assert np.all(np.isfinite(layer.running_var))
    m = Z.shape[1]
    Z64 = (Z * 300).astype(np.float16).astype(np.float64)
    want = 0.9 + 0.1 * Z64.var(axis=1, keepdims=True) * m / (m - 1)
    assert rel_error(layer.running_var, want) < 1e-5


# -- huge finite values ------------------------------------------------------


@pytest.mark.parametrize("scale", [1e155, 1e300])
def test_huge_finite_values_raise_a_clear_error_not_beta(scale):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        with pytest.raises(ValueError, match=r"overflows.*divide it by a constant"):
            batchnorm_forward(Z * scale, G, B)
        with pytest.raises(ValueError, match="overflows"):
            BatchNorm(4).forward(Z * scale)


def test_large_but_representable_values_are_computed_correctly():
    # Variance 1e300: still a float64, so Batch Norm computes it (and, eps being
    # negligible at that scale, it equals Z normalized with eps = 0).
    out_big, _ = batchnorm_forward(Z * 1e150, G, B)
    assert rel_error(out_big, _reference_forward(Z * 1e150, G, B)) < 1e-12
    assert rel_error(out_big, _reference_forward(Z, G, B, eps=0.0)) < 1e-12


def test_float32_overflow_is_refused_too():
    Z32 = (Z * 1e20).astype(np.float32)  # variance 1e40 > float32 max
    with pytest.raises(ValueError, match="overflows float32"):
        batchnorm_forward(Z32, G.astype(np.float32), B.astype(np.float32))


# -- types of hyperparameters ------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: batchnorm_forward(Z, G, B, eps=True), "eps must be"),
        (lambda: batchnorm_forward(Z, G, B, eps="1e-5"), "eps must be"),
        (lambda: batchnorm_inference(Z, G, B, B, G, eps=True), "eps must be"),
        (lambda: BatchNorm(4, eps=True), "eps must be"),
        (lambda: BatchNorm(4, ema_beta=False), "ema_beta must be a number"),
        (lambda: BatchNorm(4, ema_beta="0.9"), "ema_beta must be a number"),
        (lambda: GD(True), "lr must be a positive number"),
        (lambda: GD("0.1"), "lr must be a positive number"),
        (lambda: Momentum(0.1, momentum_beta=True), "momentum_beta must be a number"),
        (lambda: RMSprop(0.1, rms_beta="0.9"), "rms_beta must be a number"),
        (lambda: Adam(0.1, beta2=False), "beta2 must be a number"),
        (lambda: Adam(0.1, eps=True), "eps must be a positive number"),
        (lambda: Network([2, 3, 2], weight_scale=True), "weight_scale must be"),
        (lambda: Network([2, 3, 2], ema_beta=1.5), "ema_beta must be in"),
        (lambda: Network([2, 3, 2], eps=-1), "eps must be a small positive"),
        (lambda: Network([2, 3, 2], batchnorm=False, eps=True), "eps must be"),
        (lambda: Network([2, None, 2]), r"layer_sizes .*None is not one"),
        (lambda: Network([2, np.inf, 2]), r"layer_sizes .*inf is not one"),
        (lambda: Network([2, "3", 2]), r"layer_sizes .*'3' is not one"),
        (lambda: Network([2, 3, 2], seed=-1), "seed must be a non-negative integer"),
        (lambda: Network([2, 3, 2], seed=True), "seed must be a non-negative"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unused_hyperparameters_are_still_validated():
    # batchnorm=False: ema_beta and eps are unused, but a typo must not wait
    # for the day Batch Norm is switched on.
    with pytest.raises(ValueError, match="ema_beta"):
        Network([2, 3, 2], batchnorm=False, ema_beta=1.5)
    with pytest.raises(ValueError, match="eps"):
        Network([2, 3, 2], batchnorm=False, eps=-1)


def test_a_good_lr_setter_still_accepts_numpy_numbers():
    opt = GD(np.float32(0.1))
    opt.lr = np.int64(1)
    assert opt.lr == 1.0


# -- running statistics assigned from outside ---------------------------------


@pytest.mark.parametrize("name", ["running_mean", "running_var"])
@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros(4), r"\(4, 1\)"),
        (np.zeros((1, 4)), r"reshape\(4, 1\)"),
        (np.full((4, 1), np.nan), "NaN"),
        (np.array([["a"]] * 4), "real numbers"),
    ],
)
def test_running_statistics_are_validated_on_assignment(name, value, match):
    layer = BatchNorm(4)
    with pytest.raises(ValueError, match=f"{name}.*{match}|{match}"):
        setattr(layer, name, value)
    # Nothing changed, and a forward pass keeps the (n_units, 1) shape.
    layer.forward(Z)
    assert layer.running_mean.shape == layer.running_var.shape == (4, 1)


def test_negative_running_variance_is_refused():
    with pytest.raises(ValueError, match="non-negative"):
        BatchNorm(4).running_var = -np.ones((4, 1))


def test_assigned_running_statistics_are_copied_and_used():
    layer = BatchNorm(4)
    mean = np.arange(4.0).reshape(4, 1)
    layer.running_mean = mean
    mean[:] = 99.0  # the layer kept its own copy
    out = layer.forward(Z, training=False)
    want = (Z - np.arange(4.0).reshape(4, 1)) / np.sqrt(1 + 1e-5)
    assert rel_error(out, want) < 1e-12


def test_network_running_statistics_keep_the_network_dtype():
    net = Network([3, 4, 2], batchnorm=True, dtype=np.float32)
    bn = net.bn_layers[1]
    bn.running_var = np.full((4, 1), 2.0)  # float64 in, float32 kept
    assert bn.running_var.dtype == np.float32
    with pytest.raises(ValueError, match=r"\(4, 1\)"):
        bn.running_mean = np.zeros(4)


# -- backward pass and optimizers: arrays of the wrong kind ------------------


def _cache():
    return batchnorm_forward(Z, G, B)[1]


@pytest.mark.parametrize(
    ("dZ_tilde", "match"),
    [
        (Z + 1j * Z, "complex"),
        (np.ma.masked_array(Z, mask=Z > 1), "masked array"),
        (Z.astype(str), "strings"),
        (Z > 0, "booleans"),
        (np.where(Z > 1, np.inf, Z), "NaN or infinite"),
    ],
)
def test_backward_refuses_arrays_it_cannot_use(dZ_tilde, match):
    with pytest.raises(ValueError, match=match):
        batchnorm_backward(dZ_tilde, _cache())


@pytest.mark.parametrize(
    ("Zbad", "match"),
    [
        (Z + 1j * Z, "complex"),
        (np.ma.masked_array(Z, mask=Z > 1), "masked array"),
        (Z.astype(str), "strings"),
    ],
)
def test_forward_and_inference_refuse_arrays_they_cannot_use(Zbad, match):
    with pytest.raises(ValueError, match=match):
        batchnorm_forward(Zbad, G, B)
    with pytest.raises(ValueError, match=match):
        batchnorm_inference(Zbad, G, B, B, G)


def _params():
    return {"W": np.ones((2, 3)), "b": np.zeros((2, 1))}


@pytest.mark.parametrize("opt", [GD(0.1), Momentum(0.1), RMSprop(0.1), Adam(0.1)])
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.full((2, 3), np.nan), "NaN or infinite"),
        (np.where(np.eye(2, 3) > 0, np.inf, 0.0), "NaN or infinite"),
        (np.full((2, 3), "0.5"), "strings are not parsed"),
        (np.ma.masked_array(np.ones((2, 3)), mask=np.eye(2, 3)), "masked array"),
        (np.ones((2, 3)) * 1j, "real numbers"),
    ],
)
def test_optimizers_refuse_bad_gradients_and_update_nothing(opt, bad, match):
    params = _params()
    before = {k: v.copy() for k, v in params.items()}
    grads = {"W": bad, "b": np.ones((2, 1))}
    with pytest.raises(ValueError, match=match):
        opt.step(params, grads)
    for k in params:  # atomic: no parameter moved, not even b
        np.testing.assert_array_equal(params[k], before[k])


def test_optimizer_accepts_huge_but_finite_gradients():
    # The cheap finiteness test is a sum; a sum that overflows must not be
    # mistaken for an infinite gradient.
    params = {"W": np.zeros((2, 2))}
    GD(1e-300).step(params, {"W": np.full((2, 2), 1e308)})
    assert np.allclose(params["W"], -1e8)


def test_a_network_with_a_nan_parameter_refuses_to_compute():
    net = Network([3, 4, 2], batchnorm=True)
    X = np.ones((3, 5))
    net.params["gamma1"][2, 0] = np.nan
    for call in (
        lambda: net.forward(X),
        lambda: net.predict(X),
        lambda: net.loss(X, np.zeros(5, dtype=int)),
    ):
        with pytest.raises(ValueError, match=r"params\['gamma1'\] contains NaN"):
            call()
