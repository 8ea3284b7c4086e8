"""Optimizers: each update rule against its closed form, convergence on a
quadratic, in-place updates of every parameter kind, and the names check."""

from __future__ import annotations

import numpy as np
import pytest

from bnutils.network import Network
from bnutils.optim import GD, OPTIMIZERS, Adam, Momentum, RMSprop, make_optimizer

P0 = np.array([[1.0, -2.0], [0.5, 3.0]])
G1 = np.array([[0.3, -0.1], [2.0, -4.0]])
G2 = np.array([[-0.2, 0.5], [1.0, 0.25]])


def _two_steps(opt):
    params = {"W1": P0.copy()}
    arr = params["W1"]
    opt.step(params, {"W1": G1})
    p1 = arr.copy()
    opt.step(params, {"W1": G2})
    assert params["W1"] is arr, "the update must be in place"
    return p1, arr


def test_gd_closed_form():
    p1, p2 = _two_steps(GD(0.1))
    np.testing.assert_allclose(p1, P0 - 0.1 * G1, rtol=1e-15)
    np.testing.assert_allclose(p2, P0 - 0.1 * G1 - 0.1 * G2, rtol=1e-15)


def test_momentum_closed_form():
    lr, b = 0.1, 0.8
    opt = Momentum(lr, momentum_beta=b)
    p1, p2 = _two_steps(opt)
    v1 = (1 - b) * G1
    v2 = b * (1 - b) * G1 + (1 - b) * G2
    np.testing.assert_allclose(p1, P0 - lr * v1, rtol=1e-14)
    np.testing.assert_allclose(p2, P0 - lr * v1 - lr * v2, rtol=1e-14)
    np.testing.assert_allclose(opt.v["W1"], v2, rtol=1e-14)
    # momentum_beta = 0 is plain gradient descent.
    _, p_gd = _two_steps(GD(lr))
    _, p_m0 = _two_steps(Momentum(lr, momentum_beta=0.0))
    np.testing.assert_array_equal(p_m0, p_gd)


def test_rmsprop_closed_form():
    lr, b, eps = 0.01, 0.9, 1e-8
    opt = RMSprop(lr, rms_beta=b, eps=eps)
    p1, p2 = _two_steps(opt)
    s1 = (1 - b) * G1**2
    s2 = b * (1 - b) * G1**2 + (1 - b) * G2**2
    e1 = P0 - lr * G1 / (np.sqrt(s1) + eps)
    np.testing.assert_allclose(p1, e1, rtol=1e-13)
    np.testing.assert_allclose(p2, e1 - lr * G2 / (np.sqrt(s2) + eps), rtol=1e-13)
    # At step 1, without bias correction, the step is lr / sqrt(1 - b) per entry.
    np.testing.assert_allclose(np.abs(p1 - P0), lr / np.sqrt(1 - b), rtol=1e-6)


def test_adam_closed_form_with_bias_correction():
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-8
    opt = Adam(lr, beta1=b1, beta2=b2, eps=eps)
    p1, p2 = _two_steps(opt)
    # Step 1: v_hat = G1 and s_hat = G1**2 exactly, so each entry moves by
    # lr * |g| / (|g| + eps), about lr, against the gradient's sign.
    e1 = P0 - lr * G1 / (np.abs(G1) + eps)
    np.testing.assert_allclose(p1, e1, rtol=1e-13)
    v2 = b1 * (1 - b1) * G1 + (1 - b1) * G2
    s2 = b2 * (1 - b2) * G1**2 + (1 - b2) * G2**2
    v_hat, s_hat = v2 / (1 - b1**2), s2 / (1 - b2**2)
    np.testing.assert_allclose(p2, e1 - lr * v_hat / (np.sqrt(s_hat) + eps), rtol=1e-13)
    np.testing.assert_allclose(opt.v["W1"], v2, rtol=1e-14)
    np.testing.assert_allclose(opt.s["W1"], s2, rtol=1e-14)
    assert opt.t == 2


def test_adam_bias_correction_makes_a_constant_gradient_move_by_lr_each_step():
    """Without the correction the first steps would be (1 - beta1) / sqrt(1 -
    beta2) = 3.2 times too small at t = 1 (beta 0.9 / 0.999)."""
    lr, g = 0.01, np.array([[0.5, -2.0, 1e-3]])
    params = {"x": np.zeros_like(g)}
    opt = Adam(lr)
    for t in range(1, 6):
        opt.step(params, {"x": g})
        np.testing.assert_allclose(
            params["x"], -t * lr * g / (np.abs(g) + 1e-8), rtol=1e-12
        )


@pytest.mark.parametrize(
    ("name", "lr", "steps"),
    [
        ("gd", 0.3, 200),
        ("momentum", 0.3, 400),
        ("rmsprop", 0.01, 2000),
        ("adam", 0.05, 2000),
    ],
)
def test_each_optimizer_minimizes_a_quadratic(name, lr, steps):
    """f(x) = 0.5 * sum(a * x**2) - sum(c * x), minimum at x* = c / a."""
    a = np.array([[1.0], [3.0], [0.5]])
    c = np.array([[1.0], [-2.0], [0.25]])
    x_star = c / a
    params = {"x": np.zeros((3, 1))}
    opt = make_optimizer(name, lr)
    for _ in range(steps):
        opt.step(params, {"x": a * params["x"] - c})
    start = np.abs(x_star).max()
    assert np.abs(params["x"] - x_star).max() < 1e-3 * start


def test_every_parameter_kind_of_a_bn_network_is_updated_in_place():
    net = Network([4, 3, 2], batchnorm=True, use_bias=True, seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 8)), rng.integers(0, 2, 8)
    _, grads = net.loss_and_grads(X, y)
    ids = {k: id(p) for k, p in net.params.items()}
    old = {k: p.copy() for k, p in net.params.items()}
    for name in OPTIMIZERS:
        make_optimizer(name, 0.1).step(net.params, grads)
    assert {k: id(p) for k, p in net.params.items()} == ids
    for key in ("W1", "gamma1", "beta1", "W2", "b2"):
        assert not np.array_equal(net.params[key], old[key]), key
    assert net.bn_layers[1].gamma is net.params["gamma1"]


def test_float32_parameters_stay_float32():
    params = {"W": P0.astype(np.float32)}
    for name in OPTIMIZERS:
        make_optimizer(name, 0.1).step(params, {"W": G1.astype(np.float32)})
        assert params["W"].dtype == np.float32


@pytest.mark.parametrize("cls", [GD, Momentum, RMSprop, Adam])
def test_a_keyword_called_beta_is_refused_with_an_explanation(cls):
    with pytest.raises(ValueError, match="Batch Norm's beta is the learned shift"):
        cls(0.1, beta=0.9)


def test_make_optimizer_names_and_keywords():
    assert isinstance(make_optimizer("ADAM", 0.01, beta2=0.99), Adam)
    m = make_optimizer("momentum", 0.1, momentum_beta=0.5)
    assert isinstance(m, Momentum) and m.momentum_beta == 0.5
    assert repr(m) == "Momentum(lr=0.1, momentum_beta=0.5)"
    with pytest.raises(ValueError, match="Batch Norm"):
        make_optimizer("rmsprop", 0.01, beta=0.9)
    with pytest.raises(ValueError, match="'gd'"):
        make_optimizer("sgd", 0.1)
    with pytest.raises(ValueError, match=r"did you mean momentum_beta"):
        make_optimizer("momentum", 0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"did you mean beta1 and beta2"):
        make_optimizer("adam", 0.1, betas=(0.9, 0.999))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GD(0.0), "lr must be a positive"),
        (lambda: GD(float("nan")), "lr must be a positive"),
        (
            lambda: Momentum(0.1, momentum_beta=1.0),
            r"momentum_beta must be in \[0, 1\)",
        ),
        (lambda: RMSprop(0.1, rms_beta=-0.1), "rms_beta"),
        (lambda: Adam(0.1, beta2=1.5), "beta2"),
        (lambda: Adam(0.1, eps=0.0), "eps"),
    ],
)
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_step_checks_keys_shapes_and_state():
    opt = Momentum(0.1)
    with pytest.raises(ValueError, match=r"missing gradients: \['b'\]"):
        opt.step({"W": P0.copy(), "b": np.zeros((2, 1))}, {"W": G1})
    with pytest.raises(ValueError, match="shape"):
        opt.step({"W": P0.copy()}, {"W": G1[:, :1]})
    with pytest.raises(ValueError, match="float numpy array"):
        opt.step({"W": [[1.0, 2.0]]}, {"W": [[1.0, 2.0]]})
    opt.step({"W": P0.copy()}, {"W": G1})
    with pytest.raises(ValueError, match="another network"):
        opt.step({"W": np.zeros((3, 3))}, {"W": np.zeros((3, 3))})
    opt.reset()
    assert opt.t == 0 and opt.v == {}
    opt.step({"W": np.zeros((3, 3))}, {"W": np.ones((3, 3))})


def test_the_learning_rate_can_change_between_steps():
    opt = GD(0.1)
    params = {"W": P0.copy()}
    opt.step(params, {"W": G1})
    opt.lr = 0.01
    opt.step(params, {"W": G1})
    np.testing.assert_allclose(params["W"], P0 - 0.11 * G1, rtol=1e-15)
    with pytest.raises(ValueError):
        opt.lr = -1.0
