"""bnutils.demos.test_time against closed forms and independent references, and
its panels without a browser."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnutils.data import load_mnist
from bnutils.demos import test_time as tt
from bnutils.layers import BatchNorm, batchnorm_inference
from bnutils.network import Network


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _small_bn_net(seed: int = 0, use_bias=None) -> Network:
    """A small BN network with non-trivial gamma, beta and running statistics."""
    net = Network(
        [6, 5, 4, 3], activation="relu", batchnorm=True, weight_scale=0.7,
        use_bias=use_bias, seed=seed,
    )  # fmt: skip
    rng = np.random.default_rng(seed + 100)
    for bn in net.bn_layers.values():
        n = bn.n_units
        bn.gamma = rng.uniform(0.5, 2.0, (n, 1))
        bn.beta = rng.normal(0.0, 1.0, (n, 1))
        bn.running_mean = rng.normal(0.0, 1.0, (n, 1))
        bn.running_var = rng.uniform(0.3, 3.0, (n, 1))
    for key in net.params:
        if key.startswith("b"):
            net.params[key] = rng.normal(0.0, 0.5, net.params[key].shape)
    return net


@pytest.fixture(scope="module")
def mnist_small():
    return load_mnist(n_train=600, n_test=200, seed=0)


@pytest.fixture(scope="module")
def trained(mnist_small):
    X_tr, y_tr, _, _ = mnist_small
    net, _ = tt.train_mnist_net(X_tr, y_tr, steps=40, progress=False)
    return net


# --------------------------------------------------------------------------
# Exponentially weighted averages
# --------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize(("c", "v0"), [(3.0, 0.0), (4.0, 1.0), (-2.5, 7.0)])
def test_ema_of_a_constant_stream_matches_the_closed_form(beta, c, v0):
    T = 400
    v = tt.ema(np.full(T, c), beta, v0)
    t = np.arange(1, T + 1)
    expected = c + (v0 - c) * beta**t
    np.testing.assert_allclose(v, expected, rtol=1e-12, atol=1e-12)


def test_ema_matches_the_weighted_sum_of_the_stream():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(60, 3))
    beta, v0 = 0.8, np.array([0.5, -1.0, 2.0])
    v = tt.ema(theta, beta, v0)
    for t in (1, 7, 60):
        k = np.arange(1, t + 1)
        direct = beta**t * v0 + (1 - beta) * np.sum(
            beta ** (t - k)[:, None] * theta[:t], axis=0
        )
        np.testing.assert_allclose(v[t - 1], direct, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("v0", [0.0, 1.0])
def test_bias_correction_is_exact_for_a_constant_stream(beta, v0):
    c = 3.0
    v = tt.ema(np.full(50, c), beta, v0)
    np.testing.assert_allclose(tt.bias_corrected(v, beta, v0), c, rtol=1e-10)
    # without the correction the first steps are far off
    assert abs(v[0] - c) > 1e-3


def test_bias_correction_from_zero_is_the_course_formula():
    rng = np.random.default_rng(1)
    theta = rng.normal(2.0, 1.0, 30)
    beta = 0.9
    v = tt.ema(theta, beta, 0.0)
    t = np.arange(1, 31)
    np.testing.assert_allclose(
        tt.bias_corrected(v, beta, 0.0), v / (1 - beta**t), rtol=1e-14
    )


def _first_step_below(beta: float, fraction: float) -> int:
    """Independent: multiply until the weight drops below the fraction."""
    w, t = 1.0, 0
    while w >= fraction:
        w *= beta
        t += 1
    return t


@pytest.mark.parametrize(
    ("beta", "to_10", "to_1"), [(0.9, 22, 44), (0.99, 230, 459), (0.999, 2302, 4603)]
)
def test_steps_until_the_initial_value_weighs_less_than_10_and_1_percent(
    beta, to_10, to_1
):
    # the numbers of the reference table, and a brute-force count
    assert tt.steps_until(beta, 0.1) == to_10 == _first_step_below(beta, 0.1)
    assert tt.steps_until(beta, 0.01) == to_1 == _first_step_below(beta, 0.01)
    t = tt.steps_until(beta, 0.1)
    assert beta**t < 0.1 <= beta ** (t - 1)


def test_steps_until_counts_strictly_below():
    # 0.5^2 = 0.25 exactly: the weight is below 0.25 only from step 3 on
    assert tt.steps_until(0.5, 0.25) == 3 == _first_step_below(0.5, 0.25)
    assert tt.steps_until(0.0, 0.1) == 1


def test_window_and_bessel_factor():
    assert tt.effective_window(0.9) == pytest.approx(10.0, rel=1e-14)
    assert tt.effective_window(0.99) == pytest.approx(100.0, rel=1e-12)
    assert tt.bessel_factor(2) == 2.0
    assert tt.bessel_factor(32) == 32 / 31  # 1.032
    with pytest.raises(ValueError, match="m must be"):
        tt.bessel_factor(1)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "x"])
def test_ema_beta_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="ema_beta"):
        tt.ema(np.ones(3), bad, 0.0)


@pytest.mark.parametrize("beta", [0.9, 0.99])
def test_running_estimates_equal_the_batchnorm_layer(beta):
    stream = tt.make_stream(120, m=5, seed=3)
    est = tt.running_estimates(stream, beta)
    bn = BatchNorm(1, ema_beta=beta)
    means, variances = [], []
    for row in stream.batches:
        bn.forward(row.reshape(1, -1), training=True)
        means.append(bn.running_mean[0, 0])
        variances.append(bn.running_var[0, 0])
    np.testing.assert_allclose(est["mean"], means, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(est["var"], variances, rtol=1e-13)


def test_stream_distribution_and_stable_columns():
    s = tt.make_stream(500, m=8, drift=True, seed=0)
    assert s.batches.shape == (500, 8)
    assert s.true_mean[-1] == pytest.approx(3.0 + 2.0 * (1 - math.exp(-2.0)), rel=1e-12)
    assert s.true_var[-1] == pytest.approx(1.0, rel=1e-12)
    fixed = tt.make_stream(2000, m=16, seed=1)
    assert np.all(fixed.true_mean == 3.0) and np.all(fixed.true_var == 4.0)
    assert fixed.mu_B.mean() == pytest.approx(3.0, abs=4 * 0.5 / math.sqrt(2000))
    # more examples per batch keep the first columns
    wide = tt.make_stream(50, m=12, seed=2)
    narrow = tt.make_stream(50, m=4, seed=2)
    np.testing.assert_array_equal(wide.batches[:, :4], narrow.batches)


def test_bessel_experiment_shows_the_biased_shortfall():
    rows = tt.bessel_experiment(m_values=(2, 8, 32), n_batches=20000, seed=0)
    for r in rows:
        m = r["m"]
        assert r["closed_form"] == pytest.approx((m - 1) / m * 4.0, rel=1e-15)
        # standard error of the mean of var_B: sqrt(2 sigma^4 (m-1)) / m / sqrt(n)
        se = math.sqrt(2 * 16.0 * (m - 1)) / m / math.sqrt(20000)
        assert r["mean_var_B"] == pytest.approx(r["closed_form"], abs=5 * se)
        assert r["running_biased"] == pytest.approx(r["closed_form"], abs=0.08)
        assert r["running_unbiased"] == pytest.approx(4.0, abs=0.15)
    assert rows[0]["running_biased"] < 2.2  # m = 2: half the true variance


# --------------------------------------------------------------------------
# Training mode on groups of examples
# --------------------------------------------------------------------------


def test_one_group_of_everything_is_the_networks_training_mode():
    net = _small_bn_net()
    X = np.random.default_rng(0).normal(size=(6, 12))
    fwd = tt.forward_in_batches(net, X, 12)
    ref = net.inspect(X, training=True)
    np.testing.assert_allclose(fwd.probs, ref["A3"], rtol=1e-12, atol=1e-15)
    for layer in (1, 2):
        np.testing.assert_allclose(fwd.Zt[layer], ref[f"Zt{layer}"], atol=1e-12)


@pytest.mark.parametrize("use_bias", [None, True])
def test_groups_are_normalized_separately(use_bias):
    net = _small_bn_net(seed=1, use_bias=use_bias)
    X = np.random.default_rng(1).normal(size=(6, 20))
    fwd = tt.forward_in_batches(net, X, 5)
    for g in range(4):
        cols = slice(5 * g, 5 * g + 5)
        ref = net.inspect(X[:, cols], training=True)
        np.testing.assert_allclose(fwd.probs[:, cols], ref["A3"], atol=1e-12)
        for layer in (1, 2):
            Z = ref[f"Z{layer}"]
            np.testing.assert_allclose(fwd.mu[layer][:, g], Z.mean(axis=1), atol=1e-12)
            np.testing.assert_allclose(fwd.var[layer][:, g], Z.var(axis=1), atol=1e-12)


def test_a_batch_of_one_outputs_beta_and_one_prediction_for_all():
    net = _small_bn_net(seed=2)
    before = {k: bn.running_mean.copy() for k, bn in net.bn_layers.items()}
    X = np.random.default_rng(2).normal(size=(6, 30)) * 5
    fwd = tt.forward_in_batches(net, X, 1)
    for layer, bn in net.bn_layers.items():
        # Z_norm = 0 exactly, so Z_tilde = beta for every example
        np.testing.assert_array_equal(fwd.Zt[layer], np.repeat(bn.beta, 30, axis=1))
        np.testing.assert_array_equal(fwd.var[layer], 0.0)
        np.testing.assert_array_equal(bn.running_mean, before[layer])
    assert np.all(fwd.probs == fwd.probs[:, :1])
    assert len(set(tt.predict_training_mode(net, X, 1).tolist())) == 1
    # inference mode keeps the examples apart
    assert len(set(net.predict(X).tolist())) > 1


def test_mnist_single_example_collapse(trained, mnist_small):
    _, _, X_te, y_te = mnist_small
    pred = tt.predict_training_mode(trained, X_te, 1)
    assert np.unique(pred).size == 1
    counts = tt.class_histogram(pred)
    assert counts.sum() == 200 and counts.max() == 200
    acc_collapsed = np.mean(pred == y_te)
    assert acc_collapsed == pytest.approx(np.mean(y_te == pred[0]), abs=0)
    assert trained.accuracy(X_te, y_te) > acc_collapsed + 0.4


def test_forward_in_batches_refuses_a_remainder():
    net = _small_bn_net()
    with pytest.raises(ValueError, match="multiple of batch_size"):
        tt.forward_in_batches(net, np.zeros((6, 10)), 3)


# --------------------------------------------------------------------------
# Population statistics
# --------------------------------------------------------------------------


def test_population_statistics_follow_algorithm_2():
    net = _small_bn_net(seed=3)
    X = np.random.default_rng(3).normal(size=(6, 43))
    k = 8
    stats = tt.population_statistics(net, X, batch_size=k)
    mus = {1: [], 2: []}
    vs = {1: [], 2: []}
    for g in range(43 // k):  # the last 3 examples are dropped
        ref = net.inspect(X[:, g * k : (g + 1) * k], training=True)
        for layer in (1, 2):
            Z = ref[f"Z{layer}"]
            mus[layer].append(Z.mean(axis=1))
            vs[layer].append(Z.var(axis=1))
    for layer in (1, 2):
        mean, var = stats[layer]
        assert mean.shape == var.shape == (net.layer_sizes[layer], 1)
        np.testing.assert_allclose(mean[:, 0], np.mean(mus[layer], axis=0), atol=1e-12)
        np.testing.assert_allclose(
            var[:, 0], k / (k - 1) * np.mean(vs[layer], axis=0), rtol=1e-12
        )


def test_with_running_stats_copies():
    net = _small_bn_net(seed=4)
    old = net.bn_layers[1].running_mean.copy()
    stats = {1: (np.full((5, 1), 2.0), np.full((5, 1), 3.0))}
    new = tt.with_running_stats(net, stats)
    np.testing.assert_array_equal(new.bn_layers[1].running_mean, 2.0)
    np.testing.assert_array_equal(new.bn_layers[1].running_var, 3.0)
    np.testing.assert_array_equal(net.bn_layers[1].running_mean, old)
    with pytest.raises(ValueError, match="layer 3"):
        tt.with_running_stats(net, {3: stats[1]})


def test_warmup_experiment(mnist_small):
    X_tr, y_tr, X_te, y_te = mnist_small
    res = tt.warmup_experiment(
        X_tr, y_tr, X_te, y_te, checkpoints=(1, 4), ema_betas=(0.9, 0.99),
        progress=False,
    )  # fmt: skip
    assert res.max_weight_diff == 0.0  # running averages never touch training
    assert res.steps.tolist() == [1, 4]
    for acc in [*res.running_acc.values(), res.population_acc]:
        assert acc.shape == (2,) and np.all((acc >= 0) & (acc <= 1))
    _, _, lines = tt.plot_warmup(res)
    assert len(lines) == 3
    np.testing.assert_allclose(lines[-1].get_ydata(), 100 * res.population_acc)


# --------------------------------------------------------------------------
# Framework conventions
# --------------------------------------------------------------------------


def _batches(T=40, n=3, m=6, seed=0):
    rng = np.random.default_rng(seed)
    return 3.0 + 2.0 * rng.standard_normal((T, n, m))


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_pytorch_momentum_p_is_bnutils_ema_beta_1_minus_p(p):
    batches = _batches()
    means, variances = tt.simulate_convention(batches, "PyTorch", momentum=p)
    bn = BatchNorm(3, ema_beta=1 - p)
    for t, Z in enumerate(batches):
        bn.forward(Z, training=True)
        np.testing.assert_allclose(means[t], bn.running_mean[:, 0], rtol=1e-15)
        np.testing.assert_allclose(variances[t], bn.running_var[:, 0], rtol=1e-15)


def test_keras_feeds_the_biased_variance():
    batches = _batches(seed=1)
    means, variances = tt.simulate_convention(batches, "Keras")  # momentum 0.99
    rm, rv = np.zeros(3), np.ones(3)
    for t, Z in enumerate(batches):
        rm = 0.99 * rm + 0.01 * Z.mean(axis=1)
        rv = 0.99 * rv + 0.01 * np.var(Z, axis=1, ddof=0)
        np.testing.assert_allclose(means[t], rm, rtol=1e-14)
        np.testing.assert_allclose(variances[t], rv, rtol=1e-14)
    # the same momentum read the PyTorch way is the flipped average
    flipped, _ = tt.simulate_convention(batches, "PyTorch", momentum=0.99)
    assert np.max(np.abs(flipped - means)) > 1.0


def test_cs231n_starts_at_zero_variance():
    batches = _batches(T=1, seed=2)
    _, variances = tt.simulate_convention(batches, "CS231n")
    np.testing.assert_allclose(variances[0], 0.1 * batches[0].var(axis=1), rtol=1e-14)


def test_batch_of_one_in_each_convention():
    z = np.array([[2.5], [-1.0]])
    gamma, beta = np.array([[1.5], [0.5]]), np.array([[0.7], [-0.2]])
    for name in ("Keras", "CS231n"):
        np.testing.assert_array_equal(
            tt.single_example_training(name, z, gamma, beta), beta
        )
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        tt.single_example_training("PyTorch", z, gamma, beta)
    with pytest.raises(ValueError, match="mini-batch of 1"):
        tt.single_example_training("bnutils", z, gamma, beta)
    assert CONV_NAMES == set(tt.CONVENTIONS)


CONV_NAMES = {"PyTorch", "Keras", "CS231n", "bnutils"}


def test_conventions_table_rows():
    rows = tt.conventions_rows(steps=30, m=8, seed=0)
    by = {r[""]: r for r in rows}
    mean_row = by["running mean after 30 batches (true 3)"]
    var_row = by["running var after 30 batches (true 4)"]
    assert mean_row["PyTorch"] == mean_row["bnutils"] == mean_row["CS231n"]
    assert var_row["PyTorch"] == var_row["bnutils"] != var_row["CS231n"]
    # Keras's 0.99 still leans on its initial 0: weight 0.99^30 = 0.74
    stream = tt.make_stream(30, 8, seed=0)
    k = np.arange(1, 31)
    keras_mean = 0.01 * np.sum(0.99 ** (30 - k) * stream.mu_B)
    assert float(mean_row["Keras"]) == pytest.approx(keras_mean, abs=5e-4)
    assert "Expected more than 1 value" in by[rows[-1][""]]["PyTorch"]
    html = tt.conventions_html(rows)
    assert html.count("<tr>") == len(rows) + 1


@pytest.mark.parametrize(("p", "smooth"), [(0.1, "torch"), (0.9, "keras")])
def test_momentum_confusion_figure(p, smooth):
    _, _, art, rms = tt.plot_momentum_confusion(p=p)
    other = "keras" if smooth == "torch" else "torch"
    assert rms[smooth] < 0.5 * rms[other]
    stream = tt.make_stream(300, 16, seed=1)
    np.testing.assert_allclose(
        art["torch"].get_ydata(), tt.ema(stream.mu_B, 1 - p, 0.0), rtol=1e-15
    )


# --------------------------------------------------------------------------
# Folding
# --------------------------------------------------------------------------


def test_fold_batchnorm_identity():
    rng = np.random.default_rng(5)
    W, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    gamma, beta = rng.uniform(0.5, 2, (4, 1)), rng.normal(size=(4, 1))
    mean, var = rng.normal(size=(4, 1)), rng.uniform(0.1, 3, (4, 1))
    A = rng.normal(size=(3, 9))
    Wf, bf = tt.fold_batchnorm(W, gamma, beta, mean, var, 1e-5, b)
    ref = batchnorm_inference(W @ A + b, gamma, beta, mean, var, 1e-5)
    np.testing.assert_allclose(Wf @ A + bf, ref, rtol=1e-12, atol=1e-13)
    Wf0, bf0 = tt.fold_batchnorm(W, gamma, beta, mean, var)
    ref0 = batchnorm_inference(W @ A, gamma, beta, mean, var)
    np.testing.assert_allclose(Wf0 @ A + bf0, ref0, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match="gamma"):
        tt.fold_batchnorm(W, gamma.ravel(), beta, mean, var)


@pytest.mark.parametrize("use_bias", [None, True])
def test_fold_network_computes_the_same_outputs(use_bias):
    net = _small_bn_net(seed=6, use_bias=use_bias)
    X = np.random.default_rng(6).normal(size=(6, 25))
    plain = tt.fold_network(net)
    assert not plain.bn_layers
    ref = net.inspect(X, training=False)["A3"]
    np.testing.assert_allclose(plain.inspect(X)["A3"], ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(plain.predict(X), net.predict(X))


# --------------------------------------------------------------------------
# Panels, headless
# --------------------------------------------------------------------------


def _line_data(panel):
    return {
        k: np.asarray(a.get_ydata(), dtype=float).copy()
        for k, a in panel.artists.items()
        if hasattr(a, "get_ydata")
    }


@pytest.fixture(scope="module")
def ewma():
    return tt.ewma_panel()


@pytest.mark.parametrize(
    ("name", "value"),
    [("ema_beta", 0.99), ("steps", 250), ("m", 4), ("population", "drifting")],
)
def test_ewma_panel_controls_change_the_lines(ewma, name, value):
    for k, v in {"ema_beta": 0.9, "steps": 100, "m": 16, "population": "fixed"}.items():
        ewma.controls[k].value = v
    before = _line_data(ewma)
    ewma.controls[name].value = value
    after = _line_data(ewma)
    assert ewma.error is None
    changed = [
        k for k in before
        if before[k].shape != after[k].shape or not np.allclose(before[k], after[k])
    ]  # fmt: skip
    assert "mean_ema" in changed or "var_ema" in changed


@pytest.mark.parametrize(
    ("name", "value"),
    [("ema_beta", 0.5), ("ema_beta", 0.999), ("steps", 1), ("steps", 500),
     ("m", 2), ("m", 64), ("population", "drifting"), ("population", "fixed")],
)  # fmt: skip
def test_ewma_panel_extremes_are_finite(ewma, name, value):
    ewma.controls[name].value = value
    assert ewma.error is None
    for k, y in _line_data(ewma).items():
        assert y.size > 0 and np.all(np.isfinite(y)), k
    rect = ewma.artists["mean_window"]
    assert rect.get_width() > 0 and np.isfinite(rect.get_x())
    assert ewma.render()[:4] == b"\x89PNG"


def test_ewma_panel_readout_and_bias_correction(ewma):
    ewma.controls["population"].value = "fixed"
    ewma.controls["m"].value = 16
    ewma.controls["ema_beta"].value = 0.999
    ewma.controls["steps"].value = 300
    last = ewma.last
    assert last["w_init"] == pytest.approx(0.999**300, rel=1e-12)
    # the raw EMA still leans on 0 and 1; the corrected one does not
    assert abs(last["err"]["mean"]) > 2.0 > 10 * abs(last["err"]["mean_hat"])
    assert abs(last["err"]["var_hat"]) < abs(last["err"]["var"])
    y = ewma.artists["mean_ema"].get_ydata()
    assert y[0] == 0.0 and len(y) == 301
    assert "0.741" in ewma.readout.value  # 0.999^300


def test_momentum_panel():
    panel = tt.momentum_panel()
    before = panel.artists["torch"].get_ydata().copy()
    for p in (0.01, 0.99, 0.5):
        panel.controls["p"].value = p
        assert panel.error is None
        for key in ("torch", "keras"):
            y = panel.artists[key].get_ydata()
            assert y.size == 300 and np.all(np.isfinite(y))
    assert not np.allclose(before, panel.artists["torch"].get_ydata())
    panel.controls["p"].value = 0.05
    assert panel.last["torch"] < panel.last["keras"]
    panel.controls["p"].value = 0.95
    assert panel.last["keras"] < panel.last["torch"]


def test_prediction_histograms():
    y = np.repeat(np.arange(10), 3)
    _, _, bars = tt.plot_prediction_histograms(y, np.full(30, 8), y)
    heights = [r.get_height() for r in bars[0]]
    assert heights[8] == 30 and sum(heights) == 30
    assert [r.get_height() for r in bars[1]] == [3] * 10
