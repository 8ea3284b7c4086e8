"""Tests for bnutils.demos.inputs: gradient descent on raw vs normalized inputs.

References are independent of the module: least squares (np.linalg.lstsq), the
loss and its derivatives by finite differences of the plain MSE formula, and
gradient descent written out on the data.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnutils.demos import inputs


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def mse(w, X, y):
    """The loss written directly on the data: 1/(2m) sum (w . x_i - y_i)^2."""
    r = w @ X - y
    return float(r @ r) / (2 * X.shape[1])


def mse_grad(w, X, y):
    return X @ (w @ X - y) / X.shape[1]


def problem(ratio, normalized=False, m=200, seed=0):
    X, y = inputs.make_two_scale_data(m=m, ratio=ratio, seed=seed)
    if normalized:
        X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    return X, y


# --------------------------------------------------------------------------- data


def test_data_has_the_promised_scales_and_shared_targets():
    X1, y1 = inputs.make_two_scale_data(m=300, ratio=1.0, seed=3)
    X50, y50 = inputs.make_two_scale_data(m=300, ratio=50.0, seed=3)
    assert X50.shape == (2, 300) and y50.shape == (300,)
    np.testing.assert_allclose(X50.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(X50.std(axis=1), [1.0, 50.0], rtol=1e-12)
    # Same targets and same information: only the unit of feature 2 changed.
    np.testing.assert_array_equal(y1, y50)
    np.testing.assert_allclose(X50[1], 50.0 * X1[1], rtol=1e-14)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 0.0},
        {"ratio": -2.0},
        {"ratio": np.inf},
        {"m": 2},
        {"noise": -1.0},
        {"weights": (1.0, 2.0, 3.0)},
    ],
)
def test_data_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        inputs.make_two_scale_data(**kwargs)


def test_train_test_shift_moves_only_the_test_batch():
    means = (3.0, 80.0)
    Xtr, ytr, Xte, yte = inputs.make_train_test(
        ratio=10.0, means=means, m_test=4000, seed=1
    )
    assert Xte.shape == (2, 4000) and yte.shape == (4000,)
    # The training set: the given means and scales exactly, the same data as
    # make_two_scale_data shifted by the means.
    np.testing.assert_allclose(Xtr.mean(axis=1), means, rtol=1e-12)
    np.testing.assert_allclose(Xtr.std(axis=1), [1.0, 10.0], rtol=1e-12)
    X0, y0 = inputs.make_two_scale_data(ratio=10.0, seed=1)
    np.testing.assert_allclose(Xtr, X0 + np.array([[3.0], [80.0]]), rtol=1e-14)
    np.testing.assert_array_equal(ytr, y0)
    # Test feature 1 is centred two standard deviations up, feature 2 at its mean.
    assert abs((Xte[0].mean() - 3.0) - 2.0) < 0.1
    assert abs((Xte[1].mean() - 80.0) / 10.0) < 0.1
    np.testing.assert_allclose(Xte.std(axis=1), [1.0, 10.0], rtol=0.05)
    # Targets follow the same rule: y - (z1 + 0.5 z2) is noise of std 0.5.
    z = (Xte - np.array([[3.0], [80.0]])) / np.array([[1.0], [10.0]])
    resid = yte - np.array(inputs.DEFAULT_WEIGHTS) @ z
    assert abs(resid.std() - 0.5) < 0.03 and abs(resid.mean()) < 0.03


@pytest.mark.parametrize(
    "kwargs", [{"means": (1.0,)}, {"test_shift": (np.nan, 0.0)}, {"m_test": 0}]
)
def test_train_test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        inputs.make_train_test(**kwargs)


# ---------------------------------------------------------------- the quadratic


@pytest.mark.parametrize("ratio", [1.0, 7.0, 100.0])
def test_quadratic_matches_the_loss_on_the_data(ratio):
    X, y = problem(ratio)
    quad = inputs.quadratic_from_data(X, y)
    # Optimum against least squares.
    w_ls = np.linalg.lstsq(X.T, y, rcond=None)[0]
    np.testing.assert_allclose(quad.w_star, w_ls, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(quad.loss_star, mse(w_ls, X, y), rtol=1e-10)
    rng = np.random.default_rng(0)
    W = quad.w_star + rng.normal(size=(5, 2))
    direct = np.array([mse(w, X, y) for w in W])
    np.testing.assert_allclose(quad.loss(W), direct, rtol=1e-10)
    np.testing.assert_allclose(quad.excess(W), direct - quad.loss_star, rtol=1e-8)
    np.testing.assert_allclose(
        quad.grad(W), np.array([mse_grad(w, X, y) for w in W]), rtol=1e-10
    )


def test_gradient_matches_centred_differences():
    X, y = problem(5.0)
    quad = inputs.quadratic_from_data(X, y)
    w = np.array([0.3, -0.7])
    h = 1e-6
    fd = np.array(
        [(mse(w + h * e, X, y) - mse(w - h * e, X, y)) / (2 * h) for e in np.eye(2)]
    )
    np.testing.assert_allclose(quad.grad(w), fd, rtol=1e-7)


@pytest.mark.parametrize("ratio", [1.0, 10.0, 100.0])
def test_hessian_eigenvalues_and_stable_rate_from_finite_differences(ratio):
    X, y = problem(ratio)
    quad = inputs.quadratic_from_data(X, y)
    # Hessian by centred differences of the gradient written on the data (exact
    # up to rounding for a quadratic).
    w, h = np.zeros(2), 1e-3
    H = np.column_stack(
        [
            (mse_grad(w + h * e, X, y) - mse_grad(w - h * e, X, y)) / (2 * h)
            for e in np.eye(2)
        ]
    )
    lam = np.sort(np.linalg.eigvals(H).real)
    np.testing.assert_allclose(quad.eigvals, lam, rtol=1e-8)
    np.testing.assert_allclose(inputs.largest_stable_lr(quad), 2 / lam[-1], rtol=1e-8)
    # With (nearly) uncorrelated features, lambda_max ~ ratio^2 for large ratios.
    if ratio >= 10:
        assert abs(lam[-1] / ratio**2 - 1) < 0.01


@pytest.mark.parametrize("ratio", [1.0, 10.0, 100.0])
def test_stability_threshold_2_over_lambda_max(ratio):
    X, y = problem(ratio)
    quad = inputs.quadratic_from_data(X, y)
    lr_max = inputs.largest_stable_lr(quad)
    w0 = np.zeros(2)
    gap0 = mse(w0, X, y) - quad.loss_star

    def run(lr, steps=3000):
        w = w0.copy()
        for _ in range(steps):
            w = w - lr * mse_grad(w, X, y)
        return mse(w, X, y) - quad.loss_star

    assert run(0.99 * lr_max) < 0.5 * gap0  # converges (slowly at ratio 100)
    assert run(1.01 * lr_max) > 1e3 * gap0  # diverges
    # Just below the limit the fast direction still shrinks, whatever the ratio.
    below = inputs.gd_excess_closed_form(quad, w0, 0.99 * lr_max, 200)
    assert np.all(np.diff(below) <= 0)
    above = inputs.gd_excess_closed_form(quad, w0, 1.01 * lr_max, 2000)
    assert above[-1] > 10 * above[0]


def test_gd_path_matches_gd_written_on_the_data_and_the_closed_form():
    X, y = problem(10.0)
    quad = inputs.quadratic_from_data(X, y)
    w0 = np.zeros(2)
    lr = 0.7 * inputs.largest_stable_lr(quad)
    path = inputs.gd_path(quad, w0, lr, 60)
    assert path.shape == (61, 2)
    w = w0.copy()
    for k in range(1, 61):
        w = w - lr * mse_grad(w, X, y)
        np.testing.assert_allclose(path[k], w, rtol=1e-10, atol=1e-12)
    excess = np.array([mse(p, X, y) for p in path]) - quad.loss_star
    closed = inputs.gd_excess_closed_form(quad, w0, lr, 60)
    np.testing.assert_allclose(closed, excess, rtol=1e-7, atol=1e-12)


def brute_force_steps(X, y, w0, lr, rel_tol=0.01, max_steps=5000):
    """First k with J(w_k) <= (1 + rel_tol) J(w*), by plain GD on the data."""
    w_ls = np.linalg.lstsq(X.T, y, rcond=None)[0]
    target = (1 + rel_tol) * mse(w_ls, X, y)
    w = np.array(w0, float)
    for k in range(max_steps + 1):
        if mse(w, X, y) <= target:
            return k
        w = w - lr * mse_grad(w, X, y)
    return None


@pytest.mark.parametrize(
    ("ratio", "fraction", "normalized"),
    [
        (1.0, 0.5, False),
        (3.0, 0.5, False),
        (10.0, 0.3, False),
        (10.0, 0.9, False),
        (30.0, 0.5, True),
        (30.0, 0.05, True),
    ],
)
def test_steps_to_tolerance_three_ways_agree(ratio, fraction, normalized):
    X, y = problem(ratio, normalized)
    quad = inputs.quadratic_from_data(X, y)
    w0 = np.zeros(2)
    lr = fraction * inputs.largest_stable_lr(quad)
    expected = brute_force_steps(X, y, w0, lr)
    assert expected is not None
    assert inputs.steps_to_tolerance(quad, w0, lr) == expected
    measured = inputs.measure_steps_to_tolerance([quad], w0[None], [lr])
    assert measured.tolist() == [expected]


def test_steps_to_tolerance_reports_no_convergence():
    quad = inputs.quadratic_from_data(*problem(10.0))
    w0 = np.zeros(2)
    lr_max = inputs.largest_stable_lr(quad)
    assert inputs.steps_to_tolerance(quad, w0, 1.0 * lr_max) is None
    assert inputs.steps_to_tolerance(quad, w0, 1.1 * lr_max) is None
    assert inputs.steps_to_tolerance(quad, w0, 0.5 * lr_max, max_steps=10) is None
    assert inputs.steps_to_tolerance(quad, quad.w_star, 0.5 * lr_max) == 0
    out = inputs.measure_steps_to_tolerance(
        [quad], w0[None], [1.1 * lr_max], max_steps=300
    )
    assert out.tolist() == [-1]


def test_measured_stable_rate_matches_closed_form():
    quads = [
        inputs.quadratic_from_data(*problem(r, n))
        for r in (1.0, 20.0, 100.0)
        for n in (False, True)
    ]
    w0s = np.zeros((len(quads), 2))
    measured = inputs.measure_largest_stable_lr(quads, w0s)
    closed = np.array([inputs.largest_stable_lr(q) for q in quads])
    np.testing.assert_allclose(measured, closed, rtol=2e-3)


# ------------------------------------------------------------------- the sweep


@pytest.fixture(scope="module")
def sweep():
    return inputs.scale_ratio_sweep(ratios=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0])


def test_sweep_steps_grow_for_raw_and_stay_flat_for_normalized(sweep):
    raw, norm = sweep.steps_raw, sweep.steps_norm
    assert np.all(raw > 0) and np.all(norm > 0)
    assert np.all(np.diff(raw) > 0)  # strictly more steps as the ratio grows
    assert np.all(norm == norm[0])  # the normalized problem is the same one
    assert raw[0] == norm[0]  # at ratio 1 the raw features are already normalized
    # Growth like kappa ~ ratio^2: doubling the ratio multiplies steps by ~4.
    growth = raw[2:] / raw[1:-1]
    np.testing.assert_allclose(growth, 4.0, rtol=0.1)
    np.testing.assert_allclose(
        sweep.kappa_raw[-1] / sweep.ratios[-1] ** 2, 1.0, rtol=0.02
    )


def test_sweep_stable_rates(sweep):
    np.testing.assert_allclose(sweep.lr_max_raw_measured, sweep.lr_max_raw, rtol=2e-3)
    np.testing.assert_allclose(sweep.lr_max_norm_measured, sweep.lr_max_norm, rtol=2e-3)
    np.testing.assert_allclose(sweep.lr_max_norm, sweep.lr_max_norm[0], rtol=1e-12)
    assert np.all(np.diff(sweep.lr_max_raw) < 0)
    table = inputs.sweep_table(sweep)
    lines = table.splitlines()
    assert len(lines) == 2 + sweep.ratios.size
    for word in ("steps raw", "steps norm", "raw 2/λmax", "raw trial", "norm trial"):
        assert word in lines[0]
    # every row holds the sweep's numbers, formula before trial
    last = lines[-1].replace("|", " ").split()
    assert int(last[1]) == sweep.steps_raw[-1] and int(last[2]) == sweep.steps_norm[-1]
    assert float(last[3]) == pytest.approx(sweep.lr_max_raw[-1], rel=1e-3)
    assert float(last[4]) == pytest.approx(sweep.lr_max_raw_measured[-1], rel=1e-3)


def test_sweep_figure_draws_the_measurements(sweep):
    _, (ax1, ax2) = inputs.sweep_figure(sweep)
    ys = [line.get_ydata() for line in ax1.get_lines()]
    assert any(np.array_equal(y, sweep.steps_raw) for y in ys)
    assert ax1.get_xlabel() and ax1.get_ylabel() and ax1.get_title()
    assert ax2.get_legend() is not None


def test_sweep_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        inputs.scale_ratio_sweep(ratios=[1.0, -3.0])
    with pytest.raises(ValueError, match="lr_fraction"):
        inputs.scale_ratio_sweep(ratios=[1.0], lr_fraction=1.5)


# ------------------------------------------------------------------ the panel


def _path_data(panel):
    return [np.column_stack(line.get_data()) for line in panel_lines(panel)]


def panel_lines(panel):
    return [ax.get_lines()[0] for ax in panel.fig.axes]


def test_panel_controls_change_the_plotted_data():
    panel = inputs.landscape_panel()
    assert panel.error is None and panel.readout.value
    before = _path_data(panel)
    contour_before = panel.fig.axes[0].collections[-1]
    panel.controls["ratio"].value = 100.0
    after = _path_data(panel)
    assert panel.error is None
    assert not np.array_equal(before[0], after[0])  # raw path moved
    np.testing.assert_allclose(before[1], after[1])  # normalized: same problem
    assert panel.fig.axes[0].collections[-1] is not contour_before
    panel.controls["lr_fraction"].value = 0.9
    again = _path_data(panel)
    assert not np.array_equal(after[0], again[0])
    assert not np.array_equal(after[1], again[1])
    assert "0.90" in panel.readout.value


def test_panel_every_slider_extreme_gives_finite_data():
    panel = inputs.landscape_panel()
    r, f = panel.controls["ratio"], panel.controls["lr_fraction"]
    for ratio in (10**r.min, 10**r.max):
        for frac in (f.min, f.max):
            r.value, f.value = ratio, frac
            assert panel.error is None
            for data, ax in zip(_path_data(panel), panel.fig.axes, strict=True):
                assert data.shape[0] >= 2 and np.all(np.isfinite(data))
                # A diverging path is cut near the picture, not drawn to 1e12.
                center = [np.mean(ax.get_xlim()), np.mean(ax.get_ylim())]
                width = np.ptp(ax.get_xlim())
                assert np.all(np.abs(data - center) < 20 * width)
            for ax in panel.fig.axes:
                assert len(ax.collections) == 1  # one contour set, not a pile
                assert np.all(np.isfinite(ax.get_xlim()))
    # Past the limit the readout says that gradient descent never gets there.
    assert f.value > 1.0 and "never" in panel.readout.value


def test_landscape_figure_draws_the_given_paths():
    X, y = problem(30.0)
    Xn, _ = problem(30.0, normalized=True)
    paths = [np.array([[0.0, 0.0], [0.5, 0.01], [0.8, 0.02]]), np.zeros((4, 2))]
    _, axes = inputs.landscape_figure(X, Xn, y, *paths)
    assert len(axes) == 2
    for ax, path, data in zip(axes, paths, (X, Xn), strict=True):
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        np.testing.assert_array_equal(
            np.column_stack(ax.get_lines()[0].get_data()), path
        )
        # the window is centred on the least-squares minimum of that data
        w_ls = np.linalg.lstsq(data.T, y, rcond=None)[0]
        np.testing.assert_allclose(
            [np.mean(ax.get_xlim()), np.mean(ax.get_ylim())], w_ls, rtol=1e-10
        )
        assert len(ax.collections) == 1  # one contour set
    assert "first 2 GD steps" in axes[0].get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="path"):
        inputs.landscape_figure(X, Xn, y, np.zeros(3), np.zeros((2, 2)))
