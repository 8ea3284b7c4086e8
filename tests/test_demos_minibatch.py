"""bnutils.demos.minibatch: the sampling maths against closed forms, the m
panel without a browser, and the ghost-batch experiment against independent
references (the package's Batch Norm and training loop, finite differences)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

import bnutils
from bnutils import solutions
from bnutils.checks import rel_error
from bnutils.demos import minibatch as mb

matplotlib.use("Agg")


def _mean_std_ref(sigma, m):
    return sigma / math.sqrt(m)


def _var_std_ref(sigma, m):
    """sqrt(Var(var_B)), Var = 2 sigma^4 (m - 1) / m^2 (biased variance, Gaussian)."""
    return math.sqrt(2.0 * sigma**4 * (m - 1) / m**2)


# --------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("m", [2, 3, 7, 32, 256])
def test_closed_forms(sigma, m):
    assert mb.batch_mean_std(sigma, m) == pytest.approx(
        _mean_std_ref(sigma, m), rel=1e-14
    )
    assert mb.batch_var_std(sigma, m) == pytest.approx(
        _var_std_ref(sigma, m), rel=1e-14
    )
    # the unbiased variance m/(m-1) var_B has Var = 2 sigma^4 / (m - 1) exactly
    assert mb.unbiased_var_std(sigma, m) ** 2 == pytest.approx(
        2 * sigma**4 / (m - 1), rel=1e-14
    )
    assert mb.unbiased_var_std(sigma, m) == pytest.approx(
        m / (m - 1) * mb.batch_var_std(sigma, m), rel=1e-14
    )
    assert mb.batch_var_mean(sigma, m) == pytest.approx(
        sigma**2 * (m - 1) / m, rel=1e-15
    )


def test_closed_forms_take_arrays_of_batch_sizes():
    m = np.array([2, 8, 32])
    np.testing.assert_allclose(
        mb.batch_mean_std(2.0, m), [2 / math.sqrt(v) for v in m], rtol=1e-15
    )
    np.testing.assert_allclose(
        mb.batch_var_std(2.0, m), [_var_std_ref(2.0, v) for v in m], rtol=1e-14
    )
    assert isinstance(mb.batch_mean_std(1.0, 4), float)


@pytest.mark.parametrize(
    ("sigma", "m", "match"),
    [(1.0, 1, "at least 2"), (1.0, 2.5, "whole"), (0.0, 4, "sigma"), (-1, 4, "sigma")],
)
def test_closed_forms_reject_bad_input(sigma, m, match):
    with pytest.raises(ValueError, match=match):
        mb.batch_var_std(sigma, m)


@pytest.mark.parametrize("m", [3, 5, 33])
def test_batch_var_pdf_is_the_scaled_chi_square_density(m):
    sigma = 1.7
    scale = sigma**2 / m
    v = np.linspace(1e-9, 60 * scale * m, 400_001)
    pdf = mb.batch_var_pdf(v, sigma, m)
    dv = v[1] - v[0]

    def integral(f):  # trapezoid rule
        return dv * (np.sum(f) - 0.5 * (f[0] + f[-1]))

    assert integral(pdf) == pytest.approx(1.0, abs=1e-6)
    mean = sigma**2 * (m - 1) / m
    assert integral(v * pdf) == pytest.approx(mean, rel=1e-6)
    var = integral((v - mean) ** 2 * pdf)
    assert var == pytest.approx(_var_std_ref(sigma, m) ** 2, rel=1e-6)
    if m == 3:  # chi^2_2 is exponential: pdf(x) = exp(-x/2) / 2, x = v / scale
        x = v[1:1000:97] / scale
        np.testing.assert_allclose(
            pdf[1:1000:97], np.exp(-x / 2) / 2 / scale, rtol=1e-12
        )
    assert mb.batch_var_pdf(np.array([-1.0, 0.0]), sigma, m).tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------
# Monte Carlo against the closed forms
# --------------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 3, 8, 64])
def test_sampled_batch_statistics_match_the_theory(m):
    mu, sigma, n = 1.0, 2.0, 20_000
    st = mb.sample_batch_stats(m, n_batches=n, mu=mu, sigma=sigma, seed=3)
    assert st.mu_B.shape == st.var_B.shape == (n,)
    # std of mu_B: the sample std of a Gaussian has standard error s / sqrt(2(n-1))
    s_mu = st.mu_B.std(ddof=1)
    assert abs(s_mu - _mean_std_ref(sigma, m)) < 4 * s_mu / math.sqrt(2 * (n - 1))
    # Var of the biased variance: compare the sample variance of var_B with
    # 2 sigma^4 (m-1)/m^2, with the standard error of a sample variance,
    # sqrt((mu4 - s^4) / n) from the sample's fourth central moment.
    c = st.var_B - st.var_B.mean()
    s2 = np.mean(c**2)
    se = math.sqrt((np.mean(c**4) - s2**2) / n)
    exact = 2 * sigma**4 * (m - 1) / m**2
    assert abs(s2 - exact) < 4 * se
    # ... and the unbiased-variance formula 2 sigma^4 / (m - 1) is rejected at small m
    if m <= 3:
        assert abs(s2 - 2 * sigma**4 / (m - 1)) > 10 * se
    # the biased variance averages (m - 1)/m sigma^2, not sigma^2
    se_mean = math.sqrt(s2 / n)
    assert abs(st.var_B.mean() - sigma**2 * (m - 1) / m) < 4 * se_mean
    if m <= 8:
        assert abs(st.var_B.mean() - sigma**2) > 10 * se_mean


def test_sample_batch_stats_is_seeded_per_batch_size():
    a = mb.sample_batch_stats(8, 100, seed=1)
    b = mb.sample_batch_stats(8, 100, seed=1)
    c = mb.sample_batch_stats(9, 100, seed=1)
    np.testing.assert_array_equal(a.mu_B, b.mu_B)
    assert not np.allclose(a.mu_B[:5], c.mu_B[:5])
    assert a.z_norm_x is None


def test_sample_batch_stats_matches_batchnorm_forward_on_each_batch():
    st = mb.sample_batch_stats(6, 50, mu=-1.0, sigma=0.5, seed=2, x=0.3)
    rng = np.random.default_rng([2, 6])  # the documented seeding
    Z = -1.0 + 0.5 * rng.standard_normal((50, 6))
    # rows are mini-batches of one unit: batchnorm_forward treats rows alike
    _, cache = bnutils.batchnorm_forward(Z, np.ones((50, 1)), np.zeros((50, 1)))
    np.testing.assert_allclose(st.mu_B, cache.mu[:, 0], rtol=1e-14)
    np.testing.assert_allclose(st.var_B, cache.var[:, 0], rtol=1e-13)
    Z[:, 0] = 0.3
    _, cache_x = bnutils.batchnorm_forward(Z, np.ones((50, 1)), np.zeros((50, 1)))
    np.testing.assert_allclose(st.z_norm_x, cache_x.Z_norm[:, 0], rtol=1e-12)


def test_at_m_2_every_normalized_value_is_plus_or_minus_one():
    st = mb.sample_batch_stats(2, 500, sigma=3.0, seed=0, x=1.0)
    # independent: a batch {x, y} has mean (x + y)/2 and variance ((x - y)/2)^2,
    # so z_norm(x) = sign(x - y) sqrt(v / (v + eps)) with v = ((x - y)/2)^2;
    # y is column 1 of the documented draw mu + sigma * N(0, 1), mu = 1
    y = 1.0 + 3.0 * np.random.default_rng([0, 2]).standard_normal((500, 2))[:, 1]
    v = ((1.0 - y) / 2) ** 2
    want = np.sign(1.0 - y) * np.sqrt(v / (v + 1e-5))
    np.testing.assert_allclose(st.z_norm_x, want, rtol=1e-12)
    assert np.mean(np.abs(np.abs(st.z_norm_x) - 1) < 1e-3) > 0.95


def test_measure_stat_noise_agrees_with_theory_in_standard_errors():
    meas = mb.measure_stat_noise(batch_sizes=(2, 4, 16, 128), n_batches=4000, seed=0)
    assert meas.batch_sizes.tolist() == [2, 4, 16, 128]
    for name in ("std_mu", "std_var", "se_mu", "se_var", "mean_var"):
        assert getattr(meas, name).shape == (4,)
    # the delta-method standard error of a Gaussian sample std: s / sqrt(2n)
    np.testing.assert_allclose(meas.se_mu, meas.std_mu / math.sqrt(2 * 4000), rtol=0.1)
    z = mb.noise_z_scores(meas)
    assert np.all(np.abs(z["mu"]) < 4.5) and np.all(np.abs(z["var"]) < 4.5)
    assert z["var_unbiased_formula"][0] < -10  # wrong formula, m = 2: far off


def test_plot_stat_noise_draws_measurements_and_theory():
    meas = mb.measure_stat_noise(batch_sizes=(2, 8, 32), n_batches=500)
    art = mb.plot_stat_noise(meas)
    ax = art["ax"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    x, y = art["var_theory"].get_data()
    np.testing.assert_allclose(y, [_var_std_ref(2.0, int(v)) for v in x], rtol=1e-14)
    assert len(ax.get_legend().get_texts()) == 5
    matplotlib.pyplot.close(ax.figure)


# --------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel():
    return mb.stat_noise_panel(n_batches=2000)


def _heights(panel):
    return {
        k: panel.artists[k].get_data().values.copy()
        for k in ("bars_mu", "bars_var", "bars_z")
    }


def test_panel_heights_and_theory_follow_the_slider(panel):
    panel.controls["m"].value = 8
    before = _heights(panel)
    pdf_before = panel.artists["pdf_mu"].get_ydata().copy()
    panel.controls["m"].value = 64
    after = _heights(panel)
    assert panel.error is None
    for k in before:
        assert not np.array_equal(before[k], after[k]), k
    # the theory curve is N(mu, sigma^2 / m) with sigma = 2, mu = 1
    x = panel.artists["pdf_mu"].get_xdata()
    s = 2.0 / 8.0
    want = np.exp(-0.5 * ((x - 1.0) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(panel.artists["pdf_mu"].get_ydata(), want, rtol=1e-12)
    assert not np.allclose(pdf_before, want)
    assert "theory σ/√m = <b>0.250</b>" in panel.readout.value
    assert f"<b>{_var_std_ref(2.0, 64):.3f}</b>" in panel.readout.value
    # E[var_B] marker moves with m
    assert panel.artists["mean_line"].get_xdata()[0] == pytest.approx(4 * 63 / 64)


def test_panel_histograms_are_densities(panel):
    panel.controls["m"].value = 16
    d = panel.data
    for key, edges in (("bars_mu", d["edges_mu"]), ("bars_var", d["edges_var"])):
        heights = panel.artists[key].get_data().values
        assert np.sum(heights * np.diff(edges)) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("m", [min(mb.BATCH_SIZE_OPTIONS), max(mb.BATCH_SIZE_OPTIONS)])
def test_panel_extremes_are_finite_and_not_empty(panel, m):
    panel.controls["m"].value = m
    assert panel.error is None
    for k, h in _heights(panel).items():
        assert np.all(np.isfinite(h)) and h.sum() > 0, k
    for ax in ("ax_mu", "ax_var", "ax_z"):
        lo, hi = panel.artists[ax].get_ylim()
        assert np.isfinite(hi) and hi > lo
    assert np.all(np.isfinite(panel.artists["pdf_var"].get_ydata()))


def test_panel_slider_covers_2_to_256_and_rejects_a_bad_default():
    opts = list(mb.BATCH_SIZE_OPTIONS)
    assert opts[0] == 2 and opts[-1] == 256 and opts == sorted(opts)
    with pytest.raises(ValueError, match="options"):
        mb.stat_noise_panel(value=7)


# --------------------------------------------------------------------------
# Ghost batches
# --------------------------------------------------------------------------


@pytest.mark.parametrize("g", [2, 3, 4, 6, 12])
def test_ghost_forward_is_the_exercise_solution_run_by_run(g):
    rng = np.random.default_rng(g)
    Z = 3.0 + 2.0 * rng.standard_normal((3, 4, 12))  # 3 runs, 4 units, 12 examples
    gamma = 1.0 + rng.random((3, 4, 1))
    beta = rng.standard_normal((3, 4, 1))
    out, (Z_norm, inv_std, gs) = mb.ghost_bn_forward(Z, gamma, beta, g, 1e-3)
    assert out.shape == Z_norm.shape == Z.shape and gs == g
    assert inv_std.shape == (3, 4, 12 // g, 1)
    for r in range(3):
        want = solutions.ghost_batchnorm_forward(Z[r], gamma[r], beta[r], g, 1e-3)
        assert rel_error(out[r], want) < 1e-14
    if g == 12:  # one ghost batch: ordinary Batch Norm
        want, _ = bnutils.batchnorm_forward(Z[1], gamma[1], beta[1], 1e-3)
        assert rel_error(out[1], want) < 1e-14


@pytest.mark.parametrize("g", [2, 3, 12])
def test_ghost_backward_matches_finite_differences(g):
    rng = np.random.default_rng(10 + g)
    Z = rng.standard_normal((2, 3, 12)) * column_scale()
    gamma = 0.5 + rng.random((2, 3, 1))
    beta = rng.standard_normal((2, 3, 1))
    R = rng.standard_normal(Z.shape)  # loss = sum(R * Z_tilde)

    def loss(Z_, gamma_, beta_):
        return float(np.sum(R * mb.ghost_bn_forward(Z_, gamma_, beta_, g, 1e-5)[0]))

    _, cache = mb.ghost_bn_forward(Z, gamma, beta, g, 1e-5)
    dZ, dgamma, dbeta = mb.ghost_bn_backward(R, gamma, cache)
    for arr, grad in ((Z, dZ), (gamma, dgamma), (beta, dbeta)):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + 1e-6
            up = loss(Z, gamma, beta)
            arr[i] = old - 1e-6
            down = loss(Z, gamma, beta)
            arr[i] = old
            num[i] = (up - down) / 2e-6
        assert rel_error(grad, num) < 1e-8


def column_scale():
    return np.array([[0.5], [2.0], [1.0]])


def test_ghost_forward_refuses_a_ghost_size_that_does_not_divide_m():
    Z = np.zeros((1, 2, 10))
    for g in (1, 3, 11):
        with pytest.raises(ValueError, match="divide"):
            mb.ghost_bn_forward(Z, np.ones((1, 2, 1)), np.zeros((1, 2, 1)), g)


def _tiny_stack(mode, S=2, sizes=(5, 4, 3, 3), seed=0, eps=1e-5):
    """A float64 stack of S runs with random parameters (gamma, beta away from
    1, 0 so that their gradients are exercised)."""
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    p, g = {}, {}
    for layer in range(1, L + 1):
        p[f"W{layer}"] = rng.standard_normal((S, sizes[layer], sizes[layer - 1]))
        p[f"b{layer}"] = 0.3 * rng.standard_normal((S, sizes[layer], 1))
        if layer < L:
            p[f"gamma{layer}"] = 0.5 + rng.random((S, sizes[layer], 1))
            p[f"beta{layer}"] = 0.5 * rng.standard_normal((S, sizes[layer], 1))
    for k, v in p.items():
        g[k] = np.zeros_like(v)
    return mb._Stack(mode, p, g, L, eps)


@pytest.mark.parametrize("mode", [2, 4, 8, "whole", "whole_nograd", "frozen", "plain"])
def test_every_configuration_has_the_gradient_of_its_loss(mode):
    """The stack's backward pass against centred finite differences of the
    stack's own loss, for every configuration (float64). eps = 0.1: with ghost
    batches of 2 and a tiny eps every normalized value is +-1 and the gradient
    reaching W1 is nearly 0, below what finite differences resolve."""
    st = _tiny_stack(mode, eps=0.1)
    rng = np.random.default_rng(1)
    N, b = 16, 8
    X = rng.standard_normal((5, N))  # the "training set"
    y = rng.integers(0, 3, size=(2, b))
    cols = np.stack([rng.permutation(N)[:b] for _ in range(2)])  # (S, b)
    Xb = X[:, cols].transpose(1, 0, 2)  # each run's mini-batch, (S, 5, b)
    if mode in ("frozen", "whole_nograd"):
        st.stats = st.population_stats(X)

    def losses():
        if mode == "whole":
            ZL, caches, A = st.forward(X)
            return st.backward(ZL, caches, A, y, cols=cols)
        ZL, caches, A = st.forward(Xb)
        return st.backward(ZL, caches, A, y)

    losses()
    grads = {k: v.copy() for k, v in st.grads.items()}
    for name, arr in st.p.items():
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + 1e-6
            up = losses()[i[0]]
            arr[i] = old - 1e-6
            down = losses()[i[0]]
            arr[i] = old
            num[i] = (up - down) / 2e-6
        if not np.any(num):  # unused here (hidden b with BN; gamma, beta without)
            assert not np.any(grads[name]), name
            continue
        assert rel_error(grads[name], num) < 1e-8, (name, rel_error(grads[name], num))
    unused = {"plain": ("gamma1", "beta1")}.get(mode, ("b1", "b2"))
    for name in unused:
        assert not np.any(grads[name])


def test_population_stats_are_those_of_the_whole_set():
    st = _tiny_stack(4)
    X = np.random.default_rng(2).standard_normal((5, 30))
    stats = st.population_stats(X)
    Z1 = st.p["W1"] @ X
    np.testing.assert_allclose(stats[1][0], Z1.mean(axis=2, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(stats[1][1], Z1.var(axis=2, keepdims=True), rtol=1e-12)
    # With those statistics the forward pass is the whole-set forward pass.
    ZL_frozen, _, _ = st.forward(X, stats=stats)
    st_whole = _tiny_stack("whole")
    ZL_whole, _, _ = st_whole.forward(X)
    np.testing.assert_allclose(ZL_frozen, ZL_whole, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def ghost_data_small():
    X, y, Xt, yt = bnutils.data.load_mnist(n_train=64, n_test=50, seed=0)
    return X[::8], y, Xt[::8], yt  # 98 pixels: fast


def _small_run(data, **kw):
    args = {
        "configs": (4, 16, "whole", "frozen", "plain"),
        "seeds": (0, 3),
        "batch_size": 16,
        "epochs": 2,
        "lr": 0.1,
        "hidden": (6, 5),
        "dtype": np.float64,
        "data": data,
        "progress": False,
    }
    args.update(kw)
    return mb.ghost_batch_experiment(**args)


def test_ghost_size_equal_to_the_batch_is_the_package_network_and_loop(
    ghost_data_small,
):
    """Ordinary Batch Norm (ghost size = batch) and the plain control, against
    bnutils' Network trained by bnutils.train with the course's momentum: the
    same initial weights, the same mini-batches, the same parameters after
    training (float64)."""
    from bnutils.network import Network
    from bnutils.optim import make_optimizer
    from bnutils.train import train

    X, y, _, _ = ghost_data_small
    res = _small_run(ghost_data_small, configs=(16, "plain"), keep_params=True)
    for config, bn in ((16, True), ("plain", False)):
        for i, seed in enumerate(res.seeds):
            net = Network(
                [X.shape[0], 6, 5, 10],
                activation="relu",
                batchnorm=bn,
                weight_scale="he",
                seed=int(seed),
            )
            train(
                net,
                make_optimizer("momentum", 0.1, momentum_beta=0.9),
                X,
                y,
                batch_size=16,
                steps=8,
                eval_every=8,
                seed=int(seed),
                progress=False,
            )
            for name, want in net.params.items():
                got = res.params[config][name][i]
                assert rel_error(got, want) < 1e-10, (config, name)


def test_runs_do_not_interact(ghost_data_small):
    """Stacking configurations and seeds changes nothing: each run alone gives
    the same numbers."""
    together = _small_run(ghost_data_small)
    for c, config in enumerate(together.configs):
        alone = _small_run(ghost_data_small, configs=(config,), seeds=(3,))
        for key in ("train_acc", "test_acc", "train_loss", "test_loss"):
            np.testing.assert_allclose(
                getattr(alone, key)[0, 0], getattr(together, key)[c, 1], rtol=1e-10
            )


def test_experiment_is_deterministic_and_sane(ghost_data_small):
    a = _small_run(ghost_data_small)
    b = _small_run(ghost_data_small)
    for key in ("train_acc", "test_acc", "train_loss", "test_loss"):
        arr = getattr(a, key)
        assert arr.shape == (5, 2)
        np.testing.assert_array_equal(arr, getattr(b, key))
        assert np.all(np.isfinite(arr))
    assert np.all((a.train_acc >= 0) & (a.train_acc <= 1))
    np.testing.assert_allclose(a.gap, 100 * (a.train_acc - a.test_acc))
    assert a.labels == [
        "ghost 4",
        "ghost 16",
        "whole set (no noise)",
        "frozen statistics",
        "no Batch Norm",
    ]
    assert a.settings["steps"] == 8 and a.settings["n_x"] == 98
    assert a.row("whole") == 2
    table = a.table()
    assert table.count("\n") == 5 and "ghost 16" in table
    assert a.params == {}


def test_experiment_evaluates_with_population_statistics(ghost_data_small):
    """The reported accuracy is that of the final weights with each Batch Norm
    layer normalized by the whole training set's statistics."""
    X, y, _Xt, _yt = ghost_data_small
    res = _small_run(ghost_data_small, configs=(4,), keep_params=True)
    p = res.params[4]
    for i in range(2):
        A = X
        for layer in (1, 2):
            Z = p[f"W{layer}"][i] @ A
            Zn = (Z - Z.mean(axis=1, keepdims=True)) / np.sqrt(
                Z.var(axis=1, keepdims=True) + 1e-5
            )
            A = np.maximum(p[f"gamma{layer}"][i] * Zn + p[f"beta{layer}"][i], 0)
        pred = (p["W3"][i] @ A + p["b3"][i]).argmax(axis=0)
        assert res.train_acc[0, i] == np.mean(pred == y)


def test_ghost_data_pools_2x2_blocks():
    X, y, Xt, _yt = mb.ghost_data(n_train=20, pool=2)
    raw = bnutils.data.load_mnist(n_train=20, seed=0, dtype=np.float32)
    assert X.shape == (196, 20) and Xt.shape == (196, 1000) and X.dtype == np.float32
    img = raw[0][:, 3].reshape(28, 28)
    np.testing.assert_allclose(
        X[:, 3].reshape(14, 14)[5, 7], img[10:12, 14:16].mean(), rtol=1e-6
    )
    np.testing.assert_array_equal(y, raw[1])
    X1, *_ = mb.ghost_data(n_train=20, pool=1)
    np.testing.assert_array_equal(X1, raw[0])
    with pytest.raises(ValueError, match="divide 28"):
        mb.ghost_data(pool=3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"configs": (5,)}, "does not divide"),
        ({"configs": (1,)}, "ghost size"),
        ({"configs": ("noise",)}, "one of"),
        ({"configs": (4, 4)}, "repeats"),
        ({"configs": ()}, "non-empty"),
        ({"seeds": ()}, "seeds"),
        ({"momentum_beta": 1.0}, "momentum_beta"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 128}, "exceeds"),
    ],
)
def test_experiment_rejects_bad_settings(ghost_data_small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _small_run(ghost_data_small, **kwargs)


def test_plot_ghost_experiment_marks_unfitted_runs(ghost_data_small):
    res = _small_run(ghost_data_small)
    art = mb.plot_ghost_experiment(res)
    ax_acc, ax_gap = art["axes"]
    assert art["gap_dots"].get_offsets().shape == (10, 2)
    np.testing.assert_allclose(
        np.sort(art["gap_dots"].get_offsets()[:, 1]), np.sort(res.gap.ravel())
    )
    labels = [t.get_text() for t in ax_gap.get_xticklabels()]
    assert labels[0] == "4" and "whole set" in labels[2]
    notes = [t.get_text() for t in ax_gap.texts]
    assert len(notes) == int(np.sum(~res.fitted))
    for ax in (ax_acc, ax_gap):
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    matplotlib.pyplot.close(ax_acc.figure)
