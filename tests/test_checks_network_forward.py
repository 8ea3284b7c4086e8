"""check_forward_with_bn (notebook 03): the reference passes, a correct answer
in another style passes, and every named mistake is named."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_all_distinct, assert_rejected, quiet

from bnutils import solutions
from bnutils.checks import check_forward_with_bn, network_forward
from bnutils.network import Network

# ---------------------------------------------------------------------------
# Learner-style forward passes, right and wrong
# ---------------------------------------------------------------------------


def _layers(params):
    return len([k for k in params if k[0] == "W"])


def _bn(Z, gamma, beta, eps, axis=1, ddof=0):
    mu = np.mean(Z, axis=axis, keepdims=True)
    var = np.var(Z, axis=axis, ddof=ddof, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def _softmax(Z, axis=0):
    E = np.exp(Z - np.max(Z, axis=axis, keepdims=True))
    return E / np.sum(E, axis=axis, keepdims=True)


def make(
    *,
    keep_bias=False,
    after_activation=False,
    axis=1,
    ddof=0,
    eps_fn=None,
    gb_layer=None,
    swap=False,
    no_gb=False,
    act=np.tanh,
    bn_output=False,
    output_bias=True,
    softmax_axis=0,
    softmax=True,
):
    """A forward pass written the way a learner would, with one option wrong."""

    def forward(X, params, eps=1e-5):
        L = _layers(params)
        cache = {}
        A = X
        for layer in range(1, L):
            Z = params["W" + str(layer)] @ A
            if keep_bias:
                Z = Z + params["b" + str(layer)]
            src = layer if gb_layer is None else gb_layer(layer)
            g, b = params["gamma" + str(src)], params["beta" + str(src)]
            if swap:
                g, b = b, g
            V = act(Z) if after_activation else Z
            mu = np.mean(V, axis=axis, keepdims=True)
            var = np.var(V, axis=axis, ddof=ddof, keepdims=True)
            denom = np.sqrt(var + eps) if eps_fn is None else eps_fn(var, eps)
            V_norm = (V - mu) / denom
            Z_tilde = V_norm if no_gb else g * V_norm + b
            A = Z_tilde if after_activation else act(Z_tilde)
            cache["Z" + str(layer)] = Z
            cache["Z_tilde" + str(layer)] = Z_tilde
            cache["A" + str(layer)] = A
        ZL = params["W" + str(L)] @ A
        if output_bias:
            ZL = ZL + params["b" + str(L)]
        if bn_output:
            ZL = _bn(ZL, 1.0, 0.0, eps)
        cache["Z" + str(L)] = ZL
        return (_softmax(ZL, softmax_axis) if softmax else ZL), cache

    return forward


def right_other_style(X, params, eps=1e-5):
    """Correct, written differently: a while loop, np.var, exp-normalize by
    hand, a list of layer numbers, and an einsum for the product."""
    layers = sorted(int(k[1:]) for k in params if k.startswith("W"))
    last = layers[-1]
    cache, A = {}, X
    for layer in layers[:-1]:
        Z = np.einsum("ij,jk->ik", params[f"W{layer}"], A)
        Zn = (Z - Z.mean(1)[:, None]) / np.sqrt(Z.var(1)[:, None] + eps)
        Zt = params[f"gamma{layer}"] * Zn + params[f"beta{layer}"]
        cache.update({f"Z{layer}": Z, f"Z_tilde{layer}": Zt, f"A{layer}": np.tanh(Zt)})
        A = cache[f"A{layer}"]
    logits = params[f"W{last}"].dot(A) + params[f"b{last}"]
    cache[f"Z{last}"] = logits
    shifted = logits - logits.max(0)
    return np.exp(shifted) / np.exp(shifted).sum(0), cache


def right_with_extra_cache_and_float64_list(X, params, eps=1e-5):
    """Correct, with extra cache entries (mu, var): extra keys are fine."""
    probs, cache = solutions.forward_with_bn(X, params, eps)
    cache["mu1"] = np.zeros(1)
    return probs, cache


def zero_indexed(X, params, eps=1e-5):
    L = _layers(params)
    A = X
    for layer in range(L - 1):
        Z = params[f"W{layer}"] @ A
        A = np.tanh(_bn(Z, params[f"gamma{layer}"], params[f"beta{layer}"], eps))
    return None


def bn_everywhere(X, params, eps=1e-5):
    """Batch Norm on every layer, the output layer included (reads gamma{L})."""
    L = _layers(params)
    A, cache = X, {}
    for layer in range(1, L + 1):
        Z = params[f"W{layer}"] @ A
        A = np.tanh(_bn(Z, params[f"gamma{layer}"], params[f"beta{layer}"], eps))
    return _softmax(A), cache


def next_layer_gamma(X, params, eps=1e-5):
    """gamma and beta of layer l + 1: a shape error where widths differ, a
    KeyError at the last hidden layer."""
    L = _layers(params)
    A, cache = X, {}
    for layer in range(1, L):
        Z = params[f"W{layer}"] @ A
        A = np.tanh(
            _bn(Z, params[f"gamma{layer + 1}"], params[f"beta{layer + 1}"], eps)
        )
    return _softmax(params[f"W{L}"] @ A + params[f"b{L}"]), cache


def returns_probs_only(X, params, eps=1e-5):
    return solutions.forward_with_bn(X, params, eps)[0]


def swapped_outputs(X, params, eps=1e-5):
    probs, cache = solutions.forward_with_bn(X, params, eps)
    return cache, probs


def cache_missing_z_tilde(X, params, eps=1e-5):
    probs, cache = solutions.forward_with_bn(X, params, eps)
    return probs, {k: v for k, v in cache.items() if not k.startswith("Z_tilde")}


def cache_is_list(X, params, eps=1e-5):
    probs, cache = solutions.forward_with_bn(X, params, eps)
    return probs, list(cache.values())


def cache_holds_z_norm(X, params, eps=1e-5):
    """Right probs, but Z_tilde in the cache is Z_norm (stored too early)."""
    probs, cache = solutions.forward_with_bn(X, params, eps)
    for key in list(cache):
        if key.startswith("Z_tilde"):
            Z = cache["Z" + key[7:]]
            cache[key] = (Z - Z.mean(1, keepdims=True)) / np.sqrt(
                Z.var(1, keepdims=True) + eps
            )
    return probs, cache


def modifies_params(X, params, eps=1e-5):
    L = _layers(params)
    for layer in range(1, L):
        params[f"b{layer}"] = np.zeros_like(
            params[f"b{layer}"]
        )  # "drop" b by zeroing it
    return solutions.forward_with_bn(X, params, eps)


def modifies_X(X, params, eps=1e-5):
    X -= X.mean(axis=1, keepdims=True)
    return solutions.forward_with_bn(X, params, eps)


def returns_nan(X, params, eps=1e-5):
    probs, cache = solutions.forward_with_bn(X, params, eps)
    return probs * np.nan, cache


def transposed_probs(X, params, eps=1e-5):
    probs, cache = solutions.forward_with_bn(X, params, eps)
    return probs.T, cache


def unnameable(X, params, eps=1e-5):
    """A hidden-layer scale that no named mistake explains (tanh(1.1 Z_tilde))."""
    L = _layers(params)
    A, cache = X, {}
    for layer in range(1, L):
        Z = params[f"W{layer}"] @ A
        Zt = _bn(Z, params[f"gamma{layer}"], params[f"beta{layer}"], eps)
        A = np.tanh(1.1 * Zt)
        cache.update({f"Z{layer}": Z, f"Z_tilde{layer}": Zt, f"A{layer}": A})
    ZL = params[f"W{L}"] @ A + params[f"b{L}"]
    cache[f"Z{L}"] = ZL
    return _softmax(ZL), cache


def raises_inside(X, params, eps=1e-5):
    raise NotImplementedError


def list_probs(X, params, eps=1e-5):
    probs, cache = solutions.forward_with_bn(X, params, eps)
    return probs.tolist(), cache


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


MISTAKES = [
    (make(keep_bias=True), "kept_bias", ["bias", "Z[1]"]),
    (make(after_activation=True), "bn_after_activation", ["after the activation"]),
    (make(axis=0), "wrong_axis", ["axis=0"]),
    (make(ddof=1), "unbiased_var", ["unbiased"]),
    (
        make(eps_fn=lambda var, eps: np.sqrt(var) + eps),
        "eps_outside_sqrt",
        ["outside"],
    ),
    (make(eps_fn=lambda var, eps: np.sqrt(var)), "eps_ignored", ["forgot eps"]),
    (
        make(eps_fn=lambda var, eps: np.sqrt(var + 1e-5)),
        "eps_hardcoded",
        ["eps argument"],
    ),
    (make(gb_layer=lambda layer: 1), "wrong_layer_params", ["wrong layer"]),
    (next_layer_gamma, "wrong_layer_params", ["wrong layer"]),
    (make(swap=True), "gamma_beta_swapped", ["swapped"]),
    (make(no_gb=True), "no_gamma_beta", ["without gamma and beta"]),
    (make(act=lambda Z: Z), "no_hidden_activation", ["no activation"]),
    (make(act=sigmoid), "sigmoid_not_tanh", ["sigmoid"]),
    (make(act=lambda Z: np.maximum(Z, 0)), "relu_not_tanh", ["ReLU"]),
    (make(bn_output=True), "bn_on_output", ["output layer"]),
    (bn_everywhere, "bn_on_output", ["output layer"]),
    (make(output_bias=False), "output_bias_dropped", ["b[L]"]),
    (make(softmax_axis=1), "softmax_wrong_axis", ["axis=1"]),
    (make(softmax=False), "no_softmax", ["softmax"]),
    (zero_indexed, "index_from_0", ["numbered from 1"]),
    (returns_probs_only, "single_output", ["(probs, cache)"]),
    (swapped_outputs, "swapped_outputs", ["swapped"]),
    (cache_missing_z_tilde, "cache_missing", ["Z_tilde1"]),
    (cache_is_list, "cache_not_dict", ["dict"]),
    (cache_holds_z_norm, "cache_wrong", ["Z_tilde1"]),
    (modifies_params, "in_place", ["in place", "params"]),
    (modifies_X, "in_place", ["in place", "X"]),
    (returns_nan, "nan", ["NaN"]),
    (transposed_probs, "transposed", ["transpose"]),
    (unnameable, "unknown", ["can't name"]),
    (raises_inside, "not_implemented", ["NotImplementedError"]),
    (list_probs, "wrong_type", ["numpy array"]),
    (lambda X, params, eps=1e-5: None, "returned_none", ["None"]),
    ("forward_with_bn", "not_callable", ["expected your function"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    MISTAKES,
    ids=[f"{i:02d}-{m[1]}" for i, m in enumerate(MISTAKES)],
)
def test_named_mistakes(fn, tag, keywords):
    result = quiet(check_forward_with_bn, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint  # every failure explains itself


@pytest.mark.parametrize(
    "fn",
    [
        solutions.forward_with_bn,
        right_other_style,
        right_with_extra_cache_and_float64_list,
    ],
)
def test_right_answers_pass(fn):
    result = quiet(check_forward_with_bn, fn)
    assert result.passed, result
    # W[1] @ X rounds at ~1e-16 of inputs near 1e6 (the offset case): about
    # 1e-11 of Z[1]'s spread of order 1, far below the tolerance 1e-8.
    assert result.rel_error < 1e-10


def test_the_reference_solution_matches_the_package_network():
    """solutions.forward_with_bn on a Network's parameters gives the network's
    own training-mode forward pass (float64, to round-off)."""
    net = Network(
        [3, 6, 5, 4], activation="tanh", batchnorm=True, weight_scale="xavier", seed=7
    )
    rng = np.random.default_rng(0)
    for key in net.params:  # move gamma, beta and b away from 1 and 0
        if not key.startswith("W"):
            net.params[key][...] = rng.normal(1.0, 0.5, size=net.params[key].shape)
    X = rng.normal(size=(3, 11))
    params = dict(net.params)
    params["b1"] = rng.normal(size=(6, 1))  # a bias the solution must ignore
    params["b2"] = rng.normal(size=(5, 1))
    probs, cache = solutions.forward_with_bn(X, params)
    want = net.forward(X, training=True, update_running=False)
    assert np.max(np.abs(probs - want)) < 1e-14
    for layer in (1, 2):
        assert (
            np.max(np.abs(cache[f"Z_tilde{layer}"] - net.cache[f"Zt{layer}"])) < 1e-13
        )
        assert np.max(np.abs(cache[f"A{layer}"] - net.cache[f"A{layer}"])) < 1e-14
    assert np.max(np.abs(cache["Z3"] - net.cache["Z3"])) < 1e-13


def test_the_checker_reference_is_independent_of_the_solution():
    for case in network_forward._cases():
        probs, cache = network_forward._ref(case["X"], case["params"], case["eps"])
        want, want_cache = solutions.forward_with_bn(
            case["X"], case["params"], case["eps"]
        )
        assert np.max(np.abs(probs - want)) < 1e-13
        assert cache.keys() == want_cache.keys()
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=0, atol=1e-14)


def test_cases_meet_the_checker_standard():
    cases = network_forward._cases()
    ms = [c["X"].shape[1] for c in cases]
    assert len(cases) >= 3 and 2 in ms and any(m % 2 for m in ms)
    for c in cases:
        assert all(n != c["X"].shape[1] for n in c["sizes"][1:])  # n_l != m
    assert len({c["eps"] for c in cases}) >= 2
    assert any(np.abs(c["X"].mean()) > 10 for c in cases)  # a large offset
    assert any(np.abs(c["X"]).max() > 100 and abs(c["X"].mean()) < 1e3 for c in cases)
    widths = [c["sizes"][1:-1] for c in cases]
    assert any(len(w) > 1 and len(set(w)) == 1 for w in widths)  # gamma1 runs there
    # every layer of every case has a bias far from 0, so a kept b shows in Z[l]
    for c in cases:
        for key, value in c["params"].items():
            if key.startswith("b"):
                assert np.abs(value).max() > 0.1


def test_named_mistakes_give_distinct_probs():
    cases = network_forward._cases()
    table = {
        "right": [network_forward._ref(c["X"], c["params"], c["eps"])[0] for c in cases]
    }
    computed = [network_forward._variants(c) for c in cases]
    for tag in network_forward._VARIANT_KW:
        arrays = [comp.get(tag) for comp in computed]
        # where a mistake raises (gamma1 in a layer of another width), use a
        # stand-in that differs from everything
        table[tag] = [
            np.full_like(r, 7.0) if a is None else a
            for a, r in zip(arrays, table["right"], strict=True)
        ]
    assert_all_distinct(table)


def test_a_kept_bias_leaves_probs_unchanged_but_not_the_cache():
    """Why the kept bias is diagnosed from the cache: BN cancels b exactly."""
    case = network_forward._cases()[0]
    keep = make(keep_bias=True)
    probs_b, cache_b = keep(case["X"], case["params"], case["eps"])
    probs, cache = solutions.forward_with_bn(case["X"], case["params"], case["eps"])
    assert np.max(np.abs(probs_b - probs)) < 1e-12
    assert np.max(np.abs(cache_b["Z1"] - cache["Z1"] - case["params"]["b1"])) < 1e-12


def test_checker_leaves_its_inputs_alone():
    quiet(check_forward_with_bn, modifies_params)
    quiet(check_forward_with_bn, modifies_X)
    assert quiet(check_forward_with_bn, solutions.forward_with_bn).passed


def test_exceptions_name_the_failing_line():
    def broken(X, params, eps=1e-5):
        Z = params["W1"] @ X
        mu = Z.mean(axis=1)  # no keepdims
        return Z - mu, {}

    result = quiet(check_forward_with_bn, broken)
    assert not result.passed
    assert result.mistake in ("exception", "wrong_layer_params")
    assert "Z - mu" in result.hint or "keepdims" in result.hint


# ---------------------------------------------------------------------------
# Found by the second adversarial pass
# ---------------------------------------------------------------------------


def _fwd(X, params, eps, *, L=None, one_pass=False):
    if L is None:
        L = _layers(params)
    cache, A = {}, X
    for layer in range(1, L):
        Z = params[f"W{layer}"] @ A
        mu = Z.mean(axis=1, keepdims=True)
        if one_pass:
            var = (Z**2).mean(axis=1, keepdims=True) - mu**2
        else:
            var = Z.var(axis=1, keepdims=True)
        Zt = params[f"gamma{layer}"] * (Z - mu) / np.sqrt(var + eps)
        Zt = Zt + params[f"beta{layer}"]
        A = np.tanh(Zt)
        cache[f"Z{layer}"], cache[f"Z_tilde{layer}"], cache[f"A{layer}"] = Z, Zt, A
    ZL = params[f"W{L}"] @ A + params[f"b{L}"]
    cache[f"Z{L}"] = ZL
    E = np.exp(ZL - ZL.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True), cache


def one_pass(X, params, eps=1e-5):
    return _fwd(X, params, eps, one_pass=True)


def adds_key(X, params, eps=1e-5):
    params["L"] = _layers(params)
    return _fwd(X, params, eps, L=params["L"])


def removes_key(X, params, eps=1e-5):
    L = _layers(params)
    params.pop(f"b{L - 1}")  # "not needed": Batch Norm cancels it
    return _fwd(X, params, eps)


def replaces_entry(X, params, eps=1e-5):
    params["W1"] = params["W1"].copy()  # same values, another array
    return _fwd(X, params, eps)


def layers_3(X, params, eps=1e-5):
    return _fwd(X, params, eps, L=3)


def layers_4(X, params, eps=1e-5):
    return _fwd(X, params, eps, L=4)


def layers_len_div_4(X, params, eps=1e-5):
    return _fwd(X, params, eps, L=len(params) // 4)


SECOND_PASS = [
    (one_pass, "one_pass_variance", ["near 1e6"]),
    (adds_key, "in_place", ["params", "'L' added"]),
    (removes_key, "in_place", ["params", "removed"]),
    (replaces_entry, "in_place", ["params", "'W1' replaced"]),
    (layers_3, "layer_count", ["number of layers", "L = 3"]),
    (layers_4, "layer_count", ["number of layers"]),
    (layers_len_div_4, "layer_count", ["number of layers", "cache ends at"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    SECOND_PASS,
    ids=[m[0].__name__ for m in SECOND_PASS],
)
def test_second_adversarial_pass(fn, tag, keywords):
    result = quiet(check_forward_with_bn, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint
    assert "gamma" not in result.message or tag != "layer_count"


def test_a_local_copy_of_params_may_be_changed():
    def local_copy(X, params, eps=1e-5):
        params = dict(params)
        params["L"] = _layers(params)
        return _fwd(X, params, eps, L=params["L"])

    assert quiet(check_forward_with_bn, local_copy).passed


def test_cases_include_inputs_near_1e6():
    case = network_forward._cases()[network_forward._OFFSET_CASE]
    assert np.abs(case["X"]).min() > 5e5 and case["X"].std(axis=1).max() < 10
