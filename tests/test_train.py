"""The training loop: determinism, what is recorded and when, learning, running
statistics, divergence, the History container and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from bnutils.network import Network
from bnutils.optim import GD, make_optimizer
from bnutils.train import PERCENTILES, History, train

N_X, N_CLASSES = 10, 3
SIZES = [N_X, 16, 16, N_CLASSES]


def _blobs(m, seed):
    """Three Gaussian blobs in 10-D, 2 standard deviations apart per axis."""
    centers = 2.0 * np.random.default_rng(42).standard_normal((N_CLASSES, N_X))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, m)
    X = (centers[y] + rng.standard_normal((m, N_X))).T
    return X, y


X_TRAIN, Y_TRAIN = _blobs(600, seed=1)
X_TEST, Y_TEST = _blobs(300, seed=2)


def _net(batchnorm=True, activation="sigmoid", **kw):
    return Network(SIZES, activation=activation, batchnorm=batchnorm, seed=0, **kw)


def _run(net=None, opt=None, **kw):
    args = {
        "X_test": X_TEST,
        "y_test": Y_TEST,
        "steps": 60,
        "eval_every": 20,
        "progress": False,
    } | kw
    return train(
        net if net is not None else _net(),
        opt if opt is not None else GD(0.5),
        X_TRAIN,
        Y_TRAIN,
        **args,
    )


def _assert_histories_equal(a: History, b: History):
    da, db = a.to_dict(), b.to_dict()
    da.pop("seconds"), db.pop("seconds")
    assert da.keys() == db.keys()
    for key in da:
        np.testing.assert_array_equal(da[key], db[key], err_msg=key)


def test_training_is_deterministic_under_a_seed():
    runs = []
    for _ in range(2):
        net = _net()
        h = _run(net, make_optimizer("adam", 0.01), record_diagnostics=True, seed=7)
        runs.append((net, h))
    (net_a, h_a), (net_b, h_b) = runs
    _assert_histories_equal(h_a, h_b)
    for key in net_a.params:
        np.testing.assert_array_equal(net_a.params[key], net_b.params[key])
    for layer in net_a.bn_layers:
        np.testing.assert_array_equal(
            net_a.bn_layers[layer].running_var, net_b.bn_layers[layer].running_var
        )
    other = _run(_net(), make_optimizer("adam", 0.01), seed=8)
    assert not np.array_equal(other.step_loss, h_a.step_loss)


def test_history_shapes_and_record_steps():
    net = _net()
    h = _run(net, steps=95, eval_every=20, record_diagnostics=True)
    n_rec = 6
    np.testing.assert_array_equal(h.step, [0, 20, 40, 60, 80, 95])
    assert h.n_records == n_rec and h.steps_done == 95
    for arr in (h.loss, h.train_acc, h.test_acc):
        assert arr.shape == (n_rec,) and np.all(np.isfinite(arr))
    assert h.step_loss.shape == (95,)
    assert set(h.percentiles) == set(h.unit_inputs) == set(h.saturation) == {1, 2}
    for layer in (1, 2):
        assert h.percentiles[layer].shape == (n_rec, 3)
        assert h.unit_inputs[layer].shape == (n_rec, 300)  # all 300 test examples
        expected = np.percentile(h.unit_inputs[layer], PERCENTILES, axis=1).T
        np.testing.assert_allclose(h.percentiles[layer], expected, rtol=1e-14)
        assert h.saturation[layer].shape == (n_rec,)
    assert set(h.update_ratio) == set(h.grad_std) == set(net.params)
    for key in net.params:
        assert np.isnan(h.update_ratio[key][0]) and np.isnan(h.grad_std[key][0])
        assert np.all(np.isfinite(h.grad_std[key][1:]))
    # gamma starts at 1 and beta at 0 (std 0): no ratio at the first record.
    assert np.all(np.isfinite(h.update_ratio["W1"][1:]))
    # The loss of a record is the mean loss of the steps since the previous one.
    assert h.loss[0] == h.step_loss[0]
    for k in range(1, n_rec):
        chunk = h.step_loss[h.step[k - 1] : h.step[k]]
        np.testing.assert_allclose(h.loss[k], chunk.mean(), rtol=1e-14)
    assert not h.diverged and h.diverged_at is None
    assert "6 records" in repr(h) and "DIVERGED" not in repr(h)


def test_the_first_step_is_the_first_shuffled_batch_and_diagnostics_match():
    """steps=1: recompute that step by hand from a copy of the initial net."""
    lr, batch, seed = 0.3, 32, 5
    net = _net(batchnorm=True)
    start = net.copy()
    h = _run(net, GD(lr), steps=1, eval_every=1, batch_size=batch, seed=seed,
             record_diagnostics=True)  # fmt: skip
    idx = np.random.default_rng(seed).permutation(X_TRAIN.shape[1])[:batch]
    Xb, yb = X_TRAIN[:, idx], Y_TRAIN[idx]
    loss, grads = start.loss_and_grads(Xb, yb)
    np.testing.assert_allclose(h.step_loss[0], loss, rtol=1e-12)
    np.testing.assert_allclose(h.loss, [loss, loss], rtol=1e-12)
    for key, p in net.params.items():
        p0 = start.params[key]
        np.testing.assert_allclose(p, p0 - lr * grads[key], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(h.grad_std[key][1], grads[key].std(), rtol=1e-10)
        if p0.std() > 0:
            ratio = (lr * grads[key]).std() / p0.std()
            np.testing.assert_allclose(h.update_ratio[key][1], ratio, rtol=1e-10)
        else:
            assert np.isnan(h.update_ratio[key][1])
    # Accuracy on the first 1000 (here: all 600) training examples.
    assert h.train_acc[1] == net.accuracy(X_TRAIN, Y_TRAIN)
    assert h.test_acc[0] == start.accuracy(X_TEST, Y_TEST)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_probe_records_are_the_activation_inputs_with_batch_statistics(batchnorm):
    net = _net(batchnorm=batchnorm, activation="sigmoid")
    probe = X_TRAIN[:, :40]
    h = _run(net, probe=probe, probe_unit=3, record_diagnostics=True)
    c = net.inspect(probe, training=True)
    for layer in (1, 2):
        assert h.unit_inputs[layer].shape == (h.n_records, 40)
        np.testing.assert_allclose(
            h.unit_inputs[layer][-1], c[f"Zt{layer}"][3], rtol=1e-12, atol=1e-14
        )
        A = c[f"A{layer}"]
        saturated = np.mean((A < 0.03) | (A > 0.97))
        assert h.saturation[layer][-1] == pytest.approx(saturated, abs=1e-12)
    if batchnorm:
        # Batch statistics of the probe, not the running ones (which differ).
        inference = net.inspect(probe, training=False)["Zt2"][3]
        assert np.abs(inference - h.unit_inputs[2][-1]).max() > 1e-3


def test_saturation_of_relu_is_the_share_of_dead_units():
    net = _net(batchnorm=False, activation="relu")
    net.params["b1"][:8] = -100.0  # 8 of 16 units of layer 1 never fire
    h = _run(net, steps=1, eval_every=1, record_diagnostics=True)
    assert h.saturation[1][0] == 0.5
    A2 = net.inspect(X_TEST)["A2"]
    assert h.saturation[2][-1] == np.mean(np.all(A2 <= 0, axis=1))


def test_a_small_bn_network_learns_a_separable_problem():
    h = _run(_net(batchnorm=True), GD(0.5), steps=200, eval_every=50)
    assert h.test_acc[0] < 0.6  # about chance (1/3) before training
    assert h.test_acc[-1] > 0.95
    assert h.loss[-1] < 0.5 * h.loss[0]


def test_running_statistics_are_updated_by_training_steps_only():
    net = _net(batchnorm=True)
    _run(net, steps=50, eval_every=5, record_diagnostics=True)
    for bn in net.bn_layers.values():
        # 11 records each ran several forward passes: none updated the EMA.
        assert bn.n_updates == 50
        assert np.abs(bn.running_mean).max() > 1e-3


@pytest.mark.parametrize("batchnorm", [False, True])
def test_divergence_stops_training_without_raising(batchnorm):
    net = _net(batchnorm=batchnorm, activation="relu", weight_scale="he")
    h = _run(net, GD(1e12), steps=100, eval_every=20, record_diagnostics=True)
    assert h.diverged and isinstance(h.diverged_at, int)
    assert 1 <= h.diverged_at < 100
    assert h.step[-1] == h.diverged_at and h.steps_done == h.diverged_at
    arrays = [h.loss, h.train_acc, h.test_acc, h.step_loss]
    for name in ("percentiles", "unit_inputs", "update_ratio", "saturation"):
        arrays += list(getattr(h, name).values())
    for arr in arrays:
        assert arr.shape[0] in (h.n_records, h.steps_done)
        assert not np.any(np.isinf(arr)), "only finite values or NaN"
    for arr in arrays[:3]:
        assert np.isnan(arr[-1]) and np.all(np.isfinite(arr[:-1]))
    assert np.all(np.isfinite(h.step_loss[:-1]))
    assert "DIVERGED at step" in repr(h)


def test_overflow_at_the_start_is_a_divergence_at_step_one():
    net = _net(batchnorm=True)
    net.params["W1"][...] = 1e307  # Z overflows to inf in the first layer
    h = _run(net, steps=10, eval_every=5)
    assert h.diverged and h.diverged_at == 1
    np.testing.assert_array_equal(h.step, [0, 1])
    assert np.all(np.isnan(h.loss)) and np.all(np.isnan(h.test_acc))
    assert np.all(np.isnan(h.unit_inputs[1]))


def test_callback_sees_the_records_so_far_and_progress_is_silent(capsys):
    seen = []

    def callback(step, history):
        assert history.steps_done == step and np.all(np.isfinite(history.step_loss))
        seen.append((step, history.n_records, float(history.test_acc[-1])))

    h = _run(steps=50, eval_every=20, callback=callback, progress=True)
    assert [s for s, _, _ in seen] == [0, 20, 40, 50]
    assert [n for _, n, _ in seen] == [1, 2, 3, 4]
    assert [a for _, _, a in seen] == list(h.test_acc)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_history_round_trips_through_a_file(tmp_path):
    h = _run(steps=30, eval_every=10, record_diagnostics=True)
    path = tmp_path / "history.npz"
    h.save(path)
    back = History.load(path)
    _assert_histories_equal(h, back)
    assert back.seconds == h.seconds and back.config == h.config
    assert set(back.percentiles) == {1, 2}
    assert set(back.update_ratio) == set(h.update_ratio)
    diverging = _net(activation="relu", weight_scale="he")
    d = _run(diverging, GD(1e12), steps=100).to_dict()
    again = History.from_dict(d)
    assert again.diverged and again.diverged_at == int(d["diverged_at"])


def test_without_a_test_set_test_accuracy_is_nan_and_the_probe_is_training_data():
    h = train(_net(), GD(0.5), X_TRAIN, Y_TRAIN, steps=20, eval_every=10,
              progress=False)  # fmt: skip
    assert np.all(np.isnan(h.test_acc))
    assert h.unit_inputs[1].shape == (3, 500)


def test_float32_training():
    net = _net(batchnorm=True, dtype=np.float32)
    h = _run(net, GD(0.5), steps=100, eval_every=50)
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert h.loss.dtype == np.float64 and h.test_acc[-1] > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 1}, "at least 2 with Batch Norm"),
        ({"batch_size": 601}, "larger than the training set"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"eval_every": 0}, "eval_every must be >= 1"),
        ({"steps": 10.0}, "steps must be an integer"),
        ({"probe_unit": 16}, r"probe_unit must be in \[0, 16\)"),
        ({"probe": X_TRAIN[:, :1]}, "at least 2 examples"),
        ({"probe": X_TRAIN.T}, "transposed"),
        ({"y_test": None}, "both X_test and y_test"),
        ({"callback": 3}, "callback"),
        ({"record_diagnostics": "yes"}, "record_diagnostics"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _run(**kwargs)


def test_bad_data_and_objects_raise_clear_errors():
    with pytest.raises(ValueError, match=r"X_train .*transposed.*X_train\.T"):
        train(_net(), GD(0.1), X_TRAIN.T, Y_TRAIN, progress=False)
    with pytest.raises(ValueError, match="y_train has 599 labels"):
        train(_net(), GD(0.1), X_TRAIN, Y_TRAIN[:-1], progress=False)
    with pytest.raises(ValueError, match="make_optimizer"):
        train(_net(), "adam", X_TRAIN, Y_TRAIN, progress=False)
    with pytest.raises(ValueError, match="Network"):
        train(object(), GD(0.1), X_TRAIN, Y_TRAIN, progress=False)


def test_smoothed_loss_is_the_trailing_mean_and_stops_at_divergence():
    empty = np.zeros(0)
    h = History(step=empty, loss=empty, train_acc=empty, test_acc=empty)
    h.step_loss = np.array([4.0, 2.0, 6.0, 1.0, np.inf, 3.0])
    step, loss = h.smoothed_loss(window=2)
    np.testing.assert_array_equal(step, [1.0, 2.0, 3.0, 4.0])
    expected = [4.0, (4 + 2) / 2, (2 + 6) / 2, (6 + 1) / 2]
    np.testing.assert_allclose(loss, expected, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="window"):
        h.smoothed_loss(window=0)
