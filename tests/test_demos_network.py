"""bnutils.demos.network (notebook 03): the stacked trainer against the
package's Network step by step, the records against independent
computations, the figures and the panel without a browser."""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnutils.demos import network as demo
from bnutils.network import Network
from bnutils.optim import GD, Adam, Momentum, RMSprop
from bnutils.train import train

SIZES = (2, 5, 4, 4, 3)


@pytest.fixture(scope="module")
def data():
    return demo.spiral_task(seed=3, m=120)


def _package_run(batchnorm, lr, scale, seed, data, steps, sizes=SIZES):
    """The same training with the package's Network and train() (float64)."""
    X, y, Xt, yt = data
    net = Network(
        list(sizes),
        activation="tanh",
        batchnorm=batchnorm,
        weight_scale="xavier",
        seed=seed,
    )
    for key in net.params:
        if key.startswith("W"):
            net.params[key] *= scale
    hist = train(
        net,
        GD(lr),
        X,
        y,
        Xt,
        yt,
        batch_size=30,
        steps=steps,
        eval_every=5,
        seed=4,
        progress=False,
    )
    return net, hist


# --------------------------------------------------------------------------
# The stacked trainer is the package's training, copy by copy
# --------------------------------------------------------------------------


@pytest.mark.parametrize("batchnorm", [False, True])
def test_stacked_copies_train_exactly_like_the_package_network(data, batchnorm):
    lrs, scales, seeds = [0.3, 0.05, 1.0], [1.0, 2.5, 0.4], [0, 1, 2]
    runs = demo.train_networks(
        batchnorm,
        lrs,
        scales,
        seeds,
        steps=25,
        data=data,
        layer_sizes=SIZES,
        batch_size=30,
        eval_every=5,
        batch_seed=4,
        dtype=np.float64,
    )
    assert runs.K == 3 and runs.batch_loss.shape == (25, 3)
    for k in range(3):
        net, hist = _package_run(batchnorm, lrs[k], scales[k], seeds[k], data, 25)
        np.testing.assert_allclose(runs.batch_loss[:, k], hist.step_loss, rtol=1e-10)
        for layer in range(1, 5):
            W = net.params[f"W{layer}"]
            norm = np.sqrt(np.sum(W**2))
            assert runs.w_norm[-1, layer - 1, k] == pytest.approx(norm, rel=1e-10)
        if batchnorm:
            for h in range(1, 4):
                np.testing.assert_allclose(
                    runs.gamma[h - 1][k], net.params[f"gamma{h}"][:, 0], rtol=1e-9
                )
                np.testing.assert_allclose(
                    runs.beta[h - 1][k], net.params[f"beta{h}"][:, 0], atol=1e-10
                )
        else:
            assert runs.gamma == [] and runs.beta == []


def _manual_eval(net, data):
    """Training loss with the training set's own statistics and test accuracy
    with the same statistics, written out layer by layer."""
    X, y, Xt, yt = data
    A, At = X, Xt
    for layer in range(1, net.L):
        Z = net.params[f"W{layer}"] @ A
        Zt = net.params[f"W{layer}"] @ At
        if net.batchnorm:
            mu = Z.mean(axis=1, keepdims=True)
            var = Z.var(axis=1, keepdims=True)
            g, b = net.params[f"gamma{layer}"], net.params[f"beta{layer}"]
            Z = g * (Z - mu) / np.sqrt(var + 1e-5) + b
            Zt = g * (Zt - mu) / np.sqrt(var + 1e-5) + b
        else:
            Z = Z + net.params[f"b{layer}"]
            Zt = Zt + net.params[f"b{layer}"]
        A, At = np.tanh(Z), np.tanh(Zt)
    L = net.L
    logits = net.params[f"W{L}"] @ A + net.params[f"b{L}"]
    logits_t = net.params[f"W{L}"] @ At + net.params[f"b{L}"]
    logp = logits - logits.max(0) - np.log(np.exp(logits - logits.max(0)).sum(0))
    loss = -logp[y, np.arange(y.size)].mean()
    return loss, np.mean(logits.argmax(0) == y), np.mean(logits_t.argmax(0) == yt)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_records_measure_what_the_docstring_says(data, batchnorm):
    runs = demo.train_networks(
        batchnorm,
        0.3,
        1.0,
        5,
        steps=20,
        data=data,
        layer_sizes=SIZES,
        batch_size=30,
        eval_every=10,
        batch_seed=4,
        dtype=np.float64,
    )
    np.testing.assert_array_equal(runs.step, [0, 10, 20])
    net, _ = _package_run(batchnorm, 0.3, 1.0, 5, data, 20)
    loss, acc, test_acc = _manual_eval(net, data)
    assert runs.train_loss[-1, 0] == pytest.approx(loss, rel=1e-10)
    assert runs.train_acc[-1, 0] == acc
    assert runs.test_acc[-1, 0] == test_acc
    if batchnorm:  # the package's loss in training mode on the whole set agrees
        X, y = data[0], data[1]
        assert runs.train_loss[-1, 0] == pytest.approx(
            net.loss(X, y, training=True), rel=1e-10
        )


def test_float32_default_follows_float64(data):
    kw = dict(steps=30, data=data, layer_sizes=SIZES, batch_size=30, batch_seed=4)
    r32 = demo.train_networks(True, 0.3, 1.0, [0, 1], **kw)
    r64 = demo.train_networks(True, 0.3, 1.0, [0, 1], dtype=np.float64, **kw)
    np.testing.assert_allclose(r32.train_loss, r64.train_loss, rtol=1e-3)


def test_copies_do_not_interact(data):
    """A copy trains the same alone or stacked with others (even diverging ones)."""
    kw = dict(steps=20, data=data, layer_sizes=SIZES, batch_size=30, batch_seed=4)
    together = demo.train_networks(False, [0.3, 1e6, 0.1], 1.0, [0, 0, 1], **kw)
    alone = demo.train_networks(False, 0.1, 1.0, 1, **kw)
    np.testing.assert_array_equal(together.batch_loss[:, 2], alone.batch_loss[:, 0])
    np.testing.assert_array_equal(together.train_loss[:, 2], alone.train_loss[:, 0])


def test_a_diverging_copy_is_frozen_and_marked(data):
    runs = demo.train_networks(
        False,
        [0.1, 3e38],
        3.0,
        0,
        steps=40,
        data=data,
        layer_sizes=SIZES,
        batch_size=30,
        eval_every=10,
    )
    assert runs.diverged_at[0] == -1 and 1 <= runs.diverged_at[1] <= 40
    assert list(runs.diverged) == [False, True]
    after = runs.step > runs.diverged_at[1]
    assert np.all(np.isnan(runs.train_loss[after, 1]))
    assert np.all(np.isfinite(runs.train_loss[:, 0]))
    assert np.all(np.isnan(runs.batch_loss[runs.diverged_at[1] :, 1]))


def test_batch_norm_weights_only_grow_under_gradient_descent(data):
    """Scale invariance: the gradient of a hidden layer's W (followed by BN) is
    orthogonal to each of its rows, so under GD its norm never shrinks; the
    output layer (no BN) has no such rule."""
    runs = demo.train_networks(
        True,
        [0.3, 3.0],
        1.0,
        0,
        steps=60,
        data=data,
        layer_sizes=SIZES,
        batch_size=30,
        eval_every=1,
        dtype=np.float64,
    )
    growth = np.diff(runs.w_norm[:, :-1, :], axis=0)  # hidden layers only
    assert np.all(growth > -1e-9 * runs.w_norm[1:, :-1, :])
    assert np.all(runs.w_norm[-1, :-1, 1] > runs.w_norm[-1, :-1, 0])  # larger lr


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"batchnorm": 1, "lr": 0.1}, "batchnorm"),
        ({"batchnorm": True, "lr": -0.1}, "lr"),
        ({"batchnorm": True, "lr": [0.1, np.nan]}, "lr"),
        ({"batchnorm": True, "lr": 0.1, "scale": 0.0}, "scale"),
        ({"batchnorm": True, "lr": [0.1, 0.2], "seed": [0, 1, 2]}, "same length"),
        ({"batchnorm": True, "lr": 0.1, "seed": -1}, "seed"),
        ({"batchnorm": True, "lr": 0.1, "seed": 0.5}, "seed"),
        ({"batchnorm": True, "lr": 0.1, "steps": 0}, "steps"),
        ({"batchnorm": True, "lr": 0.1, "batch_size": 1}, "batch_size"),
        ({"batchnorm": True, "lr": 0.1, "dtype": np.int32}, "dtype"),
    ],
)
def test_bad_arguments_are_refused(data, kw, match):
    with pytest.raises(ValueError, match=match):
        demo.train_networks(data=data, layer_sizes=SIZES, **kw)


def test_wrong_data_shape_is_refused(data):
    X, y, Xt, yt = data
    with pytest.raises(ValueError, match="n_0, m"):
        demo.train_networks(True, 0.1, data=(X.T, y, Xt, yt), layer_sizes=SIZES)
    with pytest.raises(ValueError, match="larger than m"):
        demo.train_networks(True, 0.1, data=data, layer_sizes=SIZES, batch_size=500)


# --------------------------------------------------------------------------
# compare, the table and the figures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(data):
    return demo.compare(
        [(0.3, 1.0), (3.0, 0.1)],
        {(0.3, 1.0): [0, 1, 2], (3.0, 0.1): [4]},
        steps=20,
        data=data,
        layer_sizes=SIZES,
        batch_size=30,
        progress=False,
    )


def test_compare_splits_one_stacked_run_per_network(results, data):
    assert list(results) == [(0.3, 1.0), (3.0, 0.1)]
    pair = results[(0.3, 1.0)]
    assert pair.plain.K == pair.bn.K == 3 and not pair.plain.batchnorm
    assert pair.bn.batchnorm and list(pair.bn.seed) == [0, 1, 2]
    alone = demo.train_networks(
        True, 3.0, 0.1, 4, steps=20, data=data, layer_sizes=SIZES, batch_size=30
    )
    np.testing.assert_allclose(
        results[(3.0, 0.1)].bn.train_loss[:, 0], alone.train_loss[:, 0], rtol=1e-6
    )


def test_summary_rows_read_the_final_records(results):
    rows = demo.summary_rows(results)
    assert [(r["lr"], r["network"]) for r in rows] == [
        ("0.3", "without BN"),
        ("0.3", "with BN"),
        ("3", "without BN"),
        ("3", "with BN"),
    ]
    bn = results[(0.3, 1.0)].bn
    final = bn.train_loss[-1]
    want = f"{final.mean():.3f} ({final.min():.3f}..{final.max():.3f})"
    assert rows[1]["final loss (mean, min..max)"] == want
    assert rows[1]["seeds"] == "3" and rows[1]["diverged"] == "0 of 3"
    text = demo.format_table(rows)
    assert text.count("\n") == len(rows) + 1


def test_format_table_aligns_columns():
    rows = [{"a": "x", "bb": "yyyy"}, {"a": "longer", "bb": "z"}]
    lines = demo.format_table(rows).splitlines()
    assert lines[0].index("bb") == lines[2].index("yyyy") == lines[3].index("z")
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert demo.format_table([]) == "(no rows)"


def test_plot_comparison_draws_the_mean_and_the_seed_range(results, data):
    pair = results[(0.3, 1.0)]
    art = demo.plot_comparison(pair, data=data)
    line, band = art["bn_loss"]
    np.testing.assert_allclose(line.get_ydata(), pair.bn.train_loss.mean(axis=1))
    np.testing.assert_array_equal(line.get_xdata(), pair.bn.step)
    ys = band.get_paths()[0].vertices[:, 1]  # the band spans the seeds' min..max
    assert ys.min() == pytest.approx(pair.bn.train_loss.min())
    assert ys.max() == pytest.approx(pair.bn.train_loss.max())
    line, _ = art["plain_acc"]
    np.testing.assert_allclose(line.get_ydata(), pair.plain.test_acc.mean(axis=1))
    assert len(art["data"]) == 3  # one scatter per class
    fig = line.figure
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    plt.close("all")


def test_plot_weight_norms_starts_at_one(results):
    lines = demo.plot_weight_norms(results[(0.3, 1.0)])
    assert len(lines["bn"]) == len(lines["plain"]) == len(SIZES) - 2
    for ln in lines["bn"] + lines["plain"]:
        assert ln.get_ydata()[0] == pytest.approx(1.0)
    plt.close("all")


def test_graph_has_every_node_and_edge():
    art = demo.draw_bn_graph()
    assert set(art["boxes"]) == {"Z", "mu", "var", "Z_norm", "gamma", "beta", "Z_tilde"}
    assert len(art["arrows"]) == 9
    labels = " ".join(t.get_text() for t in art["texts"])
    for stage in ("dbeta", "dgamma", "dZ_norm", "dvar", "dmu", "dZ"):
        assert stage in labels
    plt.close("all")


# --------------------------------------------------------------------------
# The robustness panel
# --------------------------------------------------------------------------


def test_panel_first_draw_uses_the_results_without_training(results, data, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("the first draw must not train")

    monkeypatch.setattr(demo, "compare", no_training)
    panel = demo.robustness_panel(
        results, seeds=(0, 1, 2), steps=20, data=data, lr=0.3, scale=1.0
    )
    assert panel.error is None
    assert panel.data["pair"] is results[(0.3, 1.0)]
    assert "lr 0.3" in panel.readout.value and "with BN" in panel.readout.value
    plt.close("all")


def test_panel_trains_on_click_and_caches(results, data):
    panel = demo.robustness_panel(
        results, seeds=(0, 1, 2), steps=20, data=data, lr=0.3, scale=1.0
    )
    line = panel.artists["current"]["artists"]["bn_loss"][0]
    y0 = np.array(line.get_ydata())
    n0 = panel.n_updates
    panel.controls["lr"].value = 3.0
    assert panel.n_updates == n0  # moving a slider does not train
    panel.click()
    assert panel.error is None, panel.error
    assert panel.n_updates == n0 + 1
    new = panel.artists["current"]["artists"]["bn_loss"][0]
    assert not np.array_equal(np.asarray(new.get_ydata()), y0)
    assert (3.0, 1.0) in panel.data["cached"]
    pair = panel.data["pair"]
    np.testing.assert_allclose(new.get_ydata(), pair.bn.train_loss.mean(axis=1))
    assert panel.bar.value == panel.bar.max
    panel.click()  # the same setting again: from the cache, no duplicated artists
    labels = [t.get_text() for t in panel.fig.axes[1].get_legend().get_texts()]
    assert labels.count("chance (1/3)") == 1 and len(labels) == 3
    plt.close("all")


@pytest.mark.parametrize("lr", [demo.LR_CHOICES[0], demo.LR_CHOICES[-1]])
@pytest.mark.parametrize("scale", [demo.SCALE_CHOICES[0], demo.SCALE_CHOICES[-1]])
def test_panel_extremes_stay_finite_and_readable(data, lr, scale):
    panel = demo.robustness_panel(None, seeds=(0,), steps=20, data=data)
    panel.controls["lr"].value = lr
    panel.controls["scale"].value = scale
    panel.click()
    assert panel.error is None, panel.error
    for key, (line, _) in panel.artists["current"]["artists"].items():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y.size == panel.data["pair"].bn.step.size >= 2, key
    lo, hi = panel.fig.axes[0].get_ylim()
    assert np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi
    assert "without BN" in panel.readout.value
    plt.close("all")


def test_panel_says_when_a_network_does_not_train(data):
    panel = demo.robustness_panel(None, seeds=(0, 1), steps=20, data=data)
    panel.controls["lr"].value = 10.0
    panel.click()
    plain_part = panel.readout.value.split("with BN")[0]
    assert "not training" in plain_part or "diverged" in plain_part
    plt.close("all")


def test_panel_refuses_a_setting_off_its_sliders():
    with pytest.raises(ValueError, match="one of"):
        demo.robustness_panel(None, lr=0.2)


# --------------------------------------------------------------------------
# Every beta
# --------------------------------------------------------------------------


def test_beta_table_lists_every_beta_with_the_package_defaults():
    rows = demo.beta_table()
    names = " | ".join(r["name"] for r in rows)
    for key in ("momentum_beta", "rms_beta", "beta1", "beta2", "ema_beta"):
        assert key in names
    by_name = {r["name"].split(" ")[0]: r for r in rows}
    assert float(by_name["momentum_beta"]["value"]) == Momentum(0.1).momentum_beta
    assert float(by_name["rms_beta"]["value"]) == RMSprop(0.1).rms_beta
    assert float(by_name["beta1"]["value"]) == Adam(0.1).beta1
    assert float(by_name["beta2"]["value"]) == Adam(0.1).beta2
    ema = Network([2, 3, 2], batchnorm=True).bn_layers[1].ema_beta
    assert float(by_name["ema_beta"]["value"]) == ema
    # the frameworks: PyTorch's momentum weighs the new value, Keras' the old one
    torch_row = next(r for r in rows if "BatchNorm1d" in r["name"])
    keras_row = next(r for r in rows if "BatchNormalization" in r["name"])
    assert torch_row["value"].startswith("0.1") and "NEW" in torch_row["role"]
    assert keras_row["value"].startswith("0.99") and "OLD" in keras_row["role"]
    learned = [r for r in rows if r["learned"].startswith("yes")]
    assert len(learned) == 1 and "(n_l, 1)" in learned[0]["shape"]


def test_beta_table_html_has_every_row():
    rows = demo.beta_table()
    text = demo.beta_table_html(rows)
    assert text.count("<tr") == len(rows) + 1
    for r in rows:
        assert html.escape(r["name"]) in text


def test_a_diverged_copy_is_drawn_and_counted_without_warnings(data):
    kw = dict(steps=40, data=data, layer_sizes=SIZES, batch_size=30)
    pair = demo.Pair(
        demo.train_networks(False, [0.1, 3e38], 1.0, [0, 1], **kw),
        demo.train_networks(True, [0.1, 3e38], 1.0, [0, 1], **kw),
    )
    assert pair.plain.diverged.tolist() == [False, True]
    art = demo.plot_comparison(pair)  # warnings are errors in the test suite
    line, _ = art["plain_loss"]
    assert np.all(np.isfinite(line.get_ydata()))
    assert "1 diverged" in line.get_label()
    rows = demo.summary_rows({(0.1, 1.0): pair})
    assert rows[0]["diverged"] == "1 of 2"
    plt.close("all")


# --------------------------------------------------------------------------
# The stored grid of scripts/bn_network_grid.py
# --------------------------------------------------------------------------


def test_the_shipped_grid_is_what_the_current_code_computes():
    """network_grid.npz must be regenerated after any change to the training:
    one setting's 300-step accuracies are recomputed here, seed by seed."""
    grid = demo.grid_results()
    n_lr, n_sc = len(demo.LR_CHOICES), len(demo.SCALE_CHOICES)
    assert grid["test_acc"].shape == (2, 2, n_lr, n_sc, 5)
    assert grid["train_loss"].shape == grid["test_acc"].shape
    assert list(grid["steps"]) == [300, 1000]
    np.testing.assert_array_equal(grid["lrs"], demo.LR_CHOICES)
    i, j = demo.LR_CHOICES.index(1.0), demo.SCALE_CHOICES.index(0.3)
    again = demo.compare([(1.0, 0.3)], range(5), steps=300, progress=False)
    for w, runs in enumerate(again[(1.0, 0.3)]):
        assert np.array_equal(grid["test_acc"][0, w, i, j], runs.test_acc[-1]), (
            "bnutils/datafiles/network_grid.npz is stale: run "
            "`python scripts/bn_network_grid.py --save`"
        )


def test_grid_table_formats_mean_and_range_and_marks_divergence():
    acc = np.full((len(demo.LR_CHOICES), len(demo.SCALE_CHOICES), 3), 0.5)
    acc[0, 0] = [0.9, 1.0, 0.8]
    acc[1, 1, 0] = np.nan
    lines = demo.grid_table(acc).splitlines()
    assert len(lines) == 1 + len(demo.LR_CHOICES)
    assert "90% (80%-100%)" in lines[1]
    assert "33% (0%-50%)*" in lines[2]
    with pytest.raises(ValueError, match="shape"):
        demo.grid_table(acc[:, :2])


def test_grid_results_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"bn_network_grid\.py --save"):
        demo.grid_results(tmp_path / "nothing.npz")


def test_weight_norm_figure_keys_layers_and_line_styles_apart(results):
    import matplotlib.pyplot as plt
    from matplotlib.legend import Legend

    lines = demo.plot_weight_norms(results[(0.3, 1.0)])
    ax = plt.gcf().axes[0]
    legends = [a for a in ax.get_children() if isinstance(a, Legend)]
    titles = {leg.get_title().get_text() for leg in legends}
    assert titles == {"layer", "line style"}
    style = next(leg for leg in legends if leg.get_title().get_text() == "line style")
    layer_colors = {ln.get_color() for ln in lines["bn"] + lines["plain"]}
    assert len(layer_colors) == len(lines["bn"])  # one distinct colour per layer
    for handle in style.legend_handles:
        assert handle.get_color() not in layer_colors  # neutral, not a layer's colour
    plt.close("all")
