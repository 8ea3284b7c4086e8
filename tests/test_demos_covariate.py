"""bnutils.demos.covariate (notebook 05) against independent references, and its
panels without a browser."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnutils.data import load_mnist, shifted_cats
from bnutils.demos import covariate as demo
from bnutils.layers import batchnorm_forward
from bnutils.network import Network
from bnutils.optim import GD
from bnutils.train import train


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-300))


def _percentiles_by_hand(U, q=(15, 50, 85)):
    """Linear interpolation between order statistics, one row at a time."""
    out = np.empty((U.shape[0], len(q)))
    for k, row in enumerate(U):
        s = sorted(row)
        for j, pct in enumerate(q):
            h = (len(s) - 1) * pct / 100
            lo = math.floor(h)
            hi = min(lo + 1, len(s) - 1)
            out[k, j] = s[lo] + (h - lo) * (s[hi] - s[lo])
    return out


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------
# 1. Covariate shift toy
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clf():
    return demo.fit_cat_classifier()


def test_classifier_learns_the_training_distribution(clf):
    assert clf.X_train.shape == (2, 400)
    assert clf.accuracy(clf.X_train, clf.y_train) > 0.97


def test_learned_boundary_is_where_both_classes_are_equally_likely(clf):
    colour = np.linspace(-3, 7, 11)
    X = np.vstack([colour, clf.boundary(colour)])
    probs = clf.net.forward(X, training=False)
    assert np.max(np.abs(probs - 0.5)) < 1e-10


def test_accuracy_falls_with_the_shift_while_the_rule_stays(clf):
    shifts = np.linspace(0.0, 4.0, 21)
    acc = demo.shift_accuracy(clf, shifts, m=2000, seed=1)
    assert acc.shape == (21,)
    # Independent labels: the fixed rule "cat if shape > 0.25 * colour^2".
    for s, a in zip(shifts[::5], acc[::5], strict=True):
        X, y = shifted_cats(m=2000, shift=float(s), seed=1)
        rule = (X[1] > 0.25 * X[0] ** 2).astype(int)
        assert np.array_equal(y, rule)
        assert a == pytest.approx(np.mean(clf.predict(X) == rule), abs=1e-12)
    assert acc[0] > 0.97
    assert acc[-1] < 0.7
    rises = np.diff(acc)
    assert np.all(rises < 0.015), "accuracy should fall (up to sampling noise)"
    assert np.sum(rises > 0) <= 3
    assert acc[-1] < acc[10] < acc[0]


def test_shift_accuracy_rejects_bad_shifts(clf):
    with pytest.raises(ValueError, match="finite"):
        demo.shift_accuracy(clf, [0.0, np.nan])


def test_covariate_panel_follows_the_slider(clf):
    panel = demo.covariate_shift_panel(clf, max_shift=4.0)
    assert panel.error is None
    marker = panel.artists["marker"]
    cats = panel.artists["cats"]
    before_pts = cats.get_offsets().copy()
    before_acc = marker.get_ydata()[0]
    panel.controls["shift"].value = 3.0
    assert panel.error is None
    assert not np.array_equal(cats.get_offsets(), before_pts)
    after_acc = marker.get_ydata()[0]
    assert after_acc < before_acc - 10  # percent
    # the marker sits on the accuracy of the test set at that shift
    X, y = shifted_cats(m=600, shift=3.0, seed=1)
    assert after_acc == pytest.approx(100 * np.mean(clf.predict(X) == y))
    assert "3.0" in panel.readout.value and "same rule: yes" in panel.readout.value


@pytest.mark.parametrize("attr", ["min", "max"])
def test_covariate_panel_extremes_are_finite(clf, attr):
    panel = demo.covariate_shift_panel(clf)
    slider = panel.controls["shift"]
    slider.value = getattr(slider, attr) + (0.1 if attr == "min" else 0.0)
    slider.value = getattr(slider, attr)
    assert panel.error is None
    for key in ("cats", "others"):
        pts = np.asarray(panel.artists[key].get_offsets())
        assert pts.size > 0 and np.all(np.isfinite(pts))
    assert np.all(np.isfinite(panel.artists["marker"].get_ydata()))
    assert np.all(np.isfinite(panel.data["curve"]))


# --------------------------------------------------------------------------
# 2. Figure 1 on a tiny schedule
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():
    return load_mnist(n_train=600, n_test=200, seed=0)


@pytest.fixture(scope="module")
def tiny_runs(small_data):
    return demo.figure1_runs(
        kinds=("plain", "bn", "noisy"),
        steps=150,
        eval_every=25,
        data=small_data,
        progress=False,
        verbose=False,
    )


def test_figure1_network_matches_the_paper():
    net = demo.figure1_network("bn", seed=3)
    assert net.layer_sizes == (784, 100, 100, 100, 10)
    assert net.activation == "sigmoid" and net.batchnorm
    plain = demo.figure1_network("plain", seed=3)
    assert not plain.batchnorm
    # same initial W for both; std close to 0.05
    assert np.array_equal(net.params["W1"], plain.params["W1"])
    assert abs(np.std(net.params["W1"]) - 0.05) < 0.001
    with pytest.raises(ValueError, match="kind"):
        demo.figure1_network("dropout")


def test_figure1_run_is_deterministic(small_data, tiny_runs):
    again = demo.train_figure1(
        "bn", steps=150, eval_every=25, data=small_data, progress=False, verbose=False
    )
    ref = tiny_runs["bn"]
    assert np.array_equal(again.test_acc, ref.test_acc)
    assert np.array_equal(again.unit_inputs[3], ref.unit_inputs[3])


def test_percentiles_are_ordered_and_computed_over_the_probe(tiny_runs):
    for h in tiny_runs.values():
        assert h.step.tolist() == [0, 25, 50, 75, 100, 125, 150]
        for layer in (1, 2, 3):
            p = h.percentiles[layer]
            assert p.shape == (7, 3)
            assert np.all(p[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= p[:, 2])
            ref = _percentiles_by_hand(h.unit_inputs[layer])
            assert _rel(p, ref) < 1e-12


def test_bn_keeps_the_last_layer_input_steadier(tiny_runs):
    plain = demo.percentile_drift(tiny_runs["plain"].percentiles[3])
    bn = demo.percentile_drift(tiny_runs["bn"].percentiles[3])
    assert plain["mean_change"] > 1.3 * bn["mean_change"]
    assert abs(plain["median_shift"]) > 2 * abs(bn["median_shift"])
    # BN trains faster on this schedule
    assert tiny_runs["bn"].test_acc[-1] > tiny_runs["plain"].test_acc[-1] + 0.3


def test_percentile_drift_on_constructed_data():
    p = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.5, 2.0], [-1.0, 3.0, 5.0]])
    d = demo.percentile_drift(p)
    assert d["first"] == (-1.0, 0.0, 1.0) and d["last"] == (-1.0, 3.0, 5.0)
    assert d["median_shift"] == 3.0
    assert d["spread_first"] == 2.0 and d["spread_last"] == 6.0
    assert d["spread_ratio"] == 3.0
    # |moves|: (1, .5, 1) then (1, 2.5, 3): mean 9 / 6
    assert d["mean_change"] == pytest.approx(1.5, abs=1e-15)
    steady = demo.percentile_drift(np.tile([-1.0, 0.0, 1.0], (5, 1)))
    assert steady["mean_change"] == 0.0 and steady["spread_ratio"] == 1.0
    with pytest.raises(ValueError, match="n_records, 3"):
        demo.percentile_drift(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        demo.percentile_drift(np.array([[0, 1, 2], [np.nan, 1, 2]]))


def test_drift_rows_and_figures(tiny_runs):
    rows = demo.drift_rows(tiny_runs, layers=(1, 3))
    assert len(rows) == 6 and rows[0]["run"] == "without BN"
    text = demo.format_rows(rows)
    assert "noisy BN" in text and "mean change" in text
    _, axes = demo.plot_figure1(tiny_runs)
    acc_lines = axes[0].get_lines()
    assert len(acc_lines) == 3
    for line in acc_lines:
        assert np.all(np.isfinite(line.get_ydata()))
    assert axes[1].get_ylim() == axes[2].get_ylim()
    _, axes = demo.plot_noisy_bn(tiny_runs)
    heights = [r.get_height() for r in axes[2].patches]
    assert len(heights) == 3 and all(np.isfinite(heights))


def test_histogram_panel_follows_the_slider(tiny_runs):
    panel = demo.unit_histogram_panel(tiny_runs)
    assert panel.error is None
    bars = panel.artists["plain"]["bars"]
    first = [r.get_height() for r in bars]
    panel.controls["step"].value = 150
    assert panel.error is None
    last = [r.get_height() for r in bars]
    assert first != last
    # the median line is the recorded median at that step
    med = panel.artists["bn"]["lines"][1].get_xdata()[0]
    assert med == pytest.approx(tiny_runs["bn"].percentiles[3][-1, 1])
    assert "150" in panel.readout.value


@pytest.mark.parametrize("attr", ["min", "max"])
def test_histogram_panel_extremes(tiny_runs, attr):
    panel = demo.unit_histogram_panel(tiny_runs)
    slider = panel.controls["step"]
    slider.value = 75
    slider.value = getattr(slider, attr)
    assert panel.error is None
    for kind in ("plain", "bn"):
        h = np.array([r.get_height() for r in panel.artists[kind]["bars"]])
        assert np.all(np.isfinite(h)) and h.sum() > 0
        # every probe example is counted once (clipped bars aside)
        shares = panel.data["shares"][kind]
        assert np.allclose(shares.sum(axis=1), 100.0, atol=1e-9)


def test_histogram_panel_needs_both_runs(tiny_runs):
    with pytest.raises(ValueError, match="'bn'"):
        demo.unit_histogram_panel({"plain": tiny_runs["plain"]})


# --------------------------------------------------------------------------
# 3. Noisy BN
# --------------------------------------------------------------------------


def _noisy_case(seed=0):
    net = demo.NoisyBNNetwork(
        [5, 4, 3, 3], activation="tanh", weight_scale=0.5, seed=seed
    )
    rng = np.random.default_rng(seed + 10)
    X = rng.normal(size=(5, 8))
    y = rng.integers(0, 3, size=8)
    return net, X, y


def test_noisy_bn_applies_the_noise_after_bn():
    net, X, _ = _noisy_case()
    net.forward(X, training=True)
    s1, c1 = net.noise[1]
    assert s1.shape == (4, 1) and c1.shape == (4, 1)
    assert np.all((s1 >= 0.5) & (s1 <= 2.0)) and np.all(np.abs(c1) <= 1.0)
    assert np.any(np.abs(c1) > 0.1) and np.any(np.abs(np.log(s1)) > 0.1)
    # Z_tilde[1] = BN(Z[1]) * s + c, from the layer's own maths
    Z1 = net.params["W1"] @ X
    Zt, _ = batchnorm_forward(Z1, net.params["gamma1"], net.params["beta1"])
    assert _rel(net.cache["Zt1"], Zt * s1 + c1) < 1e-13
    # the parameters themselves are untouched (gamma = 1, beta = 0)
    assert np.all(net.params["gamma1"] == 1) and np.all(net.params["beta1"] == 0)


def test_noisy_bn_noise_changes_every_step_but_not_for_a_probe():
    net, X, y = _noisy_case()
    net.loss_and_grads(X, y)
    first = {k: (s.copy(), c.copy()) for k, (s, c) in net.noise.items()}
    probe = net.inspect(X, training=True)  # no update of running statistics
    assert net.n_noise_draws == 1
    s1, c1 = first[1]
    Zt, _ = batchnorm_forward(probe["Z1"], net.params["gamma1"], net.params["beta1"])
    assert _rel(probe["Zt1"], Zt * s1 + c1) < 1e-13
    net.loss_and_grads(X, y)
    assert net.n_noise_draws == 2
    assert not np.allclose(net.noise[1][1], c1)
    assert not np.allclose(net.noise[2][0], first[2][0])


def test_noisy_bn_has_no_noise_at_inference():
    net, X, _ = _noisy_case()
    net.forward(X, training=True)  # draws noise, updates the running statistics
    twin = Network([5, 4, 3, 3], activation="tanh", batchnorm=True, weight_scale=0.5)
    twin.params.update({k: v.copy() for k, v in net.params.items()})
    for layer, bn in net.bn_layers.items():
        twin.bn_layers[layer].running_mean = bn.running_mean.copy()
        twin.bn_layers[layer].running_var = bn.running_var.copy()
    out = net.forward(X, training=False)
    assert _rel(out, twin.forward(X, training=False)) < 1e-14
    assert net.n_noise_draws == 1


def test_noisy_bn_gradients_match_finite_differences():
    net, X, y = _noisy_case(seed=2)
    _, grads = net.loss_and_grads(X, y)  # draws the noise used below
    grads = {k: v.copy() for k, v in grads.items()}
    h = 1e-6
    for key in ("gamma1", "beta1", "gamma2", "beta2", "W1", "W3"):
        p = net.params[key]
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = net.loss(X, y, training=True)  # same noise: no new draw
            p[idx] = old - h
            down = net.loss(X, y, training=True)
            p[idx] = old
            num[idx] = (up - down) / (2 * h)
        assert _rel(grads[key], num) < 1e-7, key
    # without the s_t factor the gamma gradient would be wrong
    s1 = net.noise[1][0]
    assert _rel(grads["gamma1"] / s1, grads["gamma1"]) > 1e-3


def test_noisy_bn_trains(small_data):
    X, y, _, _ = small_data
    net = demo.NoisyBNNetwork([784, 30, 30, 10], seed=0)
    hist = train(net, GD(1.0), X, y, steps=60, eval_every=30, progress=False)
    assert net.n_noise_draws >= 60
    assert hist.loss[-1] < 0.7 * hist.loss[0]
    assert not hist.diverged


def test_noisy_bn_copy_and_arguments():
    net, X, y = _noisy_case()
    net.loss_and_grads(X, y)
    twin = net.copy()
    assert isinstance(twin, demo.NoisyBNNetwork)
    assert twin.noise_shift == net.noise_shift and twin.n_noise_draws == 1
    assert _rel(twin.loss(X, y, training=True), net.loss(X, y, training=True)) < 1e-14
    twin.loss_and_grads(X, y)
    net.loss_and_grads(X, y)
    assert np.array_equal(twin.noise[1][1], net.noise[1][1])  # same noise stream
    with pytest.raises(ValueError, match="noise_scale"):
        demo.NoisyBNNetwork([3, 2, 2], noise_scale=0.5)
    with pytest.raises(ValueError, match="Batch Norm"):
        demo.NoisyBNNetwork([3, 2, 2], batchnorm=False)


# --------------------------------------------------------------------------
# 3b. Gradient predictiveness
# --------------------------------------------------------------------------


def test_gradient_change_on_a_quadratic_is_the_closed_form():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(6, 6))
    A = B @ B.T + np.eye(6)  # f = 0.5 x^T A x, gradient A x
    x = rng.normal(size=6)
    for lr in (1e-3, 0.05, 0.7):
        got = demo.gradient_change(lambda w: A @ w, x, lr)
        # g(x - lr A x) - g(x) = -lr A A x
        want = lr * np.linalg.norm(A @ A @ x) / np.linalg.norm(A @ x)
        assert abs(got - want) / want < 1e-12
    # dict form: two blocks, a block-diagonal quadratic
    A2 = np.diag([1.0, 4.0, 9.0])
    w = {"a": x[:3].reshape(3, 1), "b": x[3:5]}

    def grad(p):
        return {"a": A2 @ p["a"], "b": 2.0 * p["b"]}

    lr = 0.1
    ga, gb = A2 @ w["a"], 2.0 * w["b"]
    num = np.sqrt(np.sum((lr * A2 @ ga) ** 2) + np.sum((lr * 2.0 * gb) ** 2))
    den = np.sqrt(np.sum(ga**2) + np.sum(gb**2))
    assert abs(demo.gradient_change(grad, w, lr) - num / den) < 1e-14
    assert np.array_equal(w["a"], x[:3].reshape(3, 1))  # not modified
    assert math.isnan(demo.gradient_change(lambda v: 0 * v, x, 0.1))
    with pytest.raises(ValueError, match="lr"):
        demo.gradient_change(lambda v: v, x, 0.0)


def test_network_gradient_change_leaves_the_network_alone():
    net = Network([5, 4, 3], batchnorm=True, activation="tanh", weight_scale=0.5)
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(5, 10)), rng.integers(0, 3, size=10)
    before = {k: v.copy() for k, v in net.params.items()}
    rm = net.bn_layers[1].running_mean.copy()
    ch = demo.network_gradient_change(net, X, y, [1e-4, 2e-4, 0.5])
    assert ch.shape == (3,) and np.all(ch > 0)
    assert all(np.array_equal(before[k], net.params[k]) for k in before)
    assert np.array_equal(rm, net.bn_layers[1].running_mean)
    # for small steps the change is linear in the step size (a Hessian product)
    assert ch[1] / ch[0] == pytest.approx(2.0, rel=1e-3)
    # and it is the definition, computed by hand on a copy
    twin = net.copy()
    _, g0 = twin.loss_and_grads(X, y)
    g0 = {k: v.copy() for k, v in g0.items()}
    for k in twin.params:
        twin.params[k] -= 0.5 * g0[k]
    _, g1 = twin.loss_and_grads(X, y)
    d = np.sqrt(sum(np.sum((g1[k] - g0[k]) ** 2) for k in g0))
    n = np.sqrt(sum(np.sum(g0[k] ** 2) for k in g0))
    assert ch[2] == pytest.approx(d / n, rel=1e-12)


def test_predictiveness_runs_smoke(small_data):
    runs = demo.predictiveness_runs(
        steps=40,
        eval_every=20,
        n_measure=100,
        sizes=(784, 30, 30, 10),
        data=small_data,
        progress=False,
        verbose=False,
    )
    for kind, r in runs.items():
        assert r.kind == kind and r.lr == 0.1
        assert r.step.tolist() == [0, 20, 40]
        assert r.change.shape == (3,) and np.all(np.isfinite(r.change))
        assert r.change_by_size.shape == r.step_sizes.shape == (6,)
        # larger steps land further away: the gradient changes more
        assert np.all(np.diff(r.change_by_size) > 0)
    _, axes = demo.plot_predictiveness(runs)
    assert len(axes[0].get_lines()) == 2
