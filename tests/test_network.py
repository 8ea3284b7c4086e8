"""The tiny network: gradients against finite differences, forward pass against an
independent implementation, Batch Norm wiring, modes, dtypes and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from bnutils.layers import BatchNorm
from bnutils.network import Network, NonFiniteError
from bnutils.optim import GD

SIZES = [5, 4, 3, 3]
M = 7


def _data(seed=1, m=M, sizes=SIZES):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((sizes[0], m))
    y = rng.integers(0, sizes[-1], m)
    return X, y


def _net(activation="tanh", batchnorm=True, use_bias=None, seed=3, **kw):
    """A small net whose gamma, beta and b are moved off their initial values,
    so that no gradient term vanishes by symmetry."""
    net = Network(
        SIZES,
        activation=activation,
        batchnorm=batchnorm,
        use_bias=use_bias,
        weight_scale=0.8,
        seed=seed,
        **kw,
    )
    rng = np.random.default_rng(seed + 100)
    for key, p in net.params.items():
        if not key.startswith("W"):
            p += 0.3 * rng.standard_normal(p.shape)
    return net


def _numerical_grad(f, p, h=1e-6):
    """Centred differences of the scalar f() w.r.t. every entry of p (in place)."""
    num = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        old = p[i]
        p[i] = old + h
        f_plus = f()
        p[i] = old - h
        f_minus = f()
        p[i] = old
        num[i] = (f_plus - f_minus) / (2 * h)
    return num


def _rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def _reference_forward(net, X, training):
    """Softmax probabilities computed from the definitions, layer by layer,
    without using bnutils.layers (an independent reference)."""
    A = X
    for layer in range(1, net.L + 1):
        Z = net.params[f"W{layer}"] @ A
        if f"b{layer}" in net.params:
            Z = Z + net.params[f"b{layer}"]
        if layer == net.L:
            break
        if layer in net.bn_layers:
            bn = net.bn_layers[layer]
            if training:
                mu = Z.mean(axis=1, keepdims=True)
                var = Z.var(axis=1, keepdims=True)  # biased
            else:
                mu, var = bn.running_mean, bn.running_var
            Zt = net.params[f"gamma{layer}"] * (Z - mu) / np.sqrt(var + bn.eps)
            Zt = Zt + net.params[f"beta{layer}"]
        else:
            Zt = Z
        A = {
            "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "tanh": np.tanh,
            "relu": lambda z: np.where(z > 0, z, 0.0),
        }[net.activation](Zt)
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


def _running_stats(net):
    return {
        layer: (bn.running_mean.copy(), bn.running_var.copy(), bn.n_updates)
        for layer, bn in net.bn_layers.items()
    }


def _assert_same_running_stats(a, b):
    assert a.keys() == b.keys()
    for layer in a:
        np.testing.assert_array_equal(a[layer][0], b[layer][0])
        np.testing.assert_array_equal(a[layer][1], b[layer][1])
        assert a[layer][2] == b[layer][2]


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("use_bias", [None, True])
def test_every_gradient_matches_centred_differences(activation, batchnorm, use_bias):
    X, y = _data()
    net = _net(activation, batchnorm, use_bias)
    if activation == "relu":
        # A finite difference across the kink at 0 would be wrong; this seed
        # keeps every pre-activation far from it compared with h = 1e-6.
        c = net.inspect(X, training=True)
        assert min(np.abs(c[f"Zt{h}"]).min() for h in net.hidden_layers) > 1e-4
    loss, grads = net.loss_and_grads(X, y, training=True)
    stats = _running_stats(net)
    assert grads.keys() == net.params.keys()
    for key, p in net.params.items():
        assert grads[key].shape == p.shape
        num = _numerical_grad(lambda: net.loss(X, y, training=True), p)
        if batchnorm and key in ("b1", "b2"):
            # A bias before BN: the loss does not depend on it (next test).
            np.testing.assert_allclose(num, 0.0, atol=1e-9)
            continue
        assert np.linalg.norm(num) > 1e-6, f"{key}: degenerate check"
        err = _rel_error(grads[key], num)
        assert err <= 1e-7, f"{key}: relative error {err:.2e}"
    # The finite differences used the batch statistics but never updated the
    # running statistics.
    _assert_same_running_stats(stats, _running_stats(net))
    assert np.isclose(loss, net.loss(X, y, training=True), rtol=0, atol=1e-15)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_gradient_with_frozen_batchnorm_statistics(activation):
    """backward after a training=False forward: BN is an affine map with the
    running statistics; gamma and beta still get gradients."""
    X, y = _data(seed=5)
    net = _net(activation, batchnorm=True)
    rng = np.random.default_rng(0)
    for bn in net.bn_layers.values():
        bn.running_mean = 0.5 * rng.standard_normal(bn.running_mean.shape)
        bn.running_var = rng.uniform(0.5, 2.0, bn.running_var.shape)
    _, grads = net.loss_and_grads(X, y, training=False)
    for key, p in net.params.items():
        num = _numerical_grad(lambda: net.loss(X, y, training=False), p)
        err = _rel_error(grads[key], num)
        assert err <= 1e-7, f"{key}: relative error {err:.2e}"


def test_bn_layers_receive_the_gradients_of_gamma_and_beta():
    X, y = _data()
    net = _net()
    _, grads = net.loss_and_grads(X, y)
    for layer, bn in net.bn_layers.items():
        np.testing.assert_array_equal(bn.dgamma, grads[f"gamma{layer}"])
        np.testing.assert_array_equal(bn.dbeta, grads[f"beta{layer}"])


def test_bias_before_batchnorm_gets_zero_gradient_and_changes_nothing():
    X, y = _data()
    net = _net("sigmoid", batchnorm=True, use_bias=True)
    assert {"b1", "b2", "b3"} <= net.params.keys()
    _, grads = net.loss_and_grads(X, y)
    for key in ("b1", "b2"):
        assert np.abs(grads[key]).max() < 1e-12
    assert np.abs(grads["b3"]).max() > 1e-3  # the output bias does matter
    probs = net.forward(X, training=True).copy()
    rng = np.random.default_rng(9)
    for key in ("b1", "b2"):
        net.params[key][...] = 100 * rng.standard_normal(net.params[key].shape)
    np.testing.assert_allclose(net.forward(X, training=True), probs, rtol=0, atol=1e-12)


# -------------------------------------------------------------- forward pass
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_forward_matches_an_independent_implementation(activation, batchnorm, training):
    X, y = _data(m=11)
    net = _net(activation, batchnorm)
    rng = np.random.default_rng(2)
    for bn in net.bn_layers.values():
        bn.running_mean = rng.standard_normal(bn.running_mean.shape)
        bn.running_var = rng.uniform(0.5, 2.0, bn.running_var.shape)
    expected = _reference_forward(net, X, training)
    probs = net.forward(X, training=training, update_running=False)
    np.testing.assert_allclose(probs, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=0, atol=1e-14)
    # The loss is the mean cross-entropy of those probabilities.
    ce = -np.mean(np.log(expected[y, np.arange(y.size)]))
    assert abs(net.loss(X, y, training=training) - ce) < 1e-12
    np.testing.assert_array_equal(net.predict(X), net.forward(X, False).argmax(0))


def test_cache_holds_every_layer_in_the_documented_shapes():
    X, _ = _data()
    net = _net("sigmoid", batchnorm=True)
    net.forward(X)
    assert net.cache["A0"] is not None
    for layer in range(1, net.L + 1):
        for v in ("Z", "Zt", "A"):
            assert net.cache[f"{v}{layer}"].shape == (SIZES[layer], M)
    # With BN the activation's input differs from Z and is normalized.
    Zt1 = net.cache["Zt1"]
    g, b = net.params["gamma1"], net.params["beta1"]
    np.testing.assert_allclose(((Zt1 - b) / g).mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(net.cache["A1"], 1 / (1 + np.exp(-Zt1)), rtol=1e-14)


def test_softmax_and_loss_do_not_overflow_for_huge_logits():
    X, y = _data()
    net = Network(SIZES, activation="sigmoid", weight_scale=1.0, seed=0)
    net.params["W3"] *= 1e4  # logits of order 1e4: exp would overflow
    probs = net.forward(X, training=False)
    assert np.all(np.isfinite(probs))
    Z = net.cache["Z3"]
    lse = Z.max(axis=0) + np.log(np.exp(Z - Z.max(axis=0)).sum(axis=0))
    expected = np.mean(lse - Z[y, np.arange(M)])
    assert np.isfinite(expected) and expected > 1.0
    assert abs(net.loss(X, y) - expected) <= 1e-12 * expected


def test_sigmoid_is_stable_for_large_negative_inputs():
    X = np.array([[-1000.0, 1000.0, 0.0]]).repeat(2, axis=0)
    net = Network([2, 2, 2], activation="sigmoid", weight_scale=1.0, seed=0)
    net.params["W1"][...] = np.eye(2)
    c = net.inspect(X)
    np.testing.assert_array_equal(c["A1"], [[0.0, 1.0, 0.5], [0.0, 1.0, 0.5]])


# ---------------------------------------------------------------- parameters
def test_parameter_keys_shapes_and_initialization():
    net = Network([6, 5, 4, 3], batchnorm=True, weight_scale=0.05, seed=0)
    keys = ["W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"]
    assert list(net.params) == keys
    assert net.params["W1"].shape == (5, 6) and net.params["W3"].shape == (3, 4)
    for layer, n in ((1, 5), (2, 4)):
        np.testing.assert_array_equal(net.params[f"gamma{layer}"], np.ones((n, 1)))
        np.testing.assert_array_equal(net.params[f"beta{layer}"], 0.0)
        assert isinstance(net.bn_layers[layer], BatchNorm)
    assert set(net.bn_layers) == {1, 2}  # never on the output layer
    plain = Network([6, 5, 4, 3], batchnorm=False, seed=0)
    assert list(plain.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert plain.bn_layers == {}
    none = Network([6, 5, 3], use_bias=False)
    assert list(none.params) == ["W1", "W2"]
    # Same seed: the same weights with or without BN; another seed: others.
    for key in ("W1", "W2", "W3"):
        np.testing.assert_array_equal(net.params[key], plain.params[key])
    other = Network([6, 5, 4, 3], seed=1)
    assert not np.array_equal(other.params["W1"], plain.params["W1"])


def test_n_params_counts_every_learnable_number():
    net = Network([784, 100, 100, 100, 10], batchnorm=True)
    weights = 784 * 100 + 100 * 100 + 100 * 100 + 100 * 10
    assert net.n_params == weights + 2 * 300 + 10
    plain = Network([784, 100, 100, 100, 10], batchnorm=False)
    assert plain.n_params == weights + 300 + 10
    assert "n_params=" in repr(net)


@pytest.mark.parametrize(
    ("scale", "std"),
    [(0.05, 0.05), (1.3, 1.3), ("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(1 / 400))],
)
def test_weight_scale_sets_the_standard_deviation(scale, std):
    net = Network([400, 300, 2], weight_scale=scale, seed=0)
    W = net.params["W1"]
    # 120,000 draws: the sample std is within 1% of the true one (about 5 sigma).
    assert abs(W.std() / std - 1) < 0.01
    assert abs(W.mean()) < 0.01 * std


# ------------------------------------------------- BN layers share the params
def test_bn_layers_read_gamma_and_beta_from_params_no_drift():
    X, y = _data()
    net = _net()
    bn = net.bn_layers[1]
    assert bn.gamma is net.params["gamma1"] and bn.beta is net.params["beta1"]
    # An optimizer step (in place) moves both views.
    _, grads = net.loss_and_grads(X, y)
    g_before = net.params["gamma1"].copy()
    GD(0.5).step(net.params, grads)
    assert not np.array_equal(net.params["gamma1"], g_before)
    assert bn.gamma is net.params["gamma1"]
    # Replacing the array in the dict: the layer sees the new one.
    net.params["gamma1"] = np.full((4, 1), 2.0)
    np.testing.assert_array_equal(bn.gamma, 2.0)
    # Assigning through the layer: the dict sees it, and the forward uses it.
    bn.beta = np.full((4, 1), -1.5)
    np.testing.assert_array_equal(net.params["beta1"], -1.5)
    net.forward(X, training=True, update_running=False)
    Zt1 = net.cache["Zt1"]
    np.testing.assert_allclose(Zt1.mean(axis=1), -1.5, atol=1e-12)
    v = net.cache["Z1"].var(axis=1)
    expected_std = 2.0 * np.sqrt(v / (v + 1e-5))
    np.testing.assert_allclose(Zt1.std(axis=1), expected_std, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(4, 1\)"):
        bn.gamma = np.ones(4)


def test_a_training_run_keeps_params_and_bn_layers_identical():
    X, y = _data(m=20)
    net = _net()
    opt = GD(0.1)
    for _ in range(5):
        _, grads = net.loss_and_grads(X, y)
        opt.step(net.params, grads)
        for layer, bn in net.bn_layers.items():
            assert bn.gamma is net.params[f"gamma{layer}"]
            assert bn.beta is net.params[f"beta{layer}"]


# ----------------------------------------------------------------- the modes
def test_running_statistics_change_only_in_training_forward():
    X, y = _data(m=10)
    net = _net("sigmoid")
    before = _running_stats(net)
    net.forward(X, training=False)
    net.forward(X, training=True, update_running=False)
    net.inspect(X, training=True)
    net.inspect(X, training=False)
    net.loss(X, y, training=True)
    net.loss(X, y, training=False)
    net.predict(X)
    net.accuracy(X, y)
    _assert_same_running_stats(before, _running_stats(net))
    net.forward(X, training=True)
    # One EMA step from mean 0 / variance 1 with the unbiased batch variance.
    Z1 = net.cache["Z1"]
    bn = net.bn_layers[1]
    mean = Z1.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-13)
    np.testing.assert_allclose(
        bn.running_var, 0.9 + 0.1 * Z1.var(axis=1, ddof=1, keepdims=True), rtol=1e-13
    )
    assert all(b.n_updates == 1 for b in net.bn_layers.values())
    net.loss_and_grads(X, y, training=True)
    assert all(b.n_updates == 2 for b in net.bn_layers.values())


def test_inspect_and_evaluation_leave_the_cache_alone():
    X, y = _data()
    net = _net()
    net.forward(X)
    cache = dict(net.cache)
    c = net.inspect(2 * X, training=True)
    net.loss(2 * X, y)
    net.accuracy(2 * X, y)
    assert net.cache.keys() == cache.keys()
    assert all(net.cache[k] is cache[k] for k in cache)
    per_layer = {f"{v}{layer}" for layer in (1, 2, 3) for v in ("Z", "Zt", "A")}
    assert set(c) == {"A0"} | per_layer


def test_inference_mode_handles_one_example_training_mode_refuses():
    X, _ = _data()
    net = _net()
    probs = net.forward(X[:, :1], training=False)
    assert probs.shape == (3, 1)
    with pytest.raises(ValueError, match="at least 2 examples"):
        net.forward(X[:, :1], training=True)


def test_accuracy_and_predict():
    X, y = _data(m=50)
    net = _net("relu", batchnorm=False)
    pred = net.predict(X)
    assert pred.shape == (50,) and pred.dtype.kind == "i"
    assert net.accuracy(X, y) == np.mean(pred == y)
    assert net.accuracy(X, pred) == 1.0


def test_copy_is_independent_and_equal():
    X, _ = _data(m=12)
    net = _net("sigmoid")
    net.forward(X, training=True)  # running stats away from 0 / 1
    twin = net.copy()
    assert repr(twin) == repr(net)
    np.testing.assert_array_equal(twin.forward(X, False), net.forward(X, False))
    _assert_same_running_stats(_running_stats(net), _running_stats(twin))
    for key in net.params:
        assert twin.params[key] is not net.params[key]
    twin.params["W1"] += 1.0
    twin.params["gamma1"] *= 3.0
    twin.forward(X, training=True)
    assert not np.array_equal(twin.params["W1"], net.params["W1"])
    assert twin.bn_layers[1].gamma is twin.params["gamma1"]
    fresh = _net("sigmoid")
    np.testing.assert_array_equal(net.params["gamma1"], fresh.params["gamma1"])
    assert net.bn_layers[1].n_updates == 1


# ------------------------------------------------------------------- float32
def test_float32_network_computes_in_float32():
    X, y = _data(m=16)
    net64 = _net("tanh")
    net32 = Network(SIZES, activation="tanh", batchnorm=True, dtype=np.float32)
    for key in net64.params:
        net32.params[key][...] = net64.params[key]
    assert all(p.dtype == np.float32 for p in net32.params.values())
    loss32, g32 = net32.loss_and_grads(X, y)
    loss64, g64 = net64.loss_and_grads(X, y)
    for key in ("A1", "Zt2", "A3"):
        assert net32.cache[key].dtype == np.float32
    for bn in net32.bn_layers.values():
        for arr in (bn.running_mean, bn.running_var, bn.gamma, bn.dgamma):
            assert arr.dtype == np.float32
    assert abs(loss32 - loss64) < 1e-5
    for key in g64:
        assert g32[key].dtype == np.float32
        np.testing.assert_allclose(g32[key], g64[key], rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------- bad inputs
def test_transposed_X_is_reported_as_transposed():
    X, _ = _data()
    net = _net()
    with pytest.raises(ValueError, match=r"transposed.*pass X\.T"):
        net.forward(X.T)
    with pytest.raises(ValueError, match="5 units"):
        net.forward(np.ones((6, 3)))
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        net.forward(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        net.forward(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="real numbers"):
        net.forward(np.ones((5, 3), dtype=complex))


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0, 1, 2, 0, 1, 2]), "6 labels but X has m = 7"),
        (np.array([0, 1, 2, 3, 0, 1, 2]), r"labels in \[0, 3\)"),
        (np.array([0, 1, 2, -1, 0, 1, 2]), r"labels in \[0, 3\)"),
        (np.zeros(7), "integer class labels"),
        (np.eye(3)[:, [0, 1, 2, 0, 1, 2, 0]], "one-hot"),
        (np.zeros((7, 2), dtype=int), "1-D array"),
    ],
)
def test_bad_labels_raise_clear_errors(y, message):
    X, _ = _data()
    net = _net()
    with pytest.raises(ValueError, match=message):
        net.loss_and_grads(X, y)


def test_labels_as_a_row_are_accepted():
    X, y = _data()
    net = _net()
    assert net.loss(X, y.reshape(1, -1)) == net.loss(X, y)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer_sizes": [5]}, "at least an input and an output"),
        ({"layer_sizes": [5, 0, 3]}, "positive integers"),
        ({"layer_sizes": [5, 2.5, 3]}, "positive integers"),
        ({"layer_sizes": [5, 4, 1]}, "at least 2 units"),
        ({"activation": "softplus"}, "activation must be one of"),
        ({"weight_scale": -0.1}, "positive number"),
        ({"weight_scale": "glorot"}, '"he" or "xavier"'),
        ({"dtype": np.int32}, "float64 or np.float32"),
        ({"batchnorm": "yes"}, "True or False"),
        ({"use_bias": 1}, "use_bias"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"ema_beta": 1.0}, "ema_beta"),
        ({"eps": 0.0}, "eps"),
    ],
)
def test_bad_construction_arguments_raise(kwargs, message):
    args = {"layer_sizes": SIZES, "batchnorm": True} | kwargs
    with pytest.raises(ValueError, match=message):
        Network(**args)


def test_backward_needs_a_forward_and_training_must_be_a_bool():
    X, y = _data()
    net = _net()
    with pytest.raises(ValueError, match="preceding forward"):
        net.backward(y)
    with pytest.raises(ValueError, match="True or False"):
        net.forward(X, training="eval")


def test_non_finite_values_reaching_batchnorm_raise_nonfinite_error():
    X, _ = _data()
    net = _net()
    net.params["W1"][...] = 1e308
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(NonFiniteError, match="layer 1"):
            net.forward(X, training=True)
        with pytest.raises(NonFiniteError, match="layer 1"):
            net.forward(X, training=False)
    assert issubclass(NonFiniteError, ValueError)
