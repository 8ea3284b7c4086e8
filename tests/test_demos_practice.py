"""bnutils.demos.practice (notebook 07) against closed forms and independent
references, and its training lab without a browser."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bnutils.demos import practice as demo
from bnutils.network import Network
from bnutils.optim import GD
from bnutils.train import History, train

TINY = demo.RunConfig(hidden=(32, 32, 32), steps=60)


@pytest.fixture(scope="module")
def tiny_data():
    return demo.practice_data(n_train=500, n_test=300, seed=0)


def _history(test_acc, step=None, diverged_at=None) -> History:
    acc = np.asarray(test_acc, dtype=float)
    step = np.arange(acc.size) * 10 if step is None else np.asarray(step)
    n_steps = int(step[-1])
    return History(
        step=step,
        loss=np.full(acc.size, 1.0),
        train_acc=acc.copy(),
        test_acc=acc,
        step_loss=np.ones(n_steps),
        diverged=diverged_at is not None,
        diverged_at=diverged_at,
    )


# --------------------------------------------------------------------------
# Configuration and data
# --------------------------------------------------------------------------


def test_config_layer_sizes_and_description():
    cfg = demo.RunConfig(hidden=(100, 50), activation="tanh", lr=0.3)
    assert cfg.layer_sizes == [784, 100, 50, 10]
    text = cfg.describe()
    assert "784-100-50-10 tanh" in text and "lr 0.3" in text
    assert demo.NOTEBOOK_LRS[0] == pytest.approx(0.01)
    assert demo.NOTEBOOK_LRS[-1] == pytest.approx(10.0)
    ratios = np.diff(np.log10(demo.NOTEBOOK_LRS))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)  # log-spaced
    np.testing.assert_allclose(demo.NOTEBOOK_INIT_SCALES, [1e-4, 1e-3, 1e-2, 0.1, 1])


def test_plain_and_bn_networks_start_from_the_same_weights():
    plain = demo.build_network(TINY, batchnorm=False)
    bn = demo.build_network(TINY, batchnorm=True)
    for layer in range(1, 5):
        np.testing.assert_array_equal(plain.params[f"W{layer}"], bn.params[f"W{layer}"])
    assert "b1" in plain.params and "b1" not in bn.params
    assert "gamma1" in bn.params and "gamma1" not in plain.params
    assert np.std(plain.params["W1"]) == pytest.approx(0.05, rel=0.05)


def test_data_shapes(tiny_data):
    X, y, Xt, yt = tiny_data
    assert X.shape == (784, 500) and y.shape == (500,)
    assert Xt.shape == (784, 300) and yt.shape == (300,)


# --------------------------------------------------------------------------
# Steps to a target
# --------------------------------------------------------------------------


def test_steps_to_target_is_the_first_record_at_or_above_the_target():
    h = _history([0.1, 0.5, 0.89, 0.9, 0.85, 0.95])
    assert demo.steps_to_target(h, 0.9) == 30  # 0.9 counts as reached
    assert demo.steps_to_target(h, 0.5) == 10
    assert demo.steps_to_target(h, 0.95) == 50
    assert demo.steps_to_target(h, 0.96) is None
    assert demo.describe_steps(h, 0.9) == "reached 90% at step 30"
    assert demo.describe_steps(h, 0.96) == "not reached within 50 steps"


def test_steps_to_target_ignores_nan_and_reports_divergence():
    h = _history([0.1, 0.3, np.nan], step=[0, 10, 17], diverged_at=17)
    assert demo.steps_to_target(h, 0.5) is None
    assert demo.describe_steps(h, 0.5) == "not reached: diverged at step 17"


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5])
def test_steps_to_target_rejects_impossible_targets(target):
    with pytest.raises(ValueError, match="target"):
        demo.steps_to_target(_history([0.1, 0.2]), target)


def test_target_rows_compute_the_speed_up():
    plain = demo.Run(TINY, False, None, _history([0.1, 0.5, 0.8, 0.9]))
    bn = demo.Run(TINY, True, None, _history([0.1, 0.9, 0.95, 0.96]))
    rows = demo.target_rows({"plain": plain, "bn": bn}, targets=(0.8, 0.9, 0.99))
    assert rows[0] == {
        "target": "80%",
        "without BN": "20",
        "with BN": "10",
        "BN faster by": "2.0x",
    }
    assert rows[1]["without BN"] == "30" and rows[1]["BN faster by"] == "3.0x"
    assert rows[2]["without BN"] == "not within 30"
    assert rows[2]["BN faster by"] == "-"


def test_smoothed_loss_is_a_trailing_mean_and_stops_at_the_first_nan():
    h = _history([0.1, 0.2], step=[0, 6])
    h.step_loss = np.array([4.0, 2.0, 6.0, 8.0, np.nan, 1.0])
    step, loss = demo._smoothed_loss(h, window=2)
    np.testing.assert_array_equal(step, [1, 2, 3, 4])
    np.testing.assert_allclose(loss, [4.0, 3.0, 4.0, 7.0], rtol=0, atol=1e-15)


# --------------------------------------------------------------------------
# Training runs and sweeps
# --------------------------------------------------------------------------


def test_compare_trains_both_networks_deterministically(tiny_data):
    cfg = replace(TINY, steps=40, eval_every=10)
    a = demo.compare(cfg, tiny_data, progress=False)
    b = demo.compare(cfg, tiny_data, progress=False)
    assert set(a) == {"plain", "bn"}
    assert a["bn"].batchnorm and not a["plain"].batchnorm
    for key in a:
        np.testing.assert_array_equal(a[key].history.step, [0, 10, 20, 30, 40])
        np.testing.assert_array_equal(a[key].history.test_acc, b[key].history.test_acc)
        np.testing.assert_array_equal(
            a[key].history.step_loss, b[key].history.step_loss
        )
    # BN learns faster in the same steps on this setting
    assert a["bn"].final_test_acc > a["plain"].final_test_acc + 0.2


def test_plot_comparison_draws_the_recorded_accuracy(tiny_data):
    cfg = replace(TINY, steps=40, eval_every=10)
    runs = demo.compare(cfg, tiny_data, progress=False)
    art = demo.plot_comparison(runs, target=0.5)
    for key, r in runs.items():
        x, y = art["acc"][key].get_data()
        np.testing.assert_array_equal(x, r.history.step)
        np.testing.assert_allclose(y, 100 * r.history.test_acc)
        s = demo.steps_to_target(r.history, 0.5)
        if s is None:
            assert art["hits"][key] is None
        else:
            assert art["hits"][key].get_xdata()[0] == s


@pytest.fixture(scope="module")
def lr_result(tiny_data):
    return demo.lr_sweep((0.1, 1.0, 3.0), TINY, tiny_data, progress=False)


def test_lr_sweep_shapes_and_bookkeeping(lr_result):
    assert lr_result.param == "lr"
    np.testing.assert_array_equal(lr_result.values, [0.1, 1.0, 3.0])
    for key in ("plain", "bn"):
        assert lr_result.test_acc[key].shape == (3,)
        assert lr_result.diverged[key].dtype == bool
        finite = ~lr_result.diverged[key]
        assert np.all(np.isfinite(lr_result.test_acc[key][finite]))
        assert np.all((lr_result.diverged_at[key] == -1) == finite)


def test_bn_beats_plain_at_the_largest_learning_rate(lr_result):
    """The issue's requirement: on a small fixed seed, BN's accuracy at the
    largest learning rate is measurably higher than the plain network's."""
    plain = np.nan_to_num(lr_result.test_acc["plain"][-1], nan=demo.CHANCE)
    bn = lr_result.test_acc["bn"][-1]
    assert bn > plain + 0.3, (plain, bn)


def test_sweep_is_deterministic_and_each_point_equals_a_single_run(
    tiny_data, lr_result
):
    again = demo.lr_sweep((3.0,), TINY, tiny_data, progress=False)
    assert again.test_acc["bn"][0] == lr_result.test_acc["bn"][-1]
    single = demo.run(replace(TINY, lr=3.0), True, tiny_data)
    assert single.final_test_acc == lr_result.test_acc["bn"][-1]


def test_init_scale_sweep_plain_fails_at_tiny_scale_bn_does_not(tiny_data):
    res = demo.init_scale_sweep((1e-4, 0.1), TINY, tiny_data, progress=False)
    assert res.param == "weight_scale"
    assert res.test_acc["plain"][0] <= 0.15  # chance: the signal vanished
    assert res.test_acc["bn"][0] > 0.3
    assert res.trains("plain", 0.3).tolist() == [False, res.test_acc["plain"][1] >= 0.3]


def test_sweep_rejects_bad_input(tiny_data):
    with pytest.raises(ValueError, match="param"):
        demo.sweep("batch_size", [1, 2], TINY, tiny_data, progress=False)
    with pytest.raises(ValueError, match="positive"):
        demo.sweep("lr", [0.1, -1.0], TINY, tiny_data, progress=False)
    with pytest.raises(ValueError, match="1-D"):
        demo.sweep("lr", [], TINY, tiny_data, progress=False)


def _fake_sweep():
    values = np.array([0.01, 0.1, 1.0])
    return demo.SweepResult(
        "lr",
        values,
        {"plain": np.array([0.5, 0.9, np.nan]), "bn": np.array([0.85, 0.95, 0.9])},
        {"plain": np.array([1.0, 0.3, np.nan]), "bn": np.array([0.5, 0.2, 0.3])},
        {"plain": np.array([False, False, True]), "bn": np.zeros(3, dtype=bool)},
        {"plain": np.array([-1, -1, 12]), "bn": np.full(3, -1)},
        TINY,
    )


def test_sweep_rows_and_trained_values():
    res = _fake_sweep()
    rows = demo.sweep_rows(res)
    assert rows[0] == {
        "learning rate": "0.01",
        "without BN": "50.0%",
        "with BN": "85.0%",
    }
    assert rows[2]["without BN"] == "diverged (step 12)"
    np.testing.assert_array_equal(res.trained_values("plain", 0.8), [0.1])
    np.testing.assert_array_equal(res.trained_values("bn", 0.8), [0.01, 0.1, 1.0])


def test_plot_sweep_marks_diverged_runs():
    res = _fake_sweep()
    art = demo.plot_sweep(res, mark=0.1)
    x, y = art["lines"]["bn"].get_data()
    np.testing.assert_array_equal(x, res.values)
    np.testing.assert_allclose(y, 100 * res.test_acc["bn"])
    xd, yd = art["diverged"]["plain"].get_data()
    np.testing.assert_array_equal(xd, [1.0])
    np.testing.assert_array_equal(yd, [100 * demo.CHANCE])
    assert len(art["diverged"]["bn"].get_xdata()) == 0
    assert art["lines"]["bn"].axes.get_xscale() == "log"


# --------------------------------------------------------------------------
# Diagnostics against closed forms
# --------------------------------------------------------------------------


def test_saturation_share_on_constructed_arrays():
    # tanh: 3 of 12 entries beyond +-0.97 (one of them negative); 0.97 itself is not
    A = np.array([[0.0, 0.5, 0.98, -0.99], [0.97, -0.97, 0.2, 0.999], [0.1] * 4])
    assert demo.saturation_share(A, "tanh") == pytest.approx(3 / 12, abs=1e-15)
    # sigmoid: near 0 and near 1 both count: 4 of 8
    S = np.array([[0.01, 0.5, 0.99, 0.6], [0.02, 0.3, 0.4, 0.975]])
    assert demo.saturation_share(S, "sigmoid") == pytest.approx(4 / 8, abs=1e-15)
    # relu: units (rows) 0 for every example: 2 of 5; a zero column is not a unit
    R = np.array(
        [
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [2.0, 3.0, 0.0],
            [0.5, 0.5, 0.0],
        ]
    )
    assert demo.saturation_share(R, "relu") == pytest.approx(2 / 5, abs=1e-15)
    with pytest.raises(ValueError, match="activation"):
        demo.saturation_share(R, "softplus")
    with pytest.raises(ValueError, match="shape"):
        demo.saturation_share(np.zeros(4), "relu")


def test_saturation_share_of_a_standard_normal_input_to_tanh():
    """|tanh(z)| > 0.97 iff |z| > artanh(0.97); for z ~ N(0, 1) that has
    probability erfc(artanh(0.97) / sqrt(2)) = 0.0366..."""
    from math import atanh, erfc, sqrt

    z = np.random.default_rng(0).standard_normal((200, 5000))
    want = erfc(atanh(0.97) / sqrt(2))
    got = demo.saturation_share(np.tanh(z), "tanh")
    assert abs(got - want) < 4 * np.sqrt(want * (1 - want) / z.size)


def test_update_to_data_ratio_closed_form():
    before = np.array([[1.0, -1.0], [1.0, -1.0]])  # std 1
    after = before + np.array([[0.1, -0.1], [-0.1, 0.1]])  # update std 0.1
    assert demo.update_to_data_ratio(before, after) == pytest.approx(0.1, abs=1e-15)
    assert demo.update_to_data_ratio(2 * before, 2 * after) == pytest.approx(0.1)
    assert np.isnan(demo.update_to_data_ratio(np.ones(3), np.ones(3) * 2))
    with pytest.raises(ValueError, match="same shape"):
        demo.update_to_data_ratio(np.ones(3), np.ones(4))


def test_update_to_data_ratio_matches_what_train_records(tiny_data):
    X, y, _, _ = tiny_data
    net = Network([784, 16, 16, 10], activation="relu", batchnorm=True, seed=3)
    W_before = {k: v.copy() for k, v in net.params.items() if k.startswith("W")}
    h = train(
        net,
        GD(0.3),
        X,
        y,
        batch_size=50,
        steps=1,
        eval_every=1,
        record_diagnostics=True,
        progress=False,
    )
    for key, Wb in W_before.items():
        want = demo.update_to_data_ratio(Wb, net.params[key])
        assert h.update_ratio[key][1] == pytest.approx(want, rel=1e-12)


def _bn_ref(Z, eps=1e-5):
    mu = Z.sum(axis=1, keepdims=True) / Z.shape[1]
    var = ((Z - mu) ** 2).sum(axis=1, keepdims=True) / Z.shape[1]
    return (Z - mu) / np.sqrt(var + eps)


def _loss_from_A1(net, A1, y):
    """Mean cross-entropy as a function of A[1], written out for a 3-layer net
    (hidden layers 1, 2; output 3); gamma, beta of layer 2 from net.params."""
    p = net.params
    Z2 = p["W2"] @ A1 + (p["b2"] if "b2" in p else 0)
    if net.batchnorm:
        Z2 = p["gamma2"] * _bn_ref(Z2) + p["beta2"]
    A2 = np.tanh(Z2)
    Z3 = p["W3"] @ A2 + p["b3"]
    Z3 = Z3 - Z3.max(axis=0, keepdims=True)
    logp = Z3 - np.log(np.exp(Z3).sum(axis=0, keepdims=True))
    return -np.mean(logp[y, np.arange(y.size)])


@pytest.mark.parametrize("batchnorm", [False, True])
def test_activation_gradients_match_finite_differences(batchnorm):
    rng = np.random.default_rng(5)
    net = Network(
        [3, 4, 5, 3], activation="tanh", batchnorm=batchnorm, weight_scale=0.8, seed=1
    )
    if batchnorm:
        net.params["gamma2"][:] = rng.uniform(0.5, 1.5, size=(5, 1))
        net.params["beta2"][:] = rng.normal(size=(5, 1))
    X = rng.normal(size=(3, 6))
    y = np.array([0, 1, 2, 2, 1, 0])
    dA = demo.activation_gradients(net, X, y)
    assert set(dA) == {1, 2}
    A1 = net.cache["A1"].copy()
    num = np.zeros_like(A1)
    h = 1e-6
    for idx in np.ndindex(A1.shape):
        Ap, Am = A1.copy(), A1.copy()
        Ap[idx] += h
        Am[idx] -= h
        num[idx] = (_loss_from_A1(net, Ap, y) - _loss_from_A1(net, Am, y)) / (2 * h)
    err = np.max(np.abs(num - dA[1])) / np.max(np.abs(num) + np.abs(dA[1]))
    assert err < 1e-8


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_walk_back_weight_gradients_equal_the_networks(activation):
    rng = np.random.default_rng(2)
    net = Network([5, 6, 4, 4, 3], activation=activation, batchnorm=True, seed=4)
    X = rng.normal(size=(5, 8))
    y = rng.integers(0, 3, size=8)
    out = demo._walk_back(net, X, y)
    grads = net.backward(y)
    for layer in range(1, 5):
        dW = out["dZ"][layer] @ net.cache[f"A{layer - 1}"].T
        np.testing.assert_allclose(dW, grads[f"W{layer}"], rtol=1e-12, atol=1e-15)
    for layer in (1, 2, 3):
        assert (
            out["dZt"][layer].shape
            == out["dA"][layer].shape
            == (net.layer_sizes[layer], 8)
        )


def test_layer_snapshot_changes_no_state(tiny_data):
    X, y, Xt, yt = tiny_data
    net = demo.build_network(TINY, batchnorm=True)
    train(net, GD(0.1), X, y, batch_size=50, steps=5, progress=False)
    params = {k: v.copy() for k, v in net.params.items()}
    running = {k: bn.running_mean.copy() for k, bn in net.bn_layers.items()}
    snap = demo.layer_snapshot(net, Xt[:, :40], yt[:40])
    for k, v in params.items():
        np.testing.assert_array_equal(net.params[k], v)
    for k, bn in net.bn_layers.items():
        np.testing.assert_array_equal(bn.running_mean, running[k])
    for field in ("Zt", "A", "dA", "dZt"):
        assert set(snap[field]) == {1, 2, 3}
        assert snap[field][2].shape == (32, 40)
    assert snap["saturation"][1] == demo.saturation_share(snap["A"][1], "relu")


@pytest.fixture(scope="module")
def diag(tiny_data):
    cfg = replace(demo.DIAGNOSTICS_CONFIG, hidden=(32, 32, 32), steps=40)
    return demo.diagnose(cfg, tiny_data, n_probe=100, progress=False)


def test_diagnose_snapshot_agrees_with_the_recorded_saturation(diag):
    for d in diag.values():
        recorded = np.array([s[-1] for s in d.run.history.saturation.values()])
        snapshot = np.array(list(d.snapshot["saturation"].values()))
        np.testing.assert_array_equal(recorded, snapshot)
    # tanh with weight std 0.3: the plain net saturates far more than the BN net
    # (with 32-unit layers the deeper layers' inputs are smaller than with 100)
    plain = np.mean(list(diag["plain"].snapshot["saturation"].values()))
    bn = np.mean(list(diag["bn"].snapshot["saturation"].values()))
    assert plain > 0.15 and bn < 0.05 and plain > 3 * bn


def test_diagnostics_rows_and_figure(diag):
    rows = demo.diagnostics_rows(diag)
    assert len(rows) == 6
    assert rows[0]["network"] == "without BN" and rows[3]["network"] == "with BN"
    art = demo.plot_diagnostics(diag)
    assert len(art["hists"]) == 2 * 3 * 3
    assert set(art["ratios"]) == {
        (k, f"W{i}") for k in ("plain", "bn") for i in range(1, 5)
    }
    for line in art["ratios"].values():
        assert np.all(np.isfinite(line.get_ydata())) and len(line.get_ydata()) > 0
    _, lg = diag["bn"].log10_ratio("W1")
    want = np.log10(diag["bn"].run.history.update_ratio["W1"][1:])
    np.testing.assert_allclose(lg, want, rtol=1e-14)


# --------------------------------------------------------------------------
# Layer Norm
# --------------------------------------------------------------------------


def test_layer_norm_normalizes_each_example_over_its_units():
    rng = np.random.default_rng(0)
    Z = rng.normal(3.0, 2.0, size=(7, 5))
    out = demo.layer_norm(Z, eps=0.0)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(out.var(axis=0), 1.0, rtol=1e-13)
    # column j by hand
    z = Z[:, 2]
    want = (z - z.mean()) / np.sqrt(((z - z.mean()) ** 2).mean() + 1e-5)
    np.testing.assert_allclose(demo.layer_norm(Z)[:, 2], want, rtol=1e-13)
    gamma, beta = rng.uniform(0.5, 2, (7, 1)), rng.normal(size=(7, 1))
    np.testing.assert_allclose(
        demo.layer_norm(Z, gamma, beta), gamma * demo.layer_norm(Z) + beta, rtol=1e-13
    )
    with pytest.raises(ValueError, match="shape"):
        demo.layer_norm(Z, gamma=np.ones((7, 5)))


def test_layer_norm_does_not_depend_on_the_batch_but_batch_norm_does():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 1))
    batch_a = np.concatenate([x, rng.normal(size=(6, 3))], axis=1)
    batch_b = np.concatenate([x, rng.normal(5.0, 3.0, size=(6, 30))], axis=1)
    ln_a, ln_b = demo.layer_norm(batch_a)[:, 0], demo.layer_norm(batch_b)[:, 0]
    np.testing.assert_allclose(ln_a, ln_b, rtol=0, atol=1e-14)
    np.testing.assert_allclose(ln_a, demo.layer_norm(x)[:, 0], rtol=0, atol=1e-14)
    bn_a, bn_b = _bn_ref(batch_a)[:, 0], _bn_ref(batch_b)[:, 0]
    assert np.max(np.abs(bn_a - bn_b)) > 0.5


def test_batch_dependence_demo():
    dep = demo.batch_dependence(n_units=6, batch_sizes=(2, 8, 64), seed=0)
    assert dep["bn"].shape == dep["ln"].shape == (3, 6)
    assert dep["ln_spread"] < 1e-12
    assert dep["bn_spread"] > 0.5
    # in a batch of two, each normalized value is +-sqrt(var / (var + eps)) ~ +-1
    np.testing.assert_allclose(np.abs(dep["bn"][0]), 1.0, atol=1e-3)
    np.testing.assert_allclose(dep["ln_alone"], dep["ln"][-1], atol=1e-14)
    with pytest.raises(ValueError, match=">= 2"):
        demo.batch_dependence(batch_sizes=(1, 4))


# --------------------------------------------------------------------------
# The training lab (headless)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tiny_data):
    return demo.training_lab(tiny_data, hidden=(16, 16, 16), steps=100)


def _assert_finite_artists(panel):
    a = panel.artists
    lines = [a["loss"], a["acc"], a["prev_loss"], a["prev_acc"], *a["ratios"].values()]
    for line in lines:
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    # something is drawn: the accuracy always has its step-0 record
    assert len(a["acc"].get_xdata()) >= 1
    assert len(a["loss"].get_xdata()) >= 1 or a["note"].get_text()


def test_lab_trains_on_creation(lab):
    assert lab.error is None
    assert lab.last_run is not None and lab.last_run.batchnorm
    assert "Trained" in lab.readout.value and "steps/s" in lab.readout.value
    _assert_finite_artists(lab)
    _, y = lab.artists["acc"].get_data()
    np.testing.assert_allclose(y, 100 * lab.last_run.history.test_acc)


def test_lab_button_retrains_with_the_new_settings(lab):
    before = np.array(lab.artists["loss"].get_ydata(), dtype=float)
    lab.controls["batchnorm"].value = False
    lab.controls["steps"].value = 100
    assert lab.last_run.batchnorm  # controls alone don't retrain
    lab.click()
    assert lab.error is None
    assert not lab.last_run.batchnorm
    after = np.array(lab.artists["loss"].get_ydata(), dtype=float)
    assert after.shape != before.shape or not np.array_equal(after, before)
    # the previous run became the grey reference line
    np.testing.assert_array_equal(lab.artists["prev_loss"].get_ydata(), before)
    assert "without BN" in lab.readout.value
    _assert_finite_artists(lab)


@pytest.mark.parametrize(
    ("name", "end"),
    [
        ("lr", "max"),
        ("lr", "min"),
        ("weight_scale", "min"),
        ("weight_scale", "max"),
        ("batch_size", "min"),
        ("batch_size", "max"),
        ("steps", "min"),
        ("steps", "max"),
    ],
)
@pytest.mark.parametrize("batchnorm", [False, True])
def test_lab_at_every_slider_extreme(tiny_data, name, end, batchnorm):
    panel = demo.training_lab(tiny_data, hidden=(8, 8, 8), steps=50)
    panel.controls["batchnorm"].value = batchnorm
    w = panel.controls[name]
    if name == "batch_size":
        w.value = w.options[0] if end == "min" else w.options[-1]
    else:
        w.value = w.min if end == "min" else w.max
    panel.click()
    assert panel.error is None, panel.error
    _assert_finite_artists(panel)
    text = panel.readout.value
    assert text and "nan" not in text.lower().replace("n/a", "")
    h = panel.last_run.history
    if h.diverged:
        assert "Diverged at step" in text
    elif not panel.last_run.final_test_acc >= 2 * demo.CHANCE:
        assert "Did not learn" in text
    if name == "batch_size" and end == "max":
        assert panel.last_run.config.steps * 256 <= demo.LAB_MAX_EXAMPLES


def test_lab_huge_learning_rate_without_bn_reports_failure(tiny_data):
    panel = demo.training_lab(tiny_data, hidden=(32, 32, 32), steps=100)
    panel.controls["batchnorm"].value = False
    panel.controls["lr"].value = panel.controls["lr"].max
    panel.controls["weight_scale"].value = 1.0
    panel.click()
    assert panel.error is None
    assert (
        "Diverged at step" in panel.readout.value
        or "Did not learn" in panel.readout.value
    )
    _assert_finite_artists(panel)


def test_lab_caps_steps_times_batch_size(tiny_data):
    panel = demo.training_lab(tiny_data, hidden=(8, 8, 8), max_examples=2000, steps=50)
    panel.controls["batch_size"].value = 128
    panel.controls["steps"].value = 600
    panel.click()
    assert panel.last_run.config.steps == 2000 // 128
    assert "capped" in panel.readout.value
