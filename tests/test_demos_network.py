"""bnutils.demos.network (notebook 03) against independent references, and its
panels without a browser."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from bnutils.demos import network as demo
from bnutils.layers import batchnorm_backward, batchnorm_forward
from bnutils.network import Network
from bnutils.optim import GD, Adam, Momentum, RMSprop


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-300))


def _bn_ref(Z, gamma, beta, eps=1e-5):
    """Batch Norm written out from Ioffe & Szegedy's Algorithm 1 (per unit)."""
    mu = Z.sum(axis=1, keepdims=True) / Z.shape[1]
    var = ((Z - mu) ** 2).sum(axis=1, keepdims=True) / Z.shape[1]
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def _num_grad(f, x, h=1e-5):
    """Centred differences of the scalar f at x (x is not modified)."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


# --------------------------------------------------------------------------
# The forward chain and its shapes
# --------------------------------------------------------------------------


@pytest.fixture
def small_net():
    net = Network([2, 5, 4, 3], activation="tanh", batchnorm=True, seed=3)
    X = np.random.default_rng(1).normal(size=(2, 6))
    return net, X


def test_shape_table_matches_the_network(small_net):
    net, X = small_net
    rows = demo.forward_shape_rows(net, X)
    shapes = {r["array"]: r["shape"] for r in rows}
    sizes, m = [2, 5, 4, 3], 6
    assert shapes["X = A[0]"] == "(2, 6)"
    for k in (1, 2, 3):
        n, n_prev = sizes[k], sizes[k - 1]
        assert shapes[f"W[{k}]"] == f"({n}, {n_prev})"
        assert shapes[f"Z[{k}]"] == f"({n}, {m})"
        assert shapes[f"A[{k}]"] == f"({n}, {m})"
    for k in (1, 2):  # hidden layers: BN, no bias
        n = sizes[k]
        for name in ("mu", "sigma^2", "gamma", "beta"):
            assert shapes[f"{name}[{k}]"] == f"({n}, 1)"
        for name in ("Z_norm", "Z_tilde"):
            assert shapes[f"{name}[{k}]"] == f"({n}, {m})"
        assert f"b[{k}]" not in shapes
    assert shapes["b[3]"] == "(3, 1)"  # output layer: no BN follows, so a bias
    assert "gamma[3]" not in shapes
    # every parameter of the network appears once, with its own shape
    params = [r for r in rows if r["kind"] == "parameter"]
    assert len(params) == len(net.params)
    for key, arr in net.params.items():
        name = re.sub(r"(\D+)(\d+)", r"\1[\2]", key)
        assert shapes[name] == str(tuple(arr.shape))
    # the rows come in the order of the forward pass
    order = [r["array"] for r in rows if r["layer"] == 1]
    assert order.index("Z[1]") < order.index("Z_norm[1]") < order.index("Z_tilde[1]")
    assert order.index("Z_tilde[1]") < order.index("A[1]")


def test_shape_table_with_a_bias_before_bn_says_it_is_useless():
    net = Network([2, 3, 2], batchnorm=True, use_bias=True, seed=0)
    rows = demo.forward_shape_rows(net, np.ones((2, 4)) * np.arange(4))
    b1 = next(r for r in rows if r["array"] == "b[1]")
    assert "useless" in b1["meaning"]
    assert next(r for r in rows if r["array"] == "Z[1]")["meaning"].endswith("+ b")


def test_shape_table_rejects_a_1d_input(small_net):
    net, _ = small_net
    with pytest.raises(ValueError, match="shape"):
        demo.forward_shape_rows(net, np.ones(6))


def test_parameter_rows_count_every_learned_number(small_net):
    net, _ = small_net
    rows = demo.parameter_rows(net)
    # closed form: W (n_l x n_{l-1}) + gamma, beta (2 n_l) on hidden layers,
    # W + b on the output layer
    want = [5 * 2 + 2 * 5, 4 * 5 + 2 * 4, 3 * 4 + 3]
    assert [r["count"] for r in rows] == want
    assert [r["b"] for r in rows] == ["-", "-", "(3, 1)"]
    assert [r["gamma"] for r in rows] == ["(5, 1)", "(4, 1)", "-"]
    assert sum(want) == net.n_params


def test_format_table_aligns_columns():
    rows = [{"a": "x", "bb": "yyyy"}, {"a": "longer", "bb": "z"}]
    lines = demo.format_table(rows).splitlines()
    assert lines[0].index("bb") == lines[2].index("yyyy") == lines[3].index("z")
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert demo.format_table([]) == "(no rows)"


# --------------------------------------------------------------------------
# A bias before Batch Norm
# --------------------------------------------------------------------------


def test_bias_before_bn_changes_nothing():
    r = demo.bias_invariance(seed=2, n_trials=6, b_scale=10.0)
    assert r["b"].shape == (6, 5)
    assert np.abs(r["b"]).max() > 5  # the biases are not small
    assert np.all(r["max_abs_diff"] < 1e-12)
    # what the bias does change: the batch mean moves by exactly b
    np.testing.assert_allclose(r["mu_shift"], r["b"], rtol=0, atol=1e-12)


def test_bias_gradient_is_zero_and_finite_differences_agree():
    r = demo.bias_gradient(seed=4)
    A, W, b, g, be, G = (
        r[k] for k in ("A_prev", "W", "b", "gamma", "beta", "dZ_tilde")
    )
    assert r["db"].shape == (5, 1)
    assert np.abs(r["db"]).max() < 1e-12 * r["dZ_scale"]
    np.testing.assert_allclose(r["dZ"].sum(axis=1), 0.0, atol=1e-12)

    def loss_b(bb):
        return np.sum(G * _bn_ref(W @ A + bb, g, be))

    def loss_W(WW):
        return np.sum(G * _bn_ref(WW @ A + b, g, be))

    assert np.abs(_num_grad(loss_b, b)).max() < 1e-8
    dW_num = _num_grad(loss_W, W)
    assert np.abs(r["dW"]).max() > 0.1  # W does get a gradient
    assert _rel(r["dW"], dW_num) < 1e-8


# --------------------------------------------------------------------------
# Backprop through Batch Norm
# --------------------------------------------------------------------------


@pytest.fixture
def bn_case():
    rng = np.random.default_rng(7)
    Z = rng.normal(loc=3.0, scale=2.0, size=(4, 7))
    gamma = rng.uniform(0.5, 2.0, size=(4, 1))
    beta = rng.normal(size=(4, 1))
    G = rng.normal(size=(4, 7))
    _, cache = batchnorm_forward(Z, gamma, beta)
    return Z, gamma, beta, G, cache


def test_staged_backward_equals_the_compact_formula(bn_case):
    _, _, _, G, cache = bn_case
    st = demo.staged_backward(G, cache)
    assert list(st) == ["dbeta", "dgamma", "dZ_norm", "dvar", "dmu", "dZ"]
    dZ, dgamma, dbeta = batchnorm_backward(G, cache)
    assert _rel(st["dZ"], dZ) < 1e-12
    assert _rel(st["dgamma"], dgamma) < 1e-14
    assert _rel(st["dbeta"], dbeta) < 1e-14
    assert st["dvar"].shape == st["dmu"].shape == (4, 1)
    assert st["dZ_norm"].shape == (4, 7)


def test_staged_backward_against_finite_differences(bn_case):
    Z, gamma, beta, G, cache = bn_case
    st = demo.staged_backward(G, cache)
    eps = cache.eps
    dZ_num = _num_grad(lambda z: np.sum(G * _bn_ref(z, gamma, beta)), Z)
    dg_num = _num_grad(lambda g: np.sum(G * _bn_ref(Z, g, beta)), gamma)
    db_num = _num_grad(lambda b: np.sum(G * _bn_ref(Z, gamma, b)), beta)
    assert _rel(st["dZ"], dZ_num) < 1e-8
    assert _rel(st["dgamma"], dg_num) < 1e-8
    assert _rel(st["dbeta"], db_num) < 1e-8
    # the intermediate nodes: var with mu fixed; mu with var = mean((Z - mu)^2)
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)

    def loss_var(v):
        return np.sum(G * (gamma * (Z - mu) / np.sqrt(v + eps) + beta))

    def loss_mu(u):
        v = np.mean((Z - u) ** 2, axis=1, keepdims=True)
        return np.sum(G * (gamma * (Z - u) / np.sqrt(v + eps) + beta))

    assert _rel(st["dvar"], _num_grad(loss_var, var, h=1e-6)) < 1e-8
    assert _rel(st["dmu"], _num_grad(loss_mu, mu)) < 1e-8


def test_staged_backward_rejects_a_wrong_shape(bn_case):
    *_, cache = bn_case
    with pytest.raises(ValueError, match="shape"):
        demo.staged_backward(np.ones((7, 4)), cache)
    with pytest.raises(ValueError, match="BNCache"):
        demo.staged_backward(np.ones((4, 7)), (1, 2))


def test_graph_has_every_node_and_edge():
    import matplotlib.pyplot as plt

    art = demo.draw_bn_graph()
    assert set(art["boxes"]) == {"Z", "mu", "var", "Z_norm", "gamma", "beta", "Z_tilde"}
    assert len(art["arrows"]) == 9
    labels = " ".join(t.get_text() for t in art["texts"])
    for stage in ("dbeta", "dgamma", "dZ_norm", "dvar", "dmu", "dZ"):
        assert stage in labels
    plt.close("all")


# --------------------------------------------------------------------------
# Scale invariance
# --------------------------------------------------------------------------


@pytest.mark.parametrize("a", [0.01, 0.37, 5.0, 100.0])
def test_scale_invariance_is_exact_without_eps(a):
    r = demo.scale_invariance(a, eps=1e-14)
    assert r.max_abs_diff < 1e-8
    assert r.loss_aW == pytest.approx(r.loss_W, rel=1e-9)
    # dL/d(aW) = dL/dW / a, entry by entry; dL/du does not change
    assert _rel(a * r.daW, r.dW) < 1e-8
    assert r.grad_ratio * a == pytest.approx(1.0, abs=1e-8)
    assert _rel(r.du_aW, r.du_W) < 1e-8
    assert r.std_Z_aW == pytest.approx(a * r.std_Z_W, rel=1e-12)
    np.testing.assert_allclose(r.unit_var_aW, a**2 * r.unit_var_W, rtol=1e-12)
    # one variance per unit, and never more than the spread of all the values
    # (the total variance adds the spread of the unit means)
    assert r.unit_var_W.shape == (r.W.shape[0],)
    assert r.unit_var_W.mean() <= r.std_Z_W**2 * (1 + 1e-12)
    # relative step ||dL/d(aW)|| / ||aW|| falls as 1/a^2
    r1 = demo.scale_invariance(1.0, eps=1e-14)
    assert r.relative_step * a**2 == pytest.approx(r1.relative_step, rel=1e-8)
    assert r1.relative_step == pytest.approx(
        np.linalg.norm(r1.dW) / np.linalg.norm(r1.W), rel=1e-14
    )


def test_scale_summary_formats_the_numbers():
    r = demo.scale_invariance(4.0, eps=1e-14)
    row = r.summary()
    assert row["a"] == "4"
    assert float(row["ratio x a"]) == pytest.approx(1.0, abs=1e-6)
    assert float(row["||dL/d(aW)|| / ||dL/dW||"]) == pytest.approx(0.25, rel=1e-4)
    assert float(row["relative step"]) == pytest.approx(r.relative_step, rel=1e-2)


def test_scale_invariance_with_the_default_eps_is_close():
    for a in (0.1, 10.0):
        r = demo.scale_invariance(a)
        assert r.max_abs_diff < 1e-3
        assert r.grad_ratio * a == pytest.approx(1.0, abs=1e-3)


def test_scale_setup_gradients_match_finite_differences():
    s = demo._ScaleSetup(seed=1)
    _, _, dW, du, _, unit_var = s.run(s.W)
    # the per-unit variance is the biased variance of each row of W u
    Z = s.W @ s.u
    ref = ((Z - Z.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
    np.testing.assert_allclose(unit_var, ref, rtol=1e-12)
    dW_num = _num_grad(lambda w: s.run(w)[0], s.W)
    assert _rel(dW, dW_num) < 1e-8
    u0 = s.u.copy()

    def loss_u(u):
        s.u = u
        return s.run(s.W)[0]

    du_num = _num_grad(loss_u, u0)
    s.u = u0
    assert _rel(du, du_num) < 1e-8


def test_scale_invariance_rejects_non_positive_a():
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="positive"):
            demo.scale_invariance(bad)


def test_scale_panel_moves_with_the_slider_and_stays_finite():
    panel = demo.scale_invariance_panel()
    assert panel.error is None
    mark = panel.artists["grad_W"]
    pts = panel.artists["outputs"]
    y1 = float(np.asarray(mark.get_ydata())[0])
    slider = panel.controls["a"]
    slider.value = 10.0
    assert panel.error is None
    assert float(np.asarray(mark.get_xdata())[0]) == pytest.approx(10.0)
    assert float(np.asarray(mark.get_ydata())[0]) == pytest.approx(y1 / 10.0, rel=1e-4)
    for v in (10.0**slider.min, 10.0**slider.max):
        slider.value = v
        assert panel.error is None
        offsets = np.asarray(pts.get_offsets())
        assert offsets.shape == (4 * 16, 2) and np.all(np.isfinite(offsets))
        assert np.all(np.isfinite(mark.get_ydata()))
        assert "1/a" in panel.readout.value
    assert slider.value == pytest.approx(100.0)


def test_scale_panel_warns_about_eps_only_where_it_matters():
    # eps = 1e-5 against the smallest per-unit pre-BN variance a^2 var(W u): at
    # a = 0.01 it is about 1e-3 (eps is about 1 % of it) and the
    # readout must say so; at a = 0.5 or 100 eps is below 1e-5 of the variance
    # and the readout must not blame it.
    panel = demo.scale_invariance_panel()
    slider = panel.controls["a"]
    var_W = demo.scale_invariance(1.0).unit_var_W.min()
    for a in (0.01, 0.03, 0.5, 100.0):
        slider.value = a
        expected = 1e-5 >= demo.EPS_NOTICEABLE * a**2 * var_W
        assert ("no longer negligible" in panel.readout.value) == expected, a
    slider.value = 0.01
    assert "no longer negligible" in panel.readout.value
    slider.value = 0.5
    assert "no longer negligible" not in panel.readout.value


# --------------------------------------------------------------------------
# Every beta of the course
# --------------------------------------------------------------------------


def test_beta_table_lists_every_beta_with_the_package_defaults():
    rows = demo.beta_table()
    names = " | ".join(r["name"] for r in rows)
    for key in ("momentum_beta", "rms_beta", "beta1", "beta2", "ema_beta", "PyTorch"):
        assert key in names
    by_name = {r["name"].split(" ")[0]: r for r in rows}
    # the values shown are those of the objects themselves
    assert float(by_name["momentum_beta"]["value"]) == Momentum(0.1).momentum_beta
    assert float(by_name["rms_beta"]["value"]) == RMSprop(0.1).rms_beta
    assert float(by_name["beta1"]["value"]) == Adam(0.1).beta1
    assert float(by_name["beta2"]["value"]) == Adam(0.1).beta2
    ema = Network([2, 3, 2], batchnorm=True).bn_layers[1].ema_beta
    assert float(by_name["ema_beta"]["value"]) == ema
    torch_row = next(r for r in rows if "PyTorch" in r["name"])
    assert float(torch_row["value"].split()[0]) == pytest.approx(1 - ema)
    # only the Batch Norm shift is learned, and it has one value per unit
    learned = [r for r in rows if r["learned"].startswith("yes")]
    assert len(learned) == 1 and "(n_l, 1)" in learned[0]["shape"]


def test_beta_table_html_has_every_row():
    rows = demo.beta_table()
    text = demo.beta_table_html(rows)
    assert text.count("<tr") == len(rows) + 1
    for r in rows:
        assert html.escape(r["name"]) in text


def test_no_optimizer_accepts_beta():
    errors = demo.beta_keyword_errors()
    assert set(errors) == {"gd", "momentum", "rmsprop", "adam"}
    for msg in errors.values():
        assert msg.startswith("ValueError") and "beta" in msg
    with pytest.raises(ValueError):
        GD(0.1, beta=0.9)


# --------------------------------------------------------------------------
# gamma and beta trained by four optimizers
# --------------------------------------------------------------------------

STEPS = 100


@pytest.fixture(scope="module")
def runs():
    return demo.train_optimizers(steps=STEPS, progress=False)


def test_every_optimizer_decreases_the_loss_and_moves_gamma_and_beta(runs):
    assert list(runs) == list(demo.OPTIMIZER_NAMES)
    for name, run in runs.items():
        first = float(run.history.step_loss[0])
        assert np.isfinite(run.final_loss)
        assert run.final_loss < 0.7 * first, name
        step, loss = run.curve()
        assert step.shape == loss.shape == (STEPS,)
        assert loss[-1] < 0.7 * loss[0], name
        assert np.mean(np.abs(run.values("gamma") - 1.0)) > 0.01, name
        assert np.mean(np.abs(run.values("beta"))) > 0.01, name
        assert run.values("gamma").shape == (64,)


def test_training_is_deterministic(runs):
    again = demo.train_bn_net("adam", steps=STEPS)
    ref = runs["adam"]
    np.testing.assert_array_equal(again.history.step_loss, ref.history.step_loss)
    np.testing.assert_array_equal(again.values("gamma"), ref.values("gamma"))
    other = demo.train_bn_net("adam", steps=STEPS, seed=1)
    assert not np.array_equal(other.values("gamma"), ref.values("gamma"))


def test_curve_is_a_trailing_mean_of_the_batch_losses(runs):
    run = runs["gd"]
    raw = run.history.step_loss
    step, loss = run.curve(window=20)
    assert loss[0] == raw[0]
    assert loss[9] == pytest.approx(raw[:10].mean(), rel=1e-14)
    assert loss[49] == pytest.approx(raw[30:50].mean(), rel=1e-14)
    assert step[49] == 50


def test_summary_rows_and_comparison_figure(runs):
    import matplotlib.pyplot as plt

    rows = demo.optimizer_summary_rows(runs)
    assert [r["optimizer"] for r in rows] == ["GD", "Momentum", "RMSprop", "Adam"]
    art = demo.plot_optimizer_comparison(runs)
    for name, line in art["lines"].items():
        np.testing.assert_array_equal(line.get_ydata(), runs[name].curve()[1])
    assert len(art["gamma"]) == len(art["beta"]) == 4
    plt.close("all")


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="one of"):
        demo.train_bn_net("sgd", steps=10)


def test_optimizer_panel_trains_on_click(runs):
    panel = demo.optimizer_panel(reference=runs)
    assert panel.error is None
    line = panel.artists["loss"]
    sc = panel.artists["layer1"]
    c = panel.controls
    c["steps"].value = STEPS
    y0 = np.array(line.get_ydata())
    off0 = np.array(sc.get_offsets())
    n0 = panel.n_updates
    c["optimizer"].value = "gd"  # no training on a control change ...
    assert panel.n_updates == n0
    assert c["lr"].value == pytest.approx(demo.DEFAULT_LR["gd"])  # ... a fitting lr
    panel.click()
    assert panel.error is None
    assert panel.n_updates == n0 + 1
    y1 = np.array(line.get_ydata())
    assert y1.shape == (STEPS,) and not np.array_equal(y1[: y0.size], y0[: y1.size])
    np.testing.assert_array_equal(y1, runs["gd"].curve()[1])  # same settings
    assert not np.array_equal(np.asarray(sc.get_offsets()), off0)
    assert "GD" in panel.readout.value
    assert panel.bar.value == panel.bar.max  # the progress bar reached the end


def test_optimizer_panel_at_the_learning_rate_extremes(runs):
    panel = demo.optimizer_panel(reference=runs)
    c = panel.controls
    c["steps"].value = c["steps"].min
    for name in ("adam", "gd"):
        c["optimizer"].value = name
        for v in (10.0 ** c["lr"].min, 10.0 ** c["lr"].max):
            c["lr"].value = v
            panel.click()
            assert panel.error is None, panel.error
            x, y = panel.artists["loss"].get_data()
            assert len(y) > 0 and np.all(np.isfinite(y)) and np.all(np.isfinite(x))
            for key in ("layer1", "layer2"):
                off = np.asarray(panel.artists[key].get_offsets())
                assert off.size > 0 and np.all(np.isfinite(off))
            lo, hi = panel.fig.axes[1].get_xlim()
            assert np.isfinite(lo) and np.isfinite(hi) and lo < hi
