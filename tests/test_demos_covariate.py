"""bnutils.demos.covariate (notebook 05) against independent references, and its
panels without a browser."""

from __future__ import annotations

import json
import math
import re
from fnmatch import fnmatch
from pathlib import Path

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
    return load_mnist(n_train=600, n_test=200, seed=0, dtype=np.float32)


def _train_figure1(kind, data, steps=150, eval_every=25, callback=None):
    X, y, Xt, yt = data
    net = demo.figure1_network(kind, seed=0)
    hist = train(
        net,
        GD(demo.FIGURE1_LR),
        X,
        y,
        Xt,
        yt,
        batch_size=demo.FIGURE1_BATCH,
        steps=steps,
        eval_every=eval_every,
        progress=False,
        callback=callback,
    )
    return net, hist


@pytest.fixture(scope="module")
def tiny(small_data):
    """Figure-1 networks on a tiny schedule, with every record's parameters."""
    nets, runs, snaps = {}, {}, {}
    for kind in ("plain", "bn", "noisy"):
        snaps[kind] = []
        holder = {}

        def record(step, history, holder=holder, kind=kind):
            snaps[kind].append({k: v.copy() for k, v in holder["net"].params.items()})

        holder["net"] = demo.figure1_network(kind, seed=0)
        X, y, Xt, yt = small_data
        runs[kind] = train(
            holder["net"],
            GD(demo.FIGURE1_LR),
            X,
            y,
            Xt,
            yt,
            batch_size=demo.FIGURE1_BATCH,
            steps=150,
            eval_every=25,
            progress=False,
            callback=record,
        )
        nets[kind] = holder["net"]
    return nets, runs, snaps


def test_figure1_network_matches_the_paper():
    net = demo.figure1_network("bn", seed=3)
    assert net.layer_sizes == (784, 100, 100, 100, 10)
    assert net.activation == "sigmoid" and net.batchnorm
    assert net.dtype == np.dtype(demo.FIGURE1_DTYPE)
    plain = demo.figure1_network("plain", seed=3)
    assert not plain.batchnorm
    # same initial W for both; std close to 0.05
    assert np.array_equal(net.params["W1"], plain.params["W1"])
    assert abs(np.std(net.params["W1"]) - 0.05) < 0.001
    # Xavier: the same draws scaled to std sqrt(1 / n_in)
    xavier = demo.figure1_network("xavier", seed=3)
    assert not xavier.batchnorm
    ratio = xavier.params["W2"] / plain.params["W2"]
    np.testing.assert_allclose(ratio, np.sqrt(1 / 100) / 0.05, rtol=1e-5)
    assert isinstance(demo.figure1_network("noisy"), demo.NoisyBNNetwork)
    with pytest.raises(ValueError, match="kind"):
        demo.figure1_network("dropout")


def test_figure1_run_is_deterministic(small_data, tiny):
    _, again = _train_figure1("bn", small_data)
    ref = tiny[1]["bn"]
    assert np.array_equal(again.test_acc, ref.test_acc)
    assert np.array_equal(again.unit_inputs[3], ref.unit_inputs[3])


def test_percentiles_are_ordered_and_computed_over_the_probe(tiny):
    for h in tiny[1].values():
        assert h.step.tolist() == [0, 25, 50, 75, 100, 125, 150]
        for layer in (1, 2, 3):
            p = h.percentiles[layer]
            assert p.shape == (7, 3)
            assert np.all(p[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= p[:, 2])
            ref = _percentiles_by_hand(h.unit_inputs[layer])
            assert _rel(p, ref) < 1e-12


def test_bn_keeps_the_last_layer_input_steadier(tiny):
    runs = tiny[1]
    plain = demo.percentile_drift(runs["plain"].percentiles[3])
    bn = demo.percentile_drift(runs["bn"].percentiles[3])
    assert plain["mean_relative_change"] > 10 * bn["mean_relative_change"]
    assert abs(plain["median_shift"]) > 2 * abs(bn["median_shift"])
    # BN trains faster on this schedule
    assert runs["bn"].test_acc[-1] > runs["plain"].test_acc[-1] + 0.3


def test_percentile_drift_on_constructed_data():
    p = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.5, 2.0], [-1.0, 3.0, 5.0]])
    d = demo.percentile_drift(p)
    assert d["first"] == (-1.0, 0.0, 1.0) and d["last"] == (-1.0, 3.0, 5.0)
    assert d["median_shift"] == 3.0
    assert d["spread_first"] == 2.0 and d["spread_last"] == 6.0
    assert d["spread_ratio"] == 3.0
    # |moves|: (1, .5, 1) then (1, 2.5, 3): mean 9 / 6
    assert d["mean_change"] == pytest.approx(1.5, abs=1e-15)
    # relative to the spread before each move: (2.5/3)/2 and (6.5/3)/4, averaged
    want = ((2.5 / 3) / 2 + (6.5 / 3) / 4) / 2
    assert d["mean_relative_change"] == pytest.approx(want, rel=1e-14)
    # from step 10 on: only the last two records count
    later = demo.percentile_drift(p, steps=[0, 10, 20], since=10)
    assert later["first"] == (-2.0, 0.5, 2.0) and later["median_shift"] == 2.5
    assert later["spread_ratio"] == 1.5
    steady = demo.percentile_drift(np.tile([-1.0, 0.0, 1.0], (5, 1)))
    assert steady["mean_change"] == 0.0 and steady["spread_ratio"] == 1.0
    with pytest.raises(ValueError, match="n_records, 3"):
        demo.percentile_drift(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        demo.percentile_drift(np.array([[0, 1, 2], [np.nan, 1, 2]]))
    with pytest.raises(ValueError, match="steps"):
        demo.percentile_drift(p, since=10)
    with pytest.raises(ValueError, match="at least 2 records"):
        demo.percentile_drift(p, steps=[0, 10, 20], since=20)


def test_plot_figure1(tiny):
    runs = tiny[1]
    infer = runs["bn"].percentiles[3] + 0.5
    _, axes = demo.plot_figure1(runs, bn_inference=infer)
    acc_lines = axes[0].get_lines()
    assert len(acc_lines) == 3
    for line in acc_lines:
        assert np.all(np.isfinite(line.get_ydata()))
    assert axes[1].get_ylim() == axes[2].get_ylim()
    dotted = [ln for ln in axes[2].get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 3
    np.testing.assert_allclose(dotted[0].get_ydata(), infer[:, 1])
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ValueError, match="bn_inference"):
        demo.plot_figure1(runs, bn_inference=infer[:3])
    _, axes = demo.plot_figure1(runs, accuracy_xscale="log")
    assert axes[0].get_xscale() == "log"


# --------------------------------------------------------------------------
# 2b. The lecture's picture: the earlier layers change
# --------------------------------------------------------------------------


def _layer_input(net, X, earlier=None):
    """An independent layer-3 input: the package's own forward pass on a copy
    whose parameters are replaced."""
    twin = net.copy()
    for k, v in (earlier or {}).items():
        twin.params[k][...] = v
    return twin.inspect(X, training=True)["Zt3"]


def _earlier(tiny):
    snaps = tiny[2]
    return {
        k: [{n: v for n, v in s.items() if n[-1] in "12"} for s in snaps[k]]
        for k in ("plain", "bn")
    }


@pytest.fixture(scope="module")
def perturb_panel(tiny, small_data):
    nets, runs, _ = tiny
    probe = small_data[2][:, :120]
    return demo.weight_perturbation_panel(
        _layer_input, nets, probe, _earlier(tiny), runs["plain"].step
    )


def test_perturbation_panel_data_are_the_definition(tiny, small_data, perturb_panel):
    nets, runs, _ = tiny
    probe = small_data[2][:, :120]
    earlier = _earlier(tiny)
    d = perturb_panel.data
    assert d["steps"].tolist() == runs["plain"].step.tolist()
    for kind in ("plain", "bn"):
        ref = _layer_input(nets[kind], probe)
        at0 = _layer_input(nets[kind], probe, earlier[kind][0])
        # float32 networks; the panel computes with one BLAS thread
        np.testing.assert_allclose(d[kind]["values"][0], at0[0], rtol=1e-5, atol=1e-5)
        moved = (at0.mean(axis=1) - ref.mean(axis=1)) / ref.std(axis=1)
        np.testing.assert_allclose(d[kind]["moved"][0], moved, rtol=1e-4, atol=1e-4)
        # the last record is the trained network itself
        assert d[kind]["weight_change"][-1] == 0.0
        np.testing.assert_allclose(d[kind]["ratio"][-1], 1.0, rtol=1e-6)
    # with BN every unit keeps its mean and spread whatever layers 1-2 are
    assert np.abs(d["bn"]["moved"]).max() < 1e-4
    assert np.abs(d["bn"]["ratio"] - 1).max() < 1e-3
    assert np.abs(d["plain"]["moved"][0]).max() > 0.05


def test_perturbation_bins_cover_the_trained_outline():
    # Constructed: the trained input is wide, every earlier record a narrow spike
    # (the plain net's early records). Pooled percentiles would clip the trained
    # tails; the bins must cover both.
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    trained = rng.uniform(-4.0, 0.0, size=(2, 200))
    spikes = [rng.normal(-3.4, 0.1, size=(2, 200)) for _ in range(20)]

    def compute(kind, params):
        return trained if params is None else spikes[params["i"]]

    nets = {"plain": SimpleNamespace(params={"i": np.ones(1)})}
    earlier = {"plain": [{"i": i} for i in range(20)]}
    data = {"edges": {}}
    demo._perturbation_data(compute, nets, earlier, ("plain",), 0, 40, data)
    edges = data["edges"]["plain"]
    for values in (trained[0], np.concatenate([s[0] for s in spikes])):
        lo, hi = np.percentile(values, [0.5, 99.5])
        assert edges[0] < lo and hi < edges[-1]


def test_perturbation_panel_follows_the_slider(perturb_panel):
    panel = perturb_panel
    slider = panel.controls["step"]
    assert slider.value == 150 and panel.error is None
    for value in (0, 75, slider.min, slider.max):
        slider.value = value
        assert panel.error is None
        i = list(panel.data["steps"]).index(value)
        for kind in ("plain", "bn"):
            v = panel.data[kind]["values"][i]
            assert panel.artists["mean"][kind].get_xdata()[0] == pytest.approx(v.mean())
            heights = panel.artists["hist"][kind].get_data().values
            assert np.all(np.isfinite(heights)) and heights.sum() > 0
            offsets = panel.artists["units"][kind].get_offsets()
            assert offsets.shape == (100, 2) and np.all(np.isfinite(offsets))
        assert f"Step {value}" in panel.readout.value
    slider.value = 0
    dots = np.asarray(panel.artists["units"]["plain"].get_offsets())
    np.testing.assert_allclose(
        dots[:, 0], np.clip(panel.data["plain"]["moved"][0], -3.1, 3.1), rtol=1e-6
    )


def test_perturbation_panel_refuses_bad_input(tiny, small_data):
    nets, runs, _ = tiny
    probe = small_data[2][:, :50]
    earlier = _earlier(tiny)
    with pytest.raises(ValueError, match="'bn'"):
        demo.weight_perturbation_panel(
            _layer_input, {"plain": nets["plain"]}, probe, earlier, runs["plain"].step
        )
    with pytest.raises(ValueError, match="records"):
        demo.weight_perturbation_panel(
            _layer_input, nets, probe, earlier, runs["plain"].step[:3]
        )

    def broken(net, X, params=None):
        return np.full((3,), np.nan)

    with pytest.raises(ValueError, match="finite array"):
        demo.weight_perturbation_panel(broken, nets, probe, earlier, runs["plain"].step)


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
# 3b. Gradient predictiveness: the network's gradient as a flat function
# --------------------------------------------------------------------------


def test_flat_gradient_is_the_networks_gradient_and_leaves_it_alone():
    net = Network([5, 4, 3], batchnorm=True, activation="tanh", weight_scale=0.5)
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(5, 10)), rng.integers(0, 3, size=10)
    before = {k: v.copy() for k, v in net.params.items()}
    rm = net.bn_layers[1].running_mean.copy()
    w, grad_fn = demo.flat_gradient(net, X, y)
    assert w.dtype == np.float64 and w.shape == (net.n_params,)
    g = grad_fn(w)
    _, want = net.copy().loss_and_grads(X, y)
    flat = np.concatenate([np.ravel(want[k]) for k in net.params])
    assert _rel(g, flat) < 1e-14
    # a step, by hand, against the flat version
    twin = net.copy()
    for k in twin.params:
        twin.params[k] -= 0.3 * want[k]
    _, g1 = twin.loss_and_grads(X, y)
    flat1 = np.concatenate([np.ravel(g1[k]) for k in net.params])
    assert _rel(grad_fn(w - 0.3 * g), flat1) < 1e-13
    assert all(np.array_equal(before[k], net.params[k]) for k in before)
    assert np.array_equal(rm, net.bn_layers[1].running_mean)
    with pytest.raises(ValueError, match="shape"):
        grad_fn(w[:-1])


def test_flat_gradient_matches_finite_differences():
    net = Network([4, 3, 3], batchnorm=True, activation="sigmoid", weight_scale=0.7)
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(4, 7)), rng.integers(0, 3, size=7)
    w, grad_fn = demo.flat_gradient(net, X, y)
    probe = net.copy()
    names = list(probe.params)

    def loss(v):
        start = 0
        for k in names:
            n = probe.params[k].size
            probe.params[k][...] = v[start : start + n].reshape(probe.params[k].shape)
            start += n
        return probe.loss(X, y, training=True)

    num = np.zeros_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = 1e-6
        num[i] = (loss(w + e) - loss(w - e)) / 2e-6
    assert _rel(grad_fn(w), num) < 1e-8


def test_flat_gradient_at_a_snapshot_and_without_noise(tiny, small_data):
    nets, _, snaps = tiny
    X, y = small_data[0][:, :60], small_data[1][:60]
    w0, grad_fn = demo.flat_gradient(nets["bn"], X, y, snaps["bn"][0])
    start = demo.figure1_network("bn", seed=0)
    flat = np.concatenate([np.ravel(start.params[k]) for k in start.params])
    assert _rel(w0, flat) < 1e-7
    assert np.all(np.isfinite(grad_fn(w0)))
    # noisy BN: the noise is off, so the gradient equals plain BN's at the same
    # parameters, and does not change from call to call
    noisy = nets["noisy"]
    w, g_noisy = demo.flat_gradient(noisy, X, y)
    twin = demo.figure1_network("bn", seed=0)
    for k, v in noisy.params.items():
        twin.params[k][...] = v
    _, g_bn = demo.flat_gradient(twin, X, y)
    np.testing.assert_allclose(g_noisy(w), g_bn(w), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(g_noisy(w), g_noisy(w))
    with pytest.raises(ValueError, match="does not match"):
        demo.flat_gradient(noisy, X, y, {"W1": np.zeros((2, 2))})


# ----------------------------------------------------------------------------
# The saved 50,000-step run (bnutils/datafiles/figure1_full.npz)
# ----------------------------------------------------------------------------


def test_figure1_full_file_is_consistent():
    r = demo.figure1_full_results()
    kinds = r["kinds"].tolist()
    assert kinds == ["plain", "bn", "noisy", "xavier"]
    assert r["command"].startswith("python scripts/reproduce_figure1.py")
    steps, every = int(r["steps"]), int(r["eval_every"])
    assert steps == demo.FIGURE1_PAPER_STEPS and every > 0
    # accuracies: fractions of the test images
    acc = r["final_test_acc"]
    assert acc.shape == (4,) and np.all((acc >= 0) & (acc <= 1))
    assert np.allclose(acc * r["test_images"], np.round(acc * r["test_images"]))
    # first record reaching each target: a record step, later for higher targets
    t, first = r["targets"], r["first_step_reaching"]
    assert np.all(np.diff(t) > 0) and np.all((t > 0) & (t <= 1))
    assert first.shape == (4, t.size)
    for row in first:
        reached = row[row >= 0]
        assert np.all(reached % every == 0) and np.all(reached <= steps)
        assert np.all(np.diff(reached) >= 0)
        assert np.all(row[reached.size :] == -1), "once unreached, always unreached"
    # gradient change: increasing record steps from 0 to the end of the run
    gs, gc = r["gc_step"], r["gc_change"]
    assert gs[0] == 0 and gs[-1] == steps and np.all(np.diff(gs) > 0)
    assert np.all(gs % every == 0)
    assert gc.shape == (4, gs.size) and np.all(np.isfinite(gc)) and np.all(gc > 0)
    # drift summaries: six rows, from step 0 and from step 200
    assert r["drift_rows"].tolist() == [*kinds, "bn_inference", "noisy_inference"]
    assert r["drift_since"].tolist() == [0, 200]
    first_s, last_s = r["drift_spread_first"], r["drift_spread_last"]
    assert np.all(first_s > 0) and np.all(last_s > 0)
    assert np.array_equal(last_s[:, 0], last_s[:, 1]), "both windows end together"
    assert _rel(r["drift_spread_ratio"], last_s / first_s) < 1e-12
    assert np.all(r["drift_mean_relative_change"] > 0)


def _fake_figure1_json(path, kinds=("plain", "bn", "noisy", "xavier")):
    rng = np.random.default_rng(1)
    gsteps = [0, 100, 300]

    def drift():
        return {
            s: {
                "mean_relative_change": float(rng.random()),
                "spread_ratio": 2.0,
                "median_shift": float(rng.normal()),
                "spread_first": 1.5,
                "spread_last": 3.0,
            }
            for s in ("0", "200")
        }

    runs = {
        k: {
            "final_test_acc": 0.5 + i / 10,
            "first_step_reaching": {"0.50": 100 * i, "0.90": None},
            "gradient_change": {"step": gsteps, "change": rng.random(3).tolist()},
            "drift": drift(),
        }
        for i, k in enumerate(kinds)
    }
    record = {
        "settings": {
            "steps": 300,
            "seed": 4,
            "eval_every": 100,
            "test_images": 10,
            "extras": True,
        },
        "runs": runs,
        "inference_drift": {"bn_inference": drift(), "noisy_inference": drift()},
    }
    path.write_text(json.dumps(record))
    return record


def test_save_figure1_full_round_trip(tmp_path):
    src = _fake_figure1_json(tmp_path / "figure1.json")
    out = tmp_path / "summary.npz"
    demo.save_figure1_full(tmp_path / "figure1.json", out)
    r = demo.figure1_full_results(out)
    assert int(r["steps"]) == 300 and int(r["seed"]) == 4
    assert r["targets"].tolist() == [0.5, 0.9]
    assert r["first_step_reaching"].tolist() == [
        [0, -1],
        [100, -1],
        [200, -1],
        [300, -1],
    ]
    kinds = r["kinds"].tolist()
    for i, k in enumerate(kinds):
        assert r["final_test_acc"][i] == src["runs"][k]["final_test_acc"]
        assert r["gc_change"][i].tolist() == src["runs"][k]["gradient_change"]["change"]
    drifts = {k: src["runs"][k]["drift"] for k in kinds} | src["inference_drift"]
    for i, row in enumerate(r["drift_rows"].tolist()):
        for j, s in enumerate(("0", "200")):
            got = r["drift_mean_relative_change"][i, j]
            assert got == drifts[row][s]["mean_relative_change"]


def test_save_figure1_full_refuses_a_run_without_the_extras(tmp_path):
    _fake_figure1_json(tmp_path / "figure1.json", kinds=("plain", "bn"))
    with pytest.raises(ValueError, match=r"--kinds plain,bn,noisy,xavier --extras"):
        demo.save_figure1_full(tmp_path / "figure1.json", tmp_path / "s.npz")


def test_figure1_full_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"save_figure1_full"):
        demo.figure1_full_results(tmp_path / "nothing.npz")


def test_figure1_full_file_is_package_data():
    root = Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1]
    line = re.search(r"^bnutils\s*=\s*\[(.*)\]", section, re.M).group(1)
    patterns = re.findall(r'"([^"]+)"', line)
    name = f"datafiles/{demo.FIGURE1_FULL_FILE}"
    assert any(fnmatch(name, p) for p in patterns), (name, patterns)
    assert (root / "bnutils" / name).is_file()
