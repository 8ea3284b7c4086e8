"""bnutils.demos.activations against closed forms, and its panels without a browser."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from bnutils.demos import activations as act


def _phi(x: float) -> float:
    """Standard normal CDF from math.erf (independent of the module)."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _sigmoid_ref(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


# --------------------------------------------------------------------------
# The sigmoid and its regimes
# --------------------------------------------------------------------------


def test_sigmoid_matches_the_exponential_form_and_never_overflows():
    z = np.linspace(-30.0, 30.0, 1201)
    np.testing.assert_allclose(act.sigmoid(z), _sigmoid_ref(z), rtol=1e-14, atol=1e-16)
    with np.errstate(all="raise"):
        ends = act.sigmoid(np.array([-1e4, 1e4]))
    np.testing.assert_array_equal(ends, [0.0, 1.0])


def test_near_linear_bound_is_where_the_slope_is_80_percent_of_its_maximum():
    a = act.near_linear_bound()
    # independent: s (1 - s) = 0.2  ->  s = (1 + sqrt(0.2)) / 2, z = logit(s)
    s = (1.0 + math.sqrt(0.2)) / 2.0
    assert a == pytest.approx(math.log(s / (1.0 - s)), rel=1e-13)
    slope = lambda z: _sigmoid_ref(z) * (1.0 - _sigmoid_ref(z))  # noqa: E731
    assert slope(a) == pytest.approx(0.2, rel=1e-12)
    assert slope(a - 1e-6) > 0.2 > slope(a + 1e-6)
    # within the region the curve stays close to its tangent line 1/2 + z/4
    z = np.linspace(-a, a, 2001)
    assert np.max(np.abs(_sigmoid_ref(z) - (0.5 + z / 4.0))) < 0.02
    for f in (0.5, 0.95):
        assert slope(act.near_linear_bound(f)) == pytest.approx(f / 4.0, rel=1e-12)


def test_saturation_bound_gives_outputs_0_05_and_0_95():
    b = act.saturation_bound()
    assert b == pytest.approx(math.log(19.0), rel=1e-15)
    assert _sigmoid_ref(b) == pytest.approx(0.95, rel=1e-14)
    assert _sigmoid_ref(-b) == pytest.approx(0.05, rel=1e-13)
    assert _sigmoid_ref(act.saturation_bound(0.01)) == pytest.approx(0.99, rel=1e-14)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5])
def test_near_linear_bound_rejects_fractions_outside_0_1(bad):
    with pytest.raises(ValueError, match="slope_fraction"):
        act.near_linear_bound(bad)


@pytest.mark.parametrize("bad", [0.0, 0.5, 0.7, -0.1])
def test_saturation_bound_rejects_levels_outside_0_half(bad):
    with pytest.raises(ValueError, match="level"):
        act.saturation_bound(bad)


def test_regime_shares_counts_each_value_once():
    a, b = act.near_linear_bound(), act.saturation_bound()
    z = np.array([0.0, a * 0.999, -a * 1.001, 2.0, -b * 1.001, b * 1.001, 10.0, -0.5])
    shares = act.regime_shares(z)
    assert shares == {"near_linear": 3 / 8, "curved": 2 / 8, "saturated": 3 / 8}


@pytest.mark.parametrize(
    ("gamma", "beta"), [(1.0, 0.0), (0.5, 0.0), (2.0, 0.0), (3.0, 2.0), (1.0, -3.0)]
)
def test_regime_shares_of_normalized_gaussian_match_the_normal_cdf(gamma, beta):
    """Z_tilde = gamma * Z_norm + beta is close to N(beta, gamma^2): the sampled
    shares agree with the closed form within sampling error."""
    n = 100_000
    rng = np.random.default_rng(123)
    z = 7.0 + 3.0 * rng.standard_normal(n)
    z_norm = (z - z.mean()) / z.std()
    shares = act.regime_shares(gamma * z_norm + beta)
    a, b = act.near_linear_bound(), act.saturation_bound()
    near = _phi((a - beta) / gamma) - _phi((-a - beta) / gamma)
    sat = 1.0 - (_phi((b - beta) / gamma) - _phi((-b - beta) / gamma))
    for got, want in ((shares["near_linear"], near), (shares["saturated"], sat)):
        se = math.sqrt(want * (1.0 - want) / n) + 1e-12
        assert abs(got - want) < 5.0 * se + 1e-4, (got, want)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-15)


def test_regime_shares_rejects_empty_and_nan():
    with pytest.raises(ValueError, match="empty"):
        act.regime_shares(np.array([]))
    with pytest.raises(ValueError, match="NaN"):
        act.regime_shares(np.array([0.0, np.nan]))


# --------------------------------------------------------------------------
# The running example and one-unit normalization
# --------------------------------------------------------------------------


def test_example_preactivations_shape_seed_and_scales():
    Z = act.example_preactivations()
    assert Z.shape == (4, 8) and Z.dtype == np.float64
    np.testing.assert_array_equal(Z, act.example_preactivations())
    assert not np.array_equal(Z, act.example_preactivations(seed=1))
    big = act.example_preactivations(m=20_000, seed=3)
    se_mean = act.UNIT_STDS[:, 0] / math.sqrt(20_000)
    assert np.all(np.abs(big.mean(axis=1) - act.UNIT_MEANS[:, 0]) < 5 * se_mean)
    np.testing.assert_allclose(big.std(axis=1), act.UNIT_STDS[:, 0], rtol=0.03)
    # "very different": the spreads span two orders of magnitude
    assert act.UNIT_STDS.max() / act.UNIT_STDS.min() >= 100
    with pytest.raises(ValueError, match="m must be"):
        act.example_preactivations(m=1)


def test_normalize_one_unit_matches_the_formula():
    z = np.array([3.0, -1.0, 4.0, 1.5, -9.0, 2.6])
    eps = 1e-5
    mu = sum(z) / len(z)
    var = sum((v - mu) ** 2 for v in z) / len(z)
    want = np.array([(v - mu) / math.sqrt(var + eps) for v in z])
    np.testing.assert_allclose(act.normalize_one_unit(z), want, rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="shape"):
        act.normalize_one_unit(z.reshape(2, 3))


def test_plot_units_before_after_draws_every_value():
    Z = act.example_preactivations()
    Z_norm = (Z - Z.mean(axis=1, keepdims=True)) / Z.std(axis=1, keepdims=True)
    fig, axes = act.plot_units_before_after(Z, Z_norm)
    for ax, values in zip(axes, (Z, Z_norm), strict=True):
        (points,) = ax.collections
        offsets = np.asarray(points.get_offsets())
        np.testing.assert_array_equal(offsets[:, 0], values.ravel())
        # row j of the array is drawn at height j (unit j + 1)
        np.testing.assert_array_equal(offsets[:, 1], np.repeat(np.arange(4), 8))
        assert ax.get_title() and ax.get_xlabel()
    with pytest.raises(ValueError, match="shape"):
        act.plot_units_before_after(Z, Z_norm[:, :3])
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------------------
# Panel 1: gamma and beta of a unit feeding a sigmoid
# --------------------------------------------------------------------------


def _heights(hist):
    return np.asarray(hist.get_data().values, dtype=float)


def _lefts_widths(hist):
    edges = np.asarray(hist.get_data().edges, dtype=float)
    return edges[:-1], np.diff(edges)


def _shares_from_readout(text):
    found = re.findall(r"<b>([0-9.]+) %</b>", text)
    assert len(found) == 3, text
    return [float(v) / 100 for v in found]


@pytest.fixture(scope="module")
def regimes_panel():
    return act.sigmoid_regimes_panel()


def test_regimes_panel_bars_follow_the_sliders(regimes_panel):
    p = regimes_panel
    bars_z, bars_a = p.artists["hist_z"], p.artists["hist_a"]
    z_norm, edges_out = p.data["z_norm"], p.data["edges_out"]
    m = z_norm.size
    p.controls["gamma"].value, p.controls["beta"].value = 1.0, 0.0
    h_z, h_a = _heights(bars_z), _heights(bars_a)
    x_z, w_z = _lefts_widths(bars_z)

    p.controls["gamma"].value = 2.0
    assert p.error is None
    # affine map: same counts, bins twice as wide, densities halved
    np.testing.assert_allclose(_heights(bars_z), h_z / 2.0, rtol=1e-13)
    np.testing.assert_allclose(_lefts_widths(bars_z)[1], 2.0 * w_z, rtol=1e-13)
    assert not np.array_equal(_heights(bars_a), h_a)

    p.controls["beta"].value = 3.0
    assert p.error is None
    np.testing.assert_allclose(_lefts_widths(bars_z)[0], 2.0 * x_z + 3.0, atol=1e-12)
    # the output histogram is the histogram of sigmoid(2 z_norm + 3)
    counts, _ = np.histogram(_sigmoid_ref(2.0 * z_norm + 3.0), bins=edges_out)
    np.testing.assert_allclose(_heights(bars_a), 100.0 * counts / m, rtol=1e-13)
    p.controls["gamma"].value, p.controls["beta"].value = 1.0, 0.0


@pytest.mark.parametrize("gamma", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("beta", [-5.0, 0.0, 5.0])
def test_regimes_panel_extremes_are_finite_normalized_and_error_free(
    regimes_panel, gamma, beta
):
    p = regimes_panel
    p.controls["gamma"].value = gamma
    p.controls["beta"].value = beta
    assert p.error is None
    h_z, h_a = _heights(p.artists["hist_z"]), _heights(p.artists["hist_a"])
    _, w_z = _lefts_widths(p.artists["hist_z"])
    assert np.all(np.isfinite(h_z)) and np.all(np.isfinite(h_a))
    assert np.sum(h_z * w_z) == pytest.approx(1.0, rel=1e-12)  # a density
    assert np.sum(h_a) == pytest.approx(100.0, rel=1e-12)  # every value in [0, 1]
    ylo, yhi = p.artists["ax_z"].get_ylim()
    assert ylo == 0.0 and yhi >= h_z.max()
    assert p.artists["ax_a"].get_ylim()[1] >= h_a.max()
    near, curved, sat = _shares_from_readout(p.readout.value)
    assert near + curved + sat == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize(("gamma", "beta"), [(1.0, 0.0), (3.0, 0.0), (1.0, 3.0)])
def test_regimes_panel_readout_matches_the_gaussian_closed_form(
    regimes_panel, gamma, beta
):
    p = regimes_panel
    p.controls["gamma"].value = gamma
    p.controls["beta"].value = beta
    near, _, sat = _shares_from_readout(p.readout.value)
    m = p.data["z_norm"].size
    a, b = act.near_linear_bound(), act.saturation_bound()
    want_near = _phi((a - beta) / gamma) - _phi((-a - beta) / gamma)
    want_sat = 1.0 - (_phi((b - beta) / gamma) - _phi((-b - beta) / gamma))
    for got, want in ((near, want_near), (sat, want_sat)):
        se = math.sqrt(want * (1.0 - want) / m)
        assert abs(got - want) < 5.0 * se + 1e-3, (got, want)


def test_regimes_panel_lecture_point():
    """gamma=1, beta=0 keeps most values near-linear; a larger gamma uses the
    non-linearity."""
    p = act.sigmoid_regimes_panel(m=500, seed=4)
    near_default = _shares_from_readout(p.readout.value)[0]
    assert near_default > 0.6 and "mostly linear" in p.readout.value
    p.controls["gamma"].value = 3.0
    assert _shares_from_readout(p.readout.value)[0] < 0.35
    assert "non-linearity is at work" in p.readout.value


def test_linearity_r2_matches_a_least_squares_line():
    rng = np.random.default_rng(3)
    for gamma, beta in [(0.1, 2.0), (1.0, 0.0), (3.0, 1.0)]:
        z = gamma * rng.standard_normal(500) + beta
        a = _sigmoid_ref(z)
        coef = np.polyfit(z, a, 1)
        resid = a - np.polyval(coef, z)
        want = 1.0 - np.sum(resid**2) / np.sum((a - a.mean()) ** 2)
        assert act.linearity_r2(z) == pytest.approx(want, abs=1e-10)
    assert act.linearity_r2(np.full(5, 0.3)) == 1.0  # constant: linear
    for bad in ([1.0], [0.0, np.nan]):
        with pytest.raises(ValueError, match="at least 2 finite values"):
            act.linearity_r2(bad)


def _r2_from_readout(text):
    found = re.findall(r"R² = <b>([0-9.]+)</b>", text)
    assert len(found) == 1, text
    return float(found[0])


def test_regimes_panel_never_calls_a_nearly_linear_unit_non_linear(regimes_panel):
    """The reviewer's setting: gamma 0.1, beta 2 puts every value in the curved
    region, yet over a spread of 0.1 the sigmoid is a straight line."""
    p = regimes_panel
    z_norm = p.data["z_norm"]
    p.controls["gamma"].value, p.controls["beta"].value = 0.1, 2.0
    text = p.readout.value
    _, curved, _ = _shares_from_readout(text)
    assert curved > 0.99  # where the values sit: all "curved" ...
    r2 = _r2_from_readout(text)
    assert r2 == pytest.approx(act.linearity_r2(0.1 * z_norm + 2.0), abs=1e-3)
    assert r2 > 0.99  # ... yet measurably linear
    assert "narrow spread" in text and "straight line" in text
    assert "non-linearity is at work" not in text
    # A spread-out unit in the bend is non-linear, measurably.
    p.controls["gamma"].value, p.controls["beta"].value = 3.0, 0.0
    assert _r2_from_readout(p.readout.value) < act.CURVED_R2
    assert "non-linearity is at work" in p.readout.value
    # The default: mostly linear, not "at work".
    p.controls["gamma"].value, p.controls["beta"].value = 1.0, 0.0
    assert act.CURVED_R2 <= _r2_from_readout(p.readout.value) < act.LINEAR_R2
    assert "mostly linear" in p.readout.value
    # Saturation wins over everything else.
    p.controls["beta"].value = 5.0
    assert "mostly saturated" in p.readout.value


@pytest.mark.parametrize("gamma", [0.1, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("beta", [-5.0, -2.0, 0.0, 2.0, 5.0])
def test_regimes_panel_verdict_agrees_with_the_measured_linearity(
    regimes_panel, gamma, beta
):
    p = regimes_panel
    p.controls["gamma"].value, p.controls["beta"].value = gamma, beta
    text = p.readout.value
    r2 = act.linearity_r2(gamma * p.data["z_norm"] + beta)
    if "non-linearity is at work" in text:
        assert r2 < act.CURVED_R2
    if r2 >= act.LINEAR_R2:
        assert "non-linearity" not in text.split("→")[-1]
    p.controls["gamma"].value, p.controls["beta"].value = 1.0, 0.0


# --------------------------------------------------------------------------
# Panel 2: batch coupling
# --------------------------------------------------------------------------


def _norm_ref(z, eps=1e-5):
    return (z - z.mean()) / np.sqrt(np.mean((z - z.mean()) ** 2) + eps)


def _stem_tops(collection):
    return np.array([seg[1, 1] for seg in collection.get_segments()])


def test_coupling_panel_moves_every_normalized_value():
    p = act.batch_coupling_panel()
    z_start, norm_start = p.data["z_start"], p.data["norm_start"]
    m = z_start.size
    assert m == 8
    np.testing.assert_allclose(norm_start, _norm_ref(z_start), rtol=1e-12)
    np.testing.assert_allclose(
        _stem_tops(p.artists["stems_norm"]), norm_start, rtol=1e-12
    )
    assert "change +0.000" in p.readout.value

    p.controls["z1"].value = 9.0
    assert p.error is None
    z = z_start.copy()
    z[0] = 9.0
    want = _norm_ref(z)
    tops = _stem_tops(p.artists["stems_norm"])
    np.testing.assert_allclose(tops, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_stem_tops(p.artists["stems_raw"]), z, rtol=1e-15)
    # every example's normalized value moved, though only z(1) changed
    assert np.all(np.abs(tops - norm_start) > 1e-6)
    assert p.artists["point2_norm"].get_ydata()[0] == pytest.approx(want[1], rel=1e-12)
    np.testing.assert_allclose(
        p.artists["others_norm"].get_ydata(), want[2:], rtol=1e-12
    )
    assert p.artists["mu_line"].get_ydata()[0] == pytest.approx(z.mean(), rel=1e-13)
    assert f"change {want[1] - norm_start[1]:+.3f}" in p.readout.value
    assert f"{m - 1} of the other {m - 1}" in p.readout.value


@pytest.mark.parametrize("z1", [-10.0, 10.0])
def test_coupling_panel_extremes(z1):
    p = act.batch_coupling_panel()
    slider = p.controls["z1"]
    assert slider.min == -10.0 and slider.max == 10.0
    slider.value = z1
    assert p.error is None
    tops = _stem_tops(p.artists["stems_norm"])
    assert tops.size == 8 and np.all(np.isfinite(tops))
    # with m = 8 no normalized value can exceed sqrt(m - 1) in magnitude
    assert np.max(np.abs(tops)) <= math.sqrt(7) + 1e-12
    lo, hi = p.fig.axes[1].get_ylim()
    assert lo <= tops.min() and tops.max() <= hi


def test_coupling_panel_needs_three_examples():
    with pytest.raises(ValueError, match="m must be"):
        act.batch_coupling_panel(m=2)
