"""Exercise of notebook 03: :func:`check_forward_with_bn`, the forward pass of
an L-layer network with Batch Norm on every hidden layer (training mode).

The learner writes ``forward_with_bn(X, params, eps=1e-5) -> (probs, cache)``:
for the hidden layers ``l = 1 .. L-1``::

    Z[l] = W[l] A[l-1]                      (no b[l]: Batch Norm cancels it)
    Z_tilde[l] = gamma[l] * (Z[l] - mu) / sqrt(var + eps) + beta[l]
    A[l] = tanh(Z_tilde[l])

with the mini-batch mean ``mu`` and biased variance ``var`` of each unit (over
the examples, ``axis=1``), and for the output layer ``Z[L] = W[L] A[L-1] +
b[L]`` and ``probs = softmax(Z[L])`` over the units (``axis=0``). ``params``
holds ``W1 .. WL`` and ``b1 .. bL`` (a bias for every layer, as a network
without Batch Norm has) and ``gamma1 .. gamma{L-1}``, ``beta1 .. beta{L-1}``.
``cache`` is a dict with ``Z{l}`` for every layer and ``Z_tilde{l}``, ``A{l}``
for the hidden layers.

The test cases differ in depth (one to three hidden layers), in the widths and
in ``m`` (``n_l != m``, odd ``m``, ``m = 2``), use three values of ``eps``
(1e-5, 1e-3 and 0.5, the last against variances of order 0.1-1), and include a
large-offset case (inputs near 50, so ``Z[1]`` has means in the hundreds), a
large-scale case (inputs of order 1e3) and inputs near 1e6 with spread 1 (where
a one-pass variance loses its precision). One case has hidden layers of equal
width, so that gamma and beta of the wrong layer run without an error there;
every case has a non-zero bias in every layer, so that a kept bias shows in
``Z[l]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    MATCH_TOL,
    TOL,
    YOUR_CODE,
    CheckResult,
    Fail,
    Issue,
    as_real,
    call_learner,
    dedupe,
    describe,
    exception_issue,
    in_place_issue,
    is_low_precision,
    kind_issue,
    low_precision_hint,
    max_diff,
    max_rel,
    passed_message,
    rel_error,
    run_checker,
    shape_issue,
    wrong_only_in,
)

NAME = "forward_with_bn"
SIGNATURE = "forward_with_bn(X, params, eps=1e-5) -> (probs, cache)"
STEPS = (
    "for l = 1 .. L-1: Z = W[l] @ A; mu = Z.mean(axis=1, keepdims=True); "
    "var = ((Z - mu)**2).mean(axis=1, keepdims=True);\n"
    "Z_tilde = gamma[l] * (Z - mu) / np.sqrt(var + eps) + beta[l]; A = np.tanh("
    "Z_tilde). Then Z[L] = W[L] @ A + b[L] and probs = softmax over axis=0."
)


# ---------------------------------------------------------------------------
# Test cases and the reference
# ---------------------------------------------------------------------------


def _case(rng, sizes, m, eps, *, x_offset=0.0, x_scale=1.0) -> dict:
    """A network ``sizes`` = [n_0, n_1, ..., n_L] with every parameter drawn
    from ``rng``, and a batch X of shape (n_0, m)."""
    L = len(sizes) - 1
    params = {}
    for layer in range(1, L + 1):
        n_in, n_out = sizes[layer - 1], sizes[layer]
        params[f"W{layer}"] = rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)
        params[f"b{layer}"] = rng.normal(0.0, 1.0, size=(n_out, 1))
        if layer < L:
            params[f"gamma{layer}"] = rng.uniform(0.5, 2.0, size=(n_out, 1))
            params[f"beta{layer}"] = rng.normal(0.0, 0.5, size=(n_out, 1))
    X = x_offset + x_scale * rng.standard_normal((sizes[0], m))
    return {"X": X, "params": params, "eps": eps, "sizes": list(sizes)}


def _cases() -> list[dict]:
    """The test inputs (float64), each with a description for the messages."""
    rng = np.random.default_rng(150203167)  # arXiv 1502.03167, Ioffe & Szegedy
    cases = [
        # Three hidden layers of equal width (gamma of another layer runs), m odd.
        _case(rng, [3, 4, 4, 4, 3], 7, 1e-5),
        # m = 2 and eps = 0.5 against hidden variances of order 0.1-1.
        _case(rng, [2, 5, 3, 4], 2, 0.5),
        # Large offset: inputs near 50, so Z[1] has means in the hundreds.
        _case(rng, [4, 6, 5, 2], 9, 1e-3, x_offset=50.0),
        # Large scale: inputs of order 1e3; three hidden layers of different width.
        _case(rng, [3, 4, 2, 5, 3], 6, 1e-5, x_scale=1e3),
        # The smallest network: one hidden layer; eps = 0.5 again, m odd.
        _case(rng, [2, 3, 2], 5, 0.5),
        # Inputs near 1e6 with spread 1: Z[1] has means near 1e6 and spreads
        # near 1, where a one-pass variance mean(Z**2) - mean(Z)**2 loses its
        # precision (see _OFFSET_CASE).
        _case(rng, [3, 4, 3, 2], 6, 1e-5, x_offset=1e6),
    ]
    for case in cases:
        sizes = case["sizes"]
        case["desc"] = (
            f"layer sizes {sizes}, X of shape {case['X'].shape}, eps={case['eps']}"
        )
    return cases


#: Index of the case with inputs near 1e6 in :func:`_cases`.
_OFFSET_CASE = 5


def _softmax(Z, axis=0):
    E = np.exp(Z - Z.max(axis=axis, keepdims=True))
    return E / E.sum(axis=axis, keepdims=True)


def _n_layers(params) -> int:
    return sum(1 for key in params if re.fullmatch(r"W\d+", key))


def _ref(X, params, eps) -> tuple[np.ndarray, dict]:
    """The right answer, one unit at a time (independent of the vectorized
    variants below)."""
    L = _n_layers(params)
    cache = {}
    A = X
    for layer in range(1, L):
        Z = params[f"W{layer}"] @ A
        Z_tilde = np.empty_like(Z)
        m = Z.shape[1]
        for i in range(Z.shape[0]):
            z = Z[i]
            mu = sum(z) / m
            var = sum((z - mu) ** 2) / m
            g, b = params[f"gamma{layer}"][i, 0], params[f"beta{layer}"][i, 0]
            Z_tilde[i] = g * (z - mu) / math.sqrt(var + eps) + b
        A = np.tanh(Z_tilde)
        cache[f"Z{layer}"], cache[f"Z_tilde{layer}"], cache[f"A{layer}"] = (
            Z,
            Z_tilde,
            A,
        )
    ZL = params[f"W{L}"] @ A + params[f"b{L}"]
    cache[f"Z{L}"] = ZL
    return _softmax(ZL), cache


# ---------------------------------------------------------------------------
# What each named mistake computes
# ---------------------------------------------------------------------------


def _variant_forward(
    X,
    params,
    eps,
    *,
    order="bn_then_g",
    axis=1,
    ddof=0,
    eps_mode="inside",
    layer_of_gb=None,
    gb="right",
    act=np.tanh,
    bn_output=False,
    output_bias=True,
    softmax_axis=0,
    softmax=True,
):
    """The forward pass with one thing done wrong (the keyword says what)."""
    L = _n_layers(params)
    A = X
    for layer in range(1, L):
        Z = params[f"W{layer}"] @ A
        src = layer if layer_of_gb is None else layer_of_gb(layer)
        gamma, beta = params[f"gamma{src}"], params[f"beta{src}"]
        V = act(Z) if order == "g_then_bn" else Z
        mu = V.mean(axis=axis, keepdims=True)
        var = V.var(axis=axis, ddof=ddof, keepdims=True)
        if eps_mode == "inside":
            V_norm = (V - mu) / np.sqrt(var + eps)
        elif eps_mode == "outside":
            V_norm = (V - mu) / (np.sqrt(var) + eps)
        elif eps_mode == "ignored":
            V_norm = (V - mu) / np.sqrt(var)
        else:  # "hardcoded"
            V_norm = (V - mu) / np.sqrt(var + 1e-5)
        if gb == "right":
            V_tilde = gamma * V_norm + beta
        elif gb == "swapped":
            V_tilde = beta * V_norm + gamma
        else:  # "none"
            V_tilde = V_norm
        A = V_tilde if order == "g_then_bn" else act(V_tilde)
    ZL = params[f"W{L}"] @ A
    if output_bias:
        ZL = ZL + params[f"b{L}"]
    if bn_output:
        ZL = (ZL - ZL.mean(axis=1, keepdims=True)) / np.sqrt(
            ZL.var(axis=1, keepdims=True) + eps
        )
    return _softmax(ZL, softmax_axis) if softmax else ZL


def _sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


def _relu(Z):
    return np.maximum(Z, 0.0)


def _identity(Z):
    return Z


#: tag -> keywords of :func:`_variant_forward`.
_VARIANT_KW = {
    "bn_after_activation": {"order": "g_then_bn"},
    "wrong_axis": {"axis": 0},
    "unbiased_var": {"ddof": 1},
    "eps_outside_sqrt": {"eps_mode": "outside"},
    "eps_ignored": {"eps_mode": "ignored"},
    "eps_hardcoded": {"eps_mode": "hardcoded"},
    "wrong_layer_params": {"layer_of_gb": lambda layer: 1},
    "gamma_beta_swapped": {"gb": "swapped"},
    "no_gamma_beta": {"gb": "none"},
    "no_hidden_activation": {"act": _identity},
    "sigmoid_not_tanh": {"act": _sigmoid},
    "relu_not_tanh": {"act": _relu},
    "bn_on_output": {"bn_output": True},
    "output_bias_dropped": {"output_bias": False},
    "softmax_wrong_axis": {"softmax_axis": 1},
    "no_softmax": {"softmax": False},
}

MISTAKES = {
    "kept_bias": (
        "Z[{layer}] includes the bias b[{layer}]: a hidden layer followed by Batch "
        "Norm drops b",
        "Your probabilities are right, and that is the point: Batch Norm subtracts "
        "the mean of each unit, so any b[l] cancels (section 2 of notebook 03 "
        "shows that its gradient is exactly 0, so gradient descent never moves "
        "it). The lecture "
        "drops it: Z[l] = W[l] @ A[l-1] for the hidden layers; only the output "
        "layer, with no Batch Norm after it, keeps b[L].",
    ),
    "bn_after_activation": (
        "Batch Norm comes after the activation: you normalized tanh(Z) instead of Z",
        "The course's order is Z[l] = W[l] A[l-1] -> Batch Norm -> Z_tilde[l] -> "
        "A[l] = tanh(Z_tilde[l]): normalize Z, then apply tanh to gamma * Z_norm "
        "+ beta.",
    ),
    "wrong_axis": (
        "statistics over the wrong axis (axis=0, the units of each example)",
        "Z[l] has shape (n_l, m) = (units, examples). Each unit is normalized over "
        "the m examples of the mini-batch: Z.mean(axis=1, keepdims=True), shape "
        "(n_l, 1).",
    ),
    "unbiased_var": (
        "you used the unbiased variance (ddof=1)",
        "Batch Norm normalizes with the biased mini-batch variance, the plain "
        "average mean((Z - mu)**2) over the m examples (np.var's default ddof=0).",
    ),
    "eps_outside_sqrt": (
        "eps is outside the square root",
        "Write (Z - mu) / np.sqrt(var + eps), not (Z - mu) / (np.sqrt(var) + eps).",
    ),
    "eps_ignored": (
        "you forgot eps",
        "Add eps to the variance inside the square root: np.sqrt(var + eps).",
    ),
    "eps_hardcoded": (
        "you used a fixed eps instead of the eps argument",
        "Use the function's eps parameter (the test passed eps=0.5), not 1e-5.",
    ),
    "wrong_layer_params": (
        "gamma and beta of the wrong layer: you used gamma1 and beta1 in every layer",
        "Each hidden layer has its own scale and shift: layer l uses "
        'params[f"gamma{l}"] and params[f"beta{l}"], of shape (n_l, 1).',
    ),
    "gamma_beta_swapped": (
        "gamma and beta are swapped",
        "gamma scales and beta shifts: Z_tilde = gamma * Z_norm + beta.",
    ),
    "no_gamma_beta": (
        "you passed Z_norm to tanh without gamma and beta",
        "Scale and shift before the activation: Z_tilde = gamma * Z_norm + beta, "
        "then A = np.tanh(Z_tilde).",
    ),
    "no_hidden_activation": (
        "the hidden layers have no activation: A[l] = Z_tilde[l]",
        "Apply the activation after Batch Norm: A[l] = np.tanh(Z_tilde[l]). "
        "Without it the whole network is one linear map followed by softmax.",
    ),
    "sigmoid_not_tanh": (
        "you used the sigmoid; this network's hidden units are tanh",
        "A[l] = np.tanh(Z_tilde[l]).",
    ),
    "relu_not_tanh": (
        "you used ReLU; this network's hidden units are tanh",
        "A[l] = np.tanh(Z_tilde[l]).",
    ),
    "bn_on_output": (
        "you normalized the output layer too",
        "Batch Norm goes on the hidden layers only: the output layer computes "
        "Z[L] = W[L] @ A[L-1] + b[L] and the softmax of that, with no mu, var, "
        "gamma or beta (params has no gamma{L}).",
    ),
    "output_bias_dropped": (
        "the output layer lost its bias b[L]",
        "Only the layers followed by Batch Norm drop b. The output layer has no "
        "Batch Norm after it, so it keeps its bias: Z[L] = W[L] @ A[L-1] + b[L].",
    ),
    "softmax_wrong_axis": (
        "the softmax runs over the wrong axis (axis=1, the examples)",
        "Each example (column) gets a probability for each class: the sums in the "
        "softmax run over the units, axis=0, keepdims=True; every column of probs "
        "sums to 1.",
    ),
    "no_softmax": (
        "probs are the raw scores Z[L]: the softmax is missing",
        "probs = exp(Z[L]) / sum over the units (axis=0) of exp(Z[L]); subtract "
        "Z[L].max(axis=0, keepdims=True) first so that exp never overflows.",
    ),
    "index_from_0": (
        "your loop reads params[{key!r}]: the layers are numbered from 1",
        "The keys are W1 .. WL, b1 .. bL, gamma1 .. gamma{L-1}: loop with "
        "for l in range(1, L) over the hidden layers and handle layer L after "
        "the loop.",
    ),
    "bn_on_output_key": (
        "your loop reads params[{key!r}]: it treats the output layer as a Batch "
        "Norm layer",
        "Batch Norm goes on the hidden layers 1 .. L-1 only; params has no "
        "gamma{L} or beta{L}. The output layer computes Z[L] = W[L] @ A[L-1] + b[L] "
        "and the softmax of that.",
    ),
    "layer_count": (
        "your loop ignores the number of layers in params: {detail}",
        "The networks have different depths (L = 2 to 4 here). Count the layers "
        'from params, L = sum(1 for k in params if k.startswith("W")), loop '
        "over the hidden layers with for l in range(1, L) and compute the output "
        "layer L after the loop.",
    ),
    "one_pass_variance": (
        "right everywhere except on inputs near 1e6, where your variance lost its "
        "precision (one-pass variance mean(Z**2) - mean(Z)**2?)",
        "There Z[1] has means near 1e6 and spreads near 1: mean(Z**2) - "
        "mean(Z)**2 subtracts two numbers near 1e12, and float64 keeps about 16 "
        "digits, so the variance is off by about 1e-4. Centre first: var = "
        "((Z - mu)**2).mean(axis=1, keepdims=True).",
    ),
    "wrong_layer_shapes": (
        "a shape error between a (n, 1) parameter and a layer of another width: "
        "gamma, beta (or b) of the wrong layer?",
        'Layer l uses params[f"gamma{l}"] and params[f"beta{l}"] (shape (n_l, '
        "1)) on its own Z[l] (shape (n_l, m)). Print the shapes in your loop.",
    ),
}


def _variants(case) -> dict[str, np.ndarray]:
    """What each named mistake returns as probs on one case (omitted where the
    mistake raises, e.g. gamma1 in a layer of another width)."""
    out = {}
    with np.errstate(all="ignore"):
        for tag, kw in _VARIANT_KW.items():
            try:
                out[tag] = _variant_forward(
                    case["X"], case["params"], case["eps"], **kw
                )
            except ValueError:  # shapes that don't broadcast: the mistake raises
                continue
    return out


# ---------------------------------------------------------------------------
# Diagnosis helpers
# ---------------------------------------------------------------------------


def _key_issue(exc: Exception, L: int) -> Issue | None:
    """Name a KeyError for a parameter of a layer that does not exist."""
    if not isinstance(exc, KeyError) or not exc.args:
        return None
    key = str(exc.args[0])
    match = re.fullmatch(r"(W|b|gamma|beta)(\d+)", key)
    if match is None:
        return None
    layer = int(match.group(2))
    if layer > L:
        return _layer_count_issue(
            f"it reads params[{key!r}], and this network has L = {L} layers"
        )
    if layer == 0:
        msg, hint = MISTAKES["index_from_0"]
        return Issue("index_from_0", msg.format(key=key), hint)
    if match.group(1) in ("gamma", "beta") and layer >= L:
        msg, hint = MISTAKES["bn_on_output_key"]
        return Issue("bn_on_output", msg.format(key=key), hint)
    return None


def _layer_count_issue(detail: str) -> Issue:
    msg, hint = MISTAKES["layer_count"]
    return Issue("layer_count", msg.format(detail=detail), hint)


def _depth_issue(oks: list[bool], cases: list[dict]) -> Issue | None:
    """Right for the networks of one depth only (an L hard-coded in the loop):
    ``oks[i]`` says whether case i came out right (False when it raised)."""
    depths = [len(c["sizes"]) - 1 for c in cases]
    right = {d for d, ok in zip(depths, oks, strict=True) if ok}
    if len(right) != 1 or len(set(depths)) < 2:
        return None
    (depth,) = right
    if not all(ok == (d == depth) for d, ok in zip(depths, oks, strict=True)):
        return None
    others = ", ".join(str(d) for d in sorted(set(depths) - right))
    return _layer_count_issue(
        f"right for the networks with L = {depth} layers, not for L = {others} "
        "(is L hard-coded?)"
    )


def _cache_depth_issue(caches, cases) -> Issue | None:
    """A cache whose last Z{l} is not Z{L}: the loop ran over too few or too
    many layers."""
    for cache, case in zip(caches, cases, strict=True):
        if not isinstance(cache, dict):
            return None
        L = len(case["sizes"]) - 1
        found = [int(k[1:]) for k in cache if re.fullmatch(r"Z\d+", str(k))]
        if found and max(found) != L:
            return _layer_count_issue(
                f"for the network with layer sizes {case['sizes']} (L = {L} "
                f"layers) your cache ends at Z{max(found)}"
            )
    return None


_SHAPES = re.compile(r"\((\d+),\s*(\d+)\)")


def _broadcast_issue(exc: Exception, sizes: list[int]) -> Issue | None:
    """A (n, 1) parameter met a layer of another width (gamma of another layer)."""
    text = str(exc)
    if "broadcast" not in text:
        return None
    shapes = [(int(a), int(b)) for a, b in _SHAPES.findall(text)]
    per_unit = [s for s in shapes if s[1] == 1]
    batch = [s for s in shapes if s[1] != 1]
    if per_unit and batch and per_unit[0][0] != batch[0][0]:
        if per_unit[0][0] in sizes[1:]:
            return Issue("wrong_layer_params", *MISTAKES["wrong_layer_shapes"])
    return None


def _as_probs(value):
    """Split the learner's return into (probs, cache) or fail."""
    if value is None:
        raise Fail(
            [
                Issue(
                    "returned_none",
                    f"your function returned None — {YOUR_CODE}",
                    "It should return the pair (probs, cache).",
                )
            ]
        )
    if isinstance(value, np.ndarray):
        raise Fail(
            [
                Issue(
                    "single_output",
                    "your function returned one array; return the pair (probs, cache)",
                    "cache is a dict with Z1, Z_tilde1, A1, ... (what the backward "
                    "pass needs): end with `return probs, cache`.",
                )
            ]
        )
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise Fail(
            [
                Issue(
                    "wrong_return_type",
                    f"your function returned {describe(value)}; expected the pair "
                    "(probs, cache)",
                    "End it with `return probs, cache`.",
                )
            ]
        )
    probs, cache = value
    if isinstance(probs, dict) and not isinstance(cache, dict):
        raise Fail(
            [
                Issue(
                    "swapped_outputs",
                    "probs and cache are swapped",
                    "Return them in this order: (probs, cache).",
                )
            ]
        )
    return probs, cache


def _probs_issue(gots, refs, variants, descs) -> Issue | None:
    """The issue with probs over all cases, or None when they are right."""
    arrays = []
    for got, want in zip(gots, refs, strict=True):
        issue = kind_issue("probs", got, f"a numpy array of shape {want.shape}")
        if issue is not None:
            return issue
        if is_low_precision(got):
            return Issue(
                "low_precision",
                f"probs is {got.dtype}; expected float64 (the checker compares at "
                "1e-8)",
                low_precision_hint(got.dtype),
            )
        real = as_real(got)
        if real is None:  # pragma: no cover - kind_issue refused it already
            return Issue("wrong_type", f"probs has dtype {got.dtype}")
        arrays.append(real)
    if max_rel(arrays, refs) < TOL:
        return None
    # A named mistake: it must match in every case where it can happen (a
    # mistake that raises in a case would have raised for the learner too).
    best, best_err = None, math.inf
    for tag in _VARIANT_KW:
        errs = []
        for got, comp in zip(arrays, variants, strict=True):
            want = comp.get(tag)
            if want is None or want.shape != got.shape:
                errs.append(math.inf)
            else:
                err = rel_error(got, want)
                errs.append(math.inf if math.isnan(err) else err)
        if max(errs) < best_err:
            best, best_err = tag, max(errs)
    if best is not None and best_err < MATCH_TOL:
        return Issue(best, *MISTAKES[best])
    for got, want in zip(arrays, refs, strict=True):
        if got.shape != want.shape:
            return shape_issue("probs", got.shape, want.shape)
    for got, desc in zip(arrays, descs, strict=True):
        if not np.all(np.isfinite(got)):
            return Issue(
                "nan",
                f"probs contains NaN or inf (test input: {desc})",
                "Look for exp of a large number (subtract the column maximum "
                "before exp) or a square root of a negative number.",
            )
    return None  # differs in a way no variant names: the caller looks deeper


def _cache_issue(caches, ref_caches, cases) -> Issue | None:
    """The first array of the cache that is missing or wrong, in forward order."""
    for cache, ref_cache, case in zip(caches, ref_caches, cases, strict=True):
        if not isinstance(cache, dict):
            return Issue(
                "cache_not_dict",
                f"cache should be a dict; got {describe(cache)}",
                'Build it with cache = {} and cache[f"Z{l}"] = Z, '
                'cache[f"Z_tilde{l}"] = Z_tilde, cache[f"A{l}"] = A in the loop.',
            )
        missing = [k for k in ref_cache if k not in cache]
        if missing:
            return Issue(
                "cache_missing",
                f"cache has no {', '.join(repr(k) for k in missing[:3])}"
                + (" ..." if len(missing) > 3 else ""),
                f"For the layer sizes {case['sizes']} the cache needs "
                f"{', '.join(ref_cache)}: Z{{l}} for every layer, Z_tilde{{l}} and "
                "A{l} for the hidden layers.",
            )
    # Key by key over the cases, in the order of the forward pass (Z1, Z_tilde1,
    # A1, Z2, ...; the deepest case has the most keys).
    keys_in_order = max((list(rc) for rc in ref_caches), key=len)
    for key in keys_in_order:
        gots, wants, bias_diffs = [], [], []
        for cache, ref_cache, case in zip(caches, ref_caches, cases, strict=True):
            if key not in ref_cache:
                continue
            got = as_real(cache[key])
            want = ref_cache[key]
            if got is None:
                return Issue(
                    "wrong_type",
                    f"cache[{key!r}] should be a numpy array of shape {want.shape}; "
                    f"got {describe(cache[key])}",
                )
            if got.shape != want.shape:
                return shape_issue(f"cache[{key!r}]", got.shape, want.shape)
            gots.append(got)
            wants.append(want)
            # What a kept bias gives: Z + b in a hidden layer (the output layer's
            # Z[L] rightly includes b[L]).
            match = re.fullmatch(r"Z(\d+)", key)
            if match and int(match.group(1)) < len(case["sizes"]) - 1:
                bias_diffs.append(want + case["params"][f"b{match.group(1)}"])
            elif match:
                bias_diffs.append(want)
        if max_rel(gots, wants) < TOL:
            continue
        if bias_diffs:
            if max_rel(gots, bias_diffs) < MATCH_TOL:
                layer = key[1:]
                msg, hint = MISTAKES["kept_bias"]
                return Issue("kept_bias", msg.format(layer=layer), hint)
        err, diff = max_rel(gots, wants), max_diff(gots, wants)
        return Issue(
            "cache_wrong",
            f"cache[{key!r}] differs from the expected (max |diff| {diff:.1e}, "
            f"rel. error {err:.1e}) although probs are right",
            f"Store the arrays of the forward pass itself: {key} as computed in "
            "your loop, before it is overwritten by the next layer.",
        )
    return None


def _first_wrong_array(caches, ref_caches) -> str | None:
    """Where a wrong forward pass first goes wrong (for an unnamed mistake)."""
    keys = list(ref_caches[0])
    for key in keys:
        for cache, ref_cache in zip(caches, ref_caches, strict=True):
            if not isinstance(cache, dict) or key not in cache or key not in ref_cache:
                return None
            got = as_real(cache[key])
            if got is None or got.shape != ref_cache[key].shape:
                return key
            if rel_error(got, ref_cache[key]) >= TOL:
                return key
    return None


def _params_copy(params) -> dict:
    return {k: v.copy() for k, v in params.items()}


def _changed(before: dict, passed: dict, passed_items: dict) -> list[str]:
    """What the learner changed in the params dict it was given: keys added or
    removed, entries replaced by other objects (even with equal values), arrays
    changed in place. ``passed_items`` are the dict's entries at the call."""
    changes = [f"{k!r} removed" for k in before if k not in passed]
    changes += [f"{k!r} added" for k in passed if k not in before]
    for k, v in before.items():
        if k not in passed:
            continue
        after = passed[k]
        if after is not passed_items[k]:
            changes.append(f"{k!r} replaced")
        elif (
            not isinstance(after, np.ndarray)
            or after.shape != v.shape
            or not np.array_equal(after, v)
        ):
            changes.append(f"{k!r} changed")
    return changes


def _params_issue(changes: list[str]) -> Issue:
    shown = ", ".join(changes[:3]) + (", ..." if len(changes) > 3 else "")
    return Issue(
        "in_place",
        f"your function changed the caller's params dict in place ({shown})",
        "params belongs to the caller: the training loop reuses it for every "
        "mini-batch. Don't add, remove or replace its entries or write into its "
        "arrays; keep what you compute in local variables (e.g. L = ...) or in "
        "the cache.",
    )


# ---------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------


def check_forward_with_bn(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check the forward pass of an L-layer network with Batch Norm.

    Parameters
    ----------
    fn : the learner's ``fn(X, params, eps=1e-5) -> (probs, cache)``. X has
        shape (n_0, m); ``params`` holds ``W{l}`` (n_l, n_{l-1}) and ``b{l}``
        (n_l, 1) for every layer and ``gamma{l}``, ``beta{l}`` (n_l, 1) for the
        hidden layers 1 .. L-1; probs (n_L, m) are the softmax probabilities;
        ``cache`` is a dict with ``Z{l}`` (n_l, m) for every layer and
        ``Z_tilde{l}``, ``A{l}`` for the hidden layers. Called with the three
        arguments by position.
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`~bnutils.checks.CheckResult`. Named mistakes (``mistake`` tags): a
    kept bias b[l] before Batch Norm, Batch Norm after the activation,
    statistics over the wrong axis, gamma and beta of the wrong layer (gamma1
    everywhere, or a shape error between a parameter and a layer of another
    width), layers numbered from 0, Batch Norm on the output layer (normalized
    or reading gamma{L}), the output layer's bias dropped, unbiased variance,
    eps outside the square root, forgotten or hard-coded, gamma and beta
    swapped or missing, no activation or the sigmoid or ReLU instead of tanh,
    softmax over the wrong axis or missing, a cache that is not a dict, lacks
    arrays or holds wrong ones, a loop that ignores the number of layers (L
    hard-coded or miscounted), a one-pass variance that loses precision on
    inputs near 1e6; and, as for every checker, an exception, None, a wrong
    type or shape, NaN, or inputs modified in place (X, or the params dict:
    keys added or removed, entries replaced or written into).
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [c["desc"] for c in cases]
        refs = [_ref(c["X"], c["params"], c["eps"]) for c in cases]
        ref_probs = [r[0] for r in refs]
        ref_caches = [r[1] for r in refs]
        computed = [_variants(c) for c in cases]
        outs, errors, modified, params_changes = [], [], [], []
        for case in cases:
            params = _params_copy(case["params"])
            items = dict(params)
            outcome = call_learner(
                fn, [("X", case["X"]), ("params", params), ("eps", case["eps"])]
            )
            modified += [m for m in outcome.modified if m != "params"]
            for change in _changed(case["params"], params, items):
                if change not in params_changes:
                    params_changes.append(change)
            errors.append(outcome.error)
            outs.append(None if outcome.error is not None else outcome.value)

        if any(e is not None for e in errors):
            # A mistake that crashes in some cases (gamma1 in a layer of another
            # width) may be named from the cases where it ran.
            ran = [i for i, e in enumerate(errors) if e is None]
            if ran:
                try:
                    pairs = [_as_probs(outs[i]) for i in ran]
                except Fail:
                    pairs = None
                if pairs is not None:
                    issue = _probs_issue(
                        [p for p, _ in pairs],
                        [ref_probs[i] for i in ran],
                        [computed[i] for i in ran],
                        [descs[i] for i in ran],
                    )
                    if issue is not None and issue.tag in _VARIANT_KW:
                        raise Fail([issue])
                oks = [False] * len(cases)
                for i, (p, _) in zip(ran, pairs or [], strict=False):
                    got = as_real(p)
                    oks[i] = (
                        got is not None
                        and got.shape == ref_probs[i].shape
                        and rel_error(got, ref_probs[i]) < TOL
                    )
                depth = _depth_issue(oks, cases)
                if depth is not None:
                    raise Fail([depth])
            failed = [i for i, e in enumerate(errors) if e is not None]
            # A shape error between a parameter and a layer of another width
            # explains a KeyError elsewhere (gamma{l+1} reads gamma{L} at the last
            # hidden layer), so it is looked for first, in every failing case.
            named = [
                (i, _broadcast_issue(errors[i], cases[i]["sizes"])) for i in failed
            ] + [(i, _key_issue(errors[i], len(cases[i]["sizes"]) - 1)) for i in failed]
            for i, issue in named:
                if issue is not None:
                    issue.hint += f"\n(Test input: {descs[i]}.)"
                    raise Fail([issue])
            first = failed[0]
            raise Fail([exception_issue(errors[first], descs[first], SIGNATURE)])

        pairs = [_as_probs(v) for v in outs]
        probs = [p for p, _ in pairs]
        caches = [c for _, c in pairs]
        issues = []
        if params_changes:
            issues.append(_params_issue(params_changes))
        if modified:
            issues.append(in_place_issue(modified))
        issue = _probs_issue(probs, ref_probs, computed, descs)
        if issue is None or issue.tag not in _VARIANT_KW:
            gots = [as_real(p) for p in probs]
            right = False
            if all(g is not None for g in gots):
                right = max_rel(gots, ref_probs) < TOL
            if not right:
                oks = [
                    g is not None and g.shape == w.shape and rel_error(g, w) < TOL
                    for g, w in zip(gots, ref_probs, strict=True)
                ]
                layers = _cache_depth_issue(caches, cases) or _depth_issue(oks, cases)
                if layers is not None:
                    issue = layers
                elif wrong_only_in(gots, ref_probs, {_OFFSET_CASE}):
                    issue = Issue("one_pass_variance", *MISTAKES["one_pass_variance"])
        if issue is None:
            gots = [as_real(p) for p in probs]
            if max_rel(gots, ref_probs) >= TOL:
                where = _first_wrong_array(caches, ref_caches)
                err, diff = max_rel(gots, ref_probs), max_diff(gots, ref_probs)
                worst = max(
                    range(len(gots)), key=lambda k: rel_error(gots[k], ref_probs[k])
                )
                hint = f"The largest difference is for the test input {descs[worst]}."
                if where is not None:
                    hint += (
                        f" The first array of your cache that differs is "
                        f"cache[{where!r}]: look there first."
                    )
                hint += f"\nThe steps: {STEPS}"
                issue = Issue(
                    "unknown",
                    f"probs differ from the expected in a way I can't name; max "
                    f"|diff| {diff:.1e}, rel. error {err:.1e}",
                    hint,
                )
        if issue is not None:
            issues.append(issue)
        else:
            issue = _cache_issue(caches, ref_caches, cases)
            if issue is not None:
                issues.append(issue)
        if issues:
            raise Fail(dedupe(issues), *_sizes(probs, ref_probs))
        gots = [as_real(p) for p in probs]
        diff, err = max_diff(gots, ref_probs), max_rel(gots, ref_probs)
        return CheckResult(
            NAME,
            True,
            passed_message(diff, err, f" ({len(cases)} networks, cache checked too)"),
            diff,
            err,
        )

    return run_checker(NAME, fn, body, verbose)


def _sizes(outs, refs) -> tuple[float, float]:
    gots = [as_real(g) if isinstance(g, np.ndarray) else None for g in outs]
    if any(g is None or g.shape != w.shape for g, w in zip(gots, refs, strict=True)):
        return math.nan, math.nan
    err = max_rel(gots, refs)
    return max_diff(gots, refs), (err if math.isfinite(err) else math.nan)
