"""bnutils.demos.minibatch: the sampling maths against closed forms, the m
panel without a browser, the batch-size experiment, and the exercise checkers."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

import bnutils
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
# One example in many mini-batches
# --------------------------------------------------------------------------


def test_same_example_in_batches_matches_batchnorm_forward():
    Z_all = mb.example_dataset(200, seed=1)
    assert Z_all.shape == (3, 200)
    r = mb.same_example_in_batches(Z_all, index=5, m=8, n_batches=30, seed=4)
    assert r["z_norm"].shape == r["mu_B"].shape == r["var_B"].shape == (3, 30)
    others = r["others"]
    assert others.shape == (30, 7)
    assert not np.any(others == 5)
    assert all(np.unique(row).size == 7 for row in others)
    for b in (0, 17, 29):
        batch = np.hstack([Z_all[:, 5:6], Z_all[:, others[b]]])
        _, cache = bnutils.batchnorm_forward(batch, np.ones((3, 1)), np.zeros((3, 1)))
        np.testing.assert_allclose(r["z_norm"][:, b], cache.Z_norm[:, 0], rtol=1e-12)
    mu, var = Z_all.mean(axis=1), Z_all.var(axis=1)
    np.testing.assert_allclose(
        r["z_norm_full"], (Z_all[:, 5] - mu) / np.sqrt(var + 1e-5), rtol=1e-14
    )


def test_same_example_spread_shrinks_like_one_over_sqrt_m():
    Z_all = mb.example_dataset(4000, seed=0)
    spreads = [
        mb.same_example_in_batches(Z_all, 0, m, 1500, seed=0)["z_norm"].std(axis=1)
        for m in (16, 256)
    ]
    ratio = spreads[0] / spreads[1]  # sqrt(256 / 16) = 4 for a 1/sqrt(m) law
    assert np.all((ratio > 3.5) & (ratio < 5.0))


def test_same_example_with_the_whole_dataset_is_deterministic():
    Z_all = mb.example_dataset(10, seed=0)
    r = mb.same_example_in_batches(Z_all, 9, m=10, n_batches=3)
    np.testing.assert_allclose(
        r["z_norm"], np.repeat(r["z_norm_full"][:, None], 3, axis=1), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"index": 10}, "index"),
        ({"m": 11}, "larger"),
        ({"m": 1}, "at least 2"),
        ({"n_batches": 0}, "n_batches"),
    ],
)
def test_same_example_in_batches_rejects_bad_input(kwargs, match):
    args = {"index": 0, "m": 4, "n_batches": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        mb.same_example_in_batches(mb.example_dataset(10), **args)


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
# The batch-size experiment
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():
    X, y, Xt, yt = bnutils.data.load_mnist(n_train=40, n_test=60, seed=0)
    return X, y, Xt, yt


def test_experiment_runs_deterministically_with_sane_shapes(small_data):
    kw = {
        "batch_sizes": (4, 10),
        "n_train": 40,
        "epochs": 2,
        "seeds": (0, 1),
        "hidden": (16,),
        "data": small_data,
        "progress": False,
    }
    a = mb.batch_size_experiment(**kw)
    b = mb.batch_size_experiment(**kw)
    assert a.train_acc.shape == a.test_acc.shape == (2, 2, 2)
    assert a.kinds == ("BN", "plain")
    assert a.steps.tolist() == [2 * 10, 2 * 4]
    np.testing.assert_array_equal(a.train_acc, b.train_acc)
    np.testing.assert_array_equal(a.test_acc, b.test_acc)
    for acc in (a.train_acc, a.test_acc):
        assert np.all((acc >= 0) & (acc <= 1))
    # accuracies are whole numbers of correct examples
    np.testing.assert_allclose(a.train_acc * 40, np.round(a.train_acc * 40))
    np.testing.assert_allclose(a.test_acc * 60, np.round(a.test_acc * 60))
    np.testing.assert_array_equal(a.gap, a.train_acc - a.test_acc)
    assert "BN" in a.table() and "plain" in a.table()


def test_experiment_reproduces_a_recorded_run():
    """One cell of the recorded LARGE_CONFIG grid, rerun: BN, seed 2, m = 128."""
    r = mb.batch_size_experiment(
        batch_sizes=(128,),
        n_train=500,
        epochs=30,
        seeds=(2,),
        kinds=("BN",),
        progress=False,
    )
    rec = mb.recorded_large_result()
    j = list(rec.batch_sizes).index(128)
    # float round-off may differ between BLAS builds: allow 0.5 points
    assert r.train_acc[0, 0, 0] == pytest.approx(rec.train_acc[0, 2, j], abs=0.005)
    assert r.test_acc[0, 0, 0] == pytest.approx(rec.test_acc[0, 2, j], abs=0.005)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kinds": ("BN", "dropout")}, "kinds"),
        ({"batch_sizes": (1, 4)}, "at least 2"),
        ({"batch_sizes": (4, 80)}, "between 2 and n_train"),
        ({"seeds": ()}, "seed"),
        ({"lr": -0.1}, "lr"),
        ({"n_train": 30}, "training examples"),
    ],
)
def test_experiment_rejects_bad_settings(small_data, kwargs, match):
    args = {
        "batch_sizes": (4,),
        "n_train": 40,
        "epochs": 1,
        "data": small_data,
        "progress": False,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        mb.batch_size_experiment(**args)


def test_recorded_result_and_gap_summary():
    rec = mb.recorded_large_result()
    assert rec.train_acc.shape == rec.test_acc.shape == (2, 3, 6)
    s = mb.gap_summary(rec)
    gap = 100 * (rec.train_acc - rec.test_acc)
    # BN: every run fitted, so the change compares m = 4 and m = 128
    assert s["BN"]["m_small"] == 4 and s["BN"]["m_large"] == 128
    assert s["BN"]["change"] == pytest.approx(
        gap[0, :, -1].mean() - gap[0, :, 0].mean()
    )
    # plain at m = 128 did not fit the training set: left out of the comparison
    assert s["plain"]["n_unfitted"] == 1 and s["plain"]["m_large"] == 64
    assert s["plain"]["seed_range"] == pytest.approx(
        np.max(np.ptp(gap[1, :, :5], axis=0))
    )
    for kind in ("BN", "plain"):
        assert s[kind]["within_noise"] == float(
            abs(s[kind]["change"]) <= s[kind]["seed_range"]
        )


def test_plot_batch_size_experiment_marks_unfitted_runs():
    rec = mb.recorded_large_result()
    art = mb.plot_batch_size_experiment(rec)
    ax_acc, ax_gap = art["axes"]
    x, y = art["gap_lines"]["BN"].get_data()
    np.testing.assert_allclose(x, rec.batch_sizes)
    np.testing.assert_allclose(y, 100 * rec.gap[0].mean(axis=0))
    texts = [t.get_text() for t in ax_gap.texts]
    assert len(texts) == 1 and "not fitted" in texts[0]
    assert ax_acc.get_xscale() == "log"
    matplotlib.pyplot.close(ax_acc.figure)
