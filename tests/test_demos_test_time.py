"""bnutils.demos.test_time against closed forms and independent references, and
its panels without a browser."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnutils.demos import test_time as tt
from bnutils.layers import BatchNorm


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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


# --------------------------------------------------------------------------
# The warm-up figure
# --------------------------------------------------------------------------


def test_plot_warmup_draws_each_estimate_in_percent():
    steps = (1, 10, 100)
    acc = {
        "EMA 0.9": [0.1, 0.5, 0.9],
        "EMA 0.9, bias-corrected": [0.1, 0.6, 0.9],
        "EMA 0.99": [0.1, 0.3, 0.9],
        "EMA 0.99, bias-corrected": [0.1, 0.55, 0.9],
        "population statistics": [0.1, 0.62, 0.91],
    }
    _, ax, lines = tt.plot_warmup(steps, acc)
    assert [ln.get_label() for ln in lines] == list(acc)
    for ln, values in zip(lines, acc.values(), strict=True):
        np.testing.assert_allclose(ln.get_ydata(), 100 * np.asarray(values))
        np.testing.assert_array_equal(ln.get_xdata(), steps)
    # a corrected line is dashed in the colour of its raw line
    assert lines[1].get_linestyle() == "--" and lines[0].get_linestyle() == "-"
    assert lines[1].get_color() == lines[0].get_color() != lines[2].get_color()
    assert ax.get_xscale() == "log" and ax.get_legend() is not None
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_plot_warmup_refuses_mismatched_input():
    with pytest.raises(ValueError, match="shape"):
        tt.plot_warmup((1, 2), {"EMA 0.9": [0.5]})
    with pytest.raises(ValueError, match="positive"):
        tt.plot_warmup((0, 2), {"EMA 0.9": [0.5, 0.6]})


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
    mean_row = by["simulated: running mean after 30 batches (true 3)"]
    var_row = by["simulated: running var after 30 batches (true 4)"]
    assert mean_row["PyTorch"] == mean_row["bnutils"] == mean_row["CS231n"]
    assert var_row["PyTorch"] == var_row["bnutils"] != var_row["CS231n"]
    # Keras's 0.99 still leans on its initial 0: weight 0.99^30 = 0.74
    stream = tt.make_stream(30, 8, seed=0)
    k = np.arange(1, 31)
    keras_mean = 0.01 * np.sum(0.99 ** (30 - k) * stream.mu_B)
    assert float(mean_row["Keras"]) == pytest.approx(keras_mean, abs=5e-4)
    single = by[rows[-1][""]]
    assert "Expected more than 1 value" in single["PyTorch"]
    assert "simulated" in single["PyTorch"]  # no PyTorch here: say so
    html = tt.conventions_html(rows)
    assert html.count("<tr>") == len(rows) + 1
    assert "<th style='text-align:left'>Keras 3</th>" in html


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


@pytest.mark.parametrize(
    ("beta", "steps", "m", "population"),
    [(0.5, 300, 16, "fixed"), (0.9, 500, 2, "fixed"), (0.99, 500, 2, "fixed"),
     (0.9, 500, 16, "drifting"), (0.9, 40, 8, "fixed")],
)  # fmt: skip
def test_ewma_panel_readout_rms_over_recent_steps(ewma, beta, steps, m, population):
    values = {"ema_beta": beta, "steps": steps, "m": m, "population": population}
    for k, v in values.items():
        ewma.controls[k].value = v
    assert ewma.error is None
    # independent recomputation: the stream, a plain EMA loop, the tail by hand
    stream = tt.make_stream(steps, m, drift=population == "drifting", seed=0)
    n = min(200, steps)
    assert ewma.last["n_tail"] == n
    for key, theta, v0, truth in (
        ("mean", stream.batches.mean(axis=1), 0.0, stream.true_mean),
        ("var", stream.batches.var(axis=1, ddof=1), 1.0, stream.true_var),
    ):
        v, run = v0, []
        for x in theta:
            v = beta * v + (1 - beta) * x
            run.append(v)
        tail = np.array(run[-n:])
        rms = math.sqrt(np.mean((tail - truth[-n:]) ** 2))
        got_rms, got_lo, got_hi = ewma.last["rms"][key]
        assert got_rms == pytest.approx(rms, rel=1e-10)
        assert (got_lo, got_hi) == pytest.approx((tail.min(), tail.max()), rel=1e-12)
        assert f"<b>{rms:.2f}</b>" in ewma.readout.value
    span = f"Over the last {n} steps (t = {steps - n + 1}–{steps})"
    assert span in ewma.readout.value


def test_ewma_panel_small_m_needs_a_long_window(ewma):
    """At m = 2 a 10-batch window still swings far from 4; 100 batches do not."""
    for k, v in {"population": "fixed", "m": 2, "steps": 500}.items():
        ewma.controls[k].value = v
    ewma.controls["ema_beta"].value = 0.9
    short = ewma.last["rms"]["var"]
    ewma.controls["ema_beta"].value = 0.99
    long = ewma.last["rms"]["var"]
    assert short[0] > 2 * long[0] and short[2] - short[1] > 2 * (long[2] - long[1])


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


def test_momentum_panel_best_reading_is_not_the_longest_window():
    """Notebook 06's answer: at 300 steps the PyTorch reading is best near p = 0.03;
    p = 0.01 (ema_beta = 0.99) is still warming up. The Keras reading mirrors it."""
    panel = tt.momentum_panel(steps=300, m=16, seed=1)
    rms = {}
    for p in np.round(np.arange(0.01, 1.0, 0.01), 2):
        panel.controls["p"].value = float(p)
        rms[float(p)] = (panel.last["torch"], panel.last["keras"])
    best_torch = min(rms, key=lambda p: rms[p][0])
    best_keras = min(rms, key=lambda p: rms[p][1])
    assert best_torch == 0.03 and best_keras == 0.97
    assert rms[0.01][0] > 4 * rms[0.03][0]
    assert rms[0.5][0] == pytest.approx(rms[0.5][1], rel=1e-12)


def test_prediction_histograms():
    y = np.repeat(np.arange(10), 3)
    _, _, bars = tt.plot_prediction_histograms(y, np.full(30, 8), y)
    heights = [r.get_height() for r in bars[0]]
    assert heights[8] == 30 and sum(heights) == 30
    assert [r.get_height() for r in bars[1]] == [3] * 10


def test_prediction_histograms_explain_the_marks_on_both_panels():
    y = np.repeat(np.arange(10), 3)
    _, axes, _ = tt.plot_prediction_histograms(y, np.full(30, 8), y)
    for ax in axes:
        legend = ax.get_legend()
        assert legend is not None
        labels = [t.get_text() for t in legend.get_texts()]
        assert sorted(labels) == ["predicted", "true count"]
