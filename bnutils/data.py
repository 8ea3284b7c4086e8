"""Data for the series: 5,000 real MNIST digits shipped offline, and seeded toys.

Every function returns arrays in the course's layout: inputs ``X`` have shape
``(n_x, m)`` = (features, examples); class labels ``y`` are ``int64`` arrays of
shape ``(m,)``; regression targets have shape ``(1, m)``. Everything is float64
unless stated, and every random function takes a ``seed`` and returns the same
arrays for the same arguments.

MNIST
    :func:`load_mnist` reads ``bnutils/datafiles/mnist_5k.npz`` (4,000 training
    and 1,000 test images, 400 / 100 of each digit; provenance, licence and
    checksum in ``bnutils/datafiles/README.md``). :func:`mnist_images` turns
    columns back into 28 x 28 pictures; :func:`pixel_scale` maps raw 0..255
    pixels to [0, 1].

Synthetic problems (one per concept demo)
    * :func:`two_scale_regression`: two inputs on very different scales, for
      gradient descent on raw vs normalized inputs.
    * :func:`blobs`: Gaussian clusters, one per class.
    * :func:`spirals`: interleaved spiral arms; no straight line separates them.
    * :func:`shifted_cats`: covariate shift, the lecture's black cats vs
      coloured cats. The rule that says "cat" (:func:`cat_label`) never
      changes; only where the inputs fall (``shift``) does.
    * :func:`gaussian_batch`: a batch of pre-activations ``Z`` with chosen
      per-unit mean and standard deviation.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = [
    "CAT_CURVATURE",
    "CAT_MARGIN",
    "MNIST_CLASS_NAMES",
    "MNIST_FILE",
    "MNIST_IMAGE_SHAPE",
    "MNIST_N_TEST",
    "MNIST_N_TRAIN",
    "MNIST_SHA256",
    "SPIRAL_TWIST",
    "MNISTData",
    "RegressionData",
    "blob_centers",
    "blobs",
    "cat_boundary",
    "cat_label",
    "gaussian_batch",
    "load_mnist",
    "mnist_images",
    "pixel_scale",
    "shifted_cats",
    "spirals",
    "two_scale_regression",
]

# --------------------------------------------------------------------------- #
# MNIST
# --------------------------------------------------------------------------- #

#: File name of the shipped subset inside ``bnutils/datafiles/``.
MNIST_FILE = "mnist_5k.npz"
#: SHA-256 of the shipped file (also in ``bnutils/datafiles/README.md``).
MNIST_SHA256 = "a25ad7673236d2988754dafeacdc843b098e97e232dd61108035719bd7a3ce6a"
#: Number of training and test images in the shipped file.
MNIST_N_TRAIN = 4000
MNIST_N_TEST = 1000
#: Height and width of one image in pixels; 28 * 28 = 784 input features.
MNIST_IMAGE_SHAPE = (28, 28)
#: Display names of the ten classes: ``MNIST_CLASS_NAMES[k]`` is digit ``k``.
MNIST_CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")

_N_PIXELS = MNIST_IMAGE_SHAPE[0] * MNIST_IMAGE_SHAPE[1]
_N_CLASSES = len(MNIST_CLASS_NAMES)
_MNIST_LAYOUT = {
    # key: (shape, dtype) as stored; images are one per row in the file.
    "X_train": ((MNIST_N_TRAIN, _N_PIXELS), np.uint8),
    "y_train": ((MNIST_N_TRAIN,), np.uint8),
    "X_test": ((MNIST_N_TEST, _N_PIXELS), np.uint8),
    "y_test": ((MNIST_N_TEST,), np.uint8),
}
_REGENERATE = (
    "Reinstall bnutils (pip install -e .) or re-create the file with "
    "scripts/make_mnist_subset.py (see bnutils/datafiles/README.md)."
)


class MNISTData(NamedTuple):
    """What :func:`load_mnist` returns; unpacks as a plain 4-tuple.

    ``X_train`` has shape (784, m_train), ``y_train`` (m_train,), ``X_test``
    (784, m_test), ``y_test`` (m_test,). With ``flatten=False`` the images have
    shape (m, 28, 28) instead.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _mnist_resource():
    """The shipped file as an :mod:`importlib.resources` traversable."""
    return resources.files("bnutils").joinpath("datafiles", MNIST_FILE)


def _read_npz(blob: bytes, expected_sha256: str | None) -> dict[str, np.ndarray]:
    """Check and parse the bytes of the MNIST ``.npz`` file.

    Returns the four arrays of ``_MNIST_LAYOUT`` (uint8, images one per row),
    marked read-only. Raises ``ValueError`` naming what is wrong.
    """
    if expected_sha256 is not None:
        digest = hashlib.sha256(blob).hexdigest()
        if digest != expected_sha256:
            raise ValueError(
                f"The MNIST data file {MNIST_FILE} is corrupt or was replaced: its "
                f"SHA-256 is {digest}, expected {expected_sha256}. " + _REGENERATE
            )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in _MNIST_LAYOUT if key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"Could not read the MNIST data file {MNIST_FILE} ({err}). " + _REGENERATE
        ) from err
    for key, (shape, dtype) in _MNIST_LAYOUT.items():
        if key not in arrays:
            raise ValueError(
                f"The MNIST data file {MNIST_FILE} has no array {key!r}. " + _REGENERATE
            )
        array = arrays[key]
        if array.shape != shape or array.dtype != dtype:
            raise ValueError(
                f"The MNIST data file {MNIST_FILE}: {key} has shape {array.shape} "
                f"and dtype {array.dtype}; expected {shape} and "
                f"{np.dtype(dtype)}. " + _REGENERATE
            )
        if key.startswith("y") and array.max() >= _N_CLASSES:
            raise ValueError(
                f"The MNIST data file {MNIST_FILE}: {key} holds label "
                f"{int(array.max())}; digits are 0..9. " + _REGENERATE
            )
        array.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> dict[str, np.ndarray]:
    """Read, verify and cache the shipped file (read-only uint8 arrays)."""
    resource = _mnist_resource()
    try:
        blob = resource.read_bytes()
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"The MNIST data file {MNIST_FILE} is missing from bnutils/datafiles/. "
            + _REGENERATE
        ) from err
    return _read_npz(blob, MNIST_SHA256)


def _as_float_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(
            f"dtype must be a floating-point type such as np.float64; got {dtype!r}."
        ) from err
    if not np.issubdtype(dt, np.floating):
        raise ValueError(
            f"dtype must be a floating-point type such as np.float64 or "
            f"np.float32; got {dt}."
        )
    return dt


def pixel_scale(images, dtype=np.float64) -> np.ndarray:
    """Map raw pixel values 0..255 to floats in [0, 1] (divide by 255).

    Args:
        images: integer pixel values in 0..255, any shape, e.g. (784, m).
        dtype: floating-point type of the result.

    Returns:
        Array of the same shape as ``images`` and type ``dtype``, in [0, 1].
    """
    images = np.asarray(images)
    dt = _as_float_dtype(dtype)
    if not np.issubdtype(images.dtype, np.integer) or images.dtype == np.bool_:
        raise ValueError(
            f"pixel_scale expects raw integer pixels (0..255); got dtype "
            f"{images.dtype}. Images from load_mnist are already in [0, 1]."
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"pixel values must lie in 0..255; got min {images.min()}, "
            f"max {images.max()}."
        )
    return images.astype(dt) / dt.type(255)


def _stratified_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` examples of ``y`` (shape (m,)), classes as even as possible.

    Each class is put in a random order; examples are then taken by rank within
    their class (every class's first, then every class's second, ...), ties in
    a rank broken at random, so class counts differ by at most one while every
    class has examples left. The indices are returned sorted, so the subset
    keeps the (already shuffled) order of the split. Shape (n,).
    """
    m = y.size
    perm = rng.permutation(m)
    order = perm[np.argsort(y[perm], kind="stable")]
    counts = np.bincount(y, minlength=_N_CLASSES)
    starts = np.cumsum(counts) - counts
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m) - starts[y[order]]
    chosen = np.lexsort((rng.random(m), rank))[:n]
    return np.sort(chosen)


def _check_count(name: str, value, available: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"{name} must be None (all examples) or an integer; got {value!r}."
        )
    if not 1 <= value <= available:
        raise ValueError(
            f"{name} must be between 1 and {available} (the shipped split has "
            f"{available} examples), or None for all of them; got {value}."
        )
    return int(value)


def load_mnist(
    n_train: int | None = None,
    n_test: int | None = None,
    dtype=np.float64,
    seed: int = 0,
    flatten: bool = True,
) -> MNISTData:
    """Load the shipped 5,000-image MNIST subset in the course's layout.

    The file holds a fixed split: 4,000 training images (400 per digit) and
    1,000 test images (100 per digit), each split already shuffled. Its SHA-256
    is verified on the first call; the arrays are then cached in memory and
    every call returns fresh copies.

    Args:
        n_train: number of training examples, 1..4000, or None for all. A
            subset is drawn without replacement, stratified (class counts
            differ by at most one) and seeded by ``seed``; it keeps the
            order of the full split (the examples not drawn are left out).
        n_test: the same for the test split, 1..1000, or None for all.
        dtype: floating-point type of the images (np.float64 by default).
        seed: non-negative int seeding the subsets. The training and test
            subsets use separate streams, so the test subset does not depend
            on ``n_train``. Unused when both counts are None (the stored
            order is returned).
        flatten: True gives images as columns, shape (784, m); False gives
            pictures, shape (m, 28, 28) (the same as :func:`mnist_images`).

    Returns:
        ``MNISTData(X_train, y_train, X_test, y_test)``, which unpacks as a
        4-tuple. ``X_train``: pixels in [0, 1], shape (784, m_train) (or
        (m_train, 28, 28)); ``y_train``: int64 digits 0..9, shape (m_train,);
        ``X_test``, ``y_test``: likewise with m_test examples.

    Raises:
        FileNotFoundError: the data file is not installed.
        ValueError: bad arguments, or a corrupt data file.
    """
    n_train = _check_count("n_train", n_train, MNIST_N_TRAIN)
    n_test = _check_count("n_test", n_test, MNIST_N_TEST)
    dt = _as_float_dtype(dtype)
    if not isinstance(flatten, bool | np.bool_):
        raise ValueError(f"flatten must be True or False; got {flatten!r}.")
    if isinstance(seed, np.random.Generator):
        raise ValueError("seed must be a non-negative integer; got a Generator.")
    _rng(seed)  # validates the seed
    train_stream, test_stream = np.random.SeedSequence(int(seed)).spawn(2)
    arrays = _mnist_arrays()

    out = []
    for split, n, stream in (
        ("train", n_train, train_stream),
        ("test", n_test, test_stream),
    ):
        images, labels = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if n is not None:
            keep = _stratified_subset(labels, n, np.random.default_rng(stream))
            images, labels = images[keep], labels[keep]
        X = pixel_scale(images.T, dt)  # (784, m)
        if not flatten:
            X = mnist_images(X)
        out += [X, labels.astype(np.int64)]
    return MNISTData(*out)


def mnist_images(X) -> np.ndarray:
    """Turn image columns back into 28 x 28 pictures for display.

    Args:
        X: images as columns, shape (784, m), or one image, shape (784,).

    Returns:
        A new array of shape (m, 28, 28) (or (28, 28) for one image), so that
        ``plt.imshow(mnist_images(X)[i])`` shows example ``i``.
    """
    X = np.asarray(X)
    if X.ndim not in (1, 2) or X.shape[0] != _N_PIXELS:
        raise ValueError(
            f"X must have shape (784, m) (one image per column) or (784,); got "
            f"{X.shape}. If your images are rows, pass X.T."
        )
    if X.ndim == 1:
        return X.reshape(MNIST_IMAGE_SHAPE).copy()
    return np.ascontiguousarray(X.T).reshape(-1, *MNIST_IMAGE_SHAPE)


# --------------------------------------------------------------------------- #
# Argument checks shared by the generators
# --------------------------------------------------------------------------- #


def _rng(seed) -> np.random.Generator:
    """A generator from a non-negative int seed (or a Generator, used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer (or a np.random.Generator); "
            f"got {seed!r}."
        )
    return np.random.default_rng(int(seed))


def _int_arg(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}.")
    return int(value)


def _real_arg(name: str, value, *, minimum=None, strict: bool = False) -> float:
    """A finite real number; ``minimum`` bounds it from below (``strict``: >)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a real number; got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}.")
    if minimum is not None:
        if strict and value <= minimum:
            raise ValueError(f"{name} must be greater than {minimum}; got {value}.")
        if not strict and value < minimum:
            raise ValueError(f"{name} must be at least {minimum}; got {value}.")
    return value


def _balanced_labels(m: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled int64 labels of shape (m,), class sizes differing by at most 1."""
    return rng.permutation(np.arange(m) % n_classes).astype(np.int64)


# --------------------------------------------------------------------------- #
# Linear regression on two scales
# --------------------------------------------------------------------------- #


class RegressionData(NamedTuple):
    """What :func:`two_scale_regression` returns; unpacks as ``X, y, W, b``.

    ``X`` (2, m) inputs; ``y`` (1, m) targets; ``W`` (1, 2) true weights and
    ``b`` the true bias, so that ``y = W @ X + b + noise``.
    """

    X: np.ndarray
    y: np.ndarray
    W: np.ndarray
    b: float


def two_scale_regression(
    m: int = 200, scale_ratio: float = 10.0, noise: float = 0.1, seed=0
) -> RegressionData:
    """A linear-regression problem whose two inputs live on very different scales.

    Feature 1 is drawn from N(0, 1) and feature 2 from N(0, scale_ratio**2),
    independently. Think of feature 2 as the same kind of signal measured in
    units ``scale_ratio`` times smaller: its true weight is ``scale_ratio`` times
    smaller, so both features move the target by comparable amounts::

        W = [[2.0, -3.0 / scale_ratio]],  b = 1.0
        y = W @ X + b + noise * N(0, 1)

    On the raw inputs the squared-error loss is a long, thin valley (its
    Hessian's eigenvalues differ by about ``scale_ratio**2``), so gradient
    descent must use a small learning rate and crawls along ``w1``; after
    normalizing each feature to mean 0 and variance 1 the valley is round.
    With the same ``m`` and ``seed``, changing ``scale_ratio`` only rescales
    feature 2 (and ``W[0, 1]``): ``W @ X`` and ``y`` stay the same, so a slider
    over the ratio changes the units, not the data.

    Args:
        m: number of examples, at least 2.
        scale_ratio: standard deviation of feature 2 over that of feature 1;
            positive (values below 1 make feature 2 the small one).
        noise: standard deviation of the Gaussian noise on ``y``, at least 0.
        seed: non-negative int (or a ``np.random.Generator``).

    Returns:
        ``RegressionData(X, y, W, b)``: ``X`` shape (2, m), ``y`` shape (1, m),
        ``W`` shape (1, 2), ``b`` a float.
    """
    m = _int_arg("m", m, 2)
    scale_ratio = _real_arg("scale_ratio", scale_ratio, minimum=0.0, strict=True)
    noise = _real_arg("noise", noise, minimum=0.0)
    rng = _rng(seed)
    scales = np.array([[1.0], [scale_ratio]])
    X = scales * rng.standard_normal((2, m))
    W = np.array([[2.0, -3.0 / scale_ratio]])
    b = 1.0
    y = W @ X + b + noise * rng.standard_normal((1, m))
    return RegressionData(X, y, W, b)


# --------------------------------------------------------------------------- #
# Classification toys
# --------------------------------------------------------------------------- #


def blob_centers(n_classes: int = 3, n_features: int = 2) -> np.ndarray:
    """The cluster centres used by :func:`blobs`, shape (n_features, n_classes).

    Neighbouring centres are always 4 apart. With one feature they sit on a
    line, centred on 0. With two or more they sit on a circle in the plane of
    features 1 and 2 (radius ``2 / sin(pi / n_classes)``, class 0 on the
    positive feature-1 axis, counter-clockwise); the other features are 0.
    """
    n_classes = _int_arg("n_classes", n_classes, 2)
    n_features = _int_arg("n_features", n_features, 1)
    centers = np.zeros((n_features, n_classes))
    k = np.arange(n_classes)
    if n_features == 1:
        centers[0] = 4.0 * (k - (n_classes - 1) / 2)
    else:
        radius = 2.0 / np.sin(np.pi / n_classes)
        angle = 2 * np.pi * k / n_classes
        centers[0] = radius * np.cos(angle)
        centers[1] = radius * np.sin(angle)
    return centers


def blobs(
    m: int = 600, n_classes: int = 3, n_features: int = 2, spread: float = 1.0, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one per class, around :func:`blob_centers`.

    Example ``i`` of class ``k`` is ``centers[:, k] + spread * N(0, I)``.
    Neighbouring centres are 4 apart, so ``spread`` well below 2 gives
    separated clusters and ``spread`` near or above 2 gives overlapping ones.
    Class sizes differ by at most one; the examples are shuffled.

    Args:
        m: number of examples, at least ``n_classes``.
        n_classes: number of classes, at least 2.
        n_features: input dimension, at least 1.
        spread: standard deviation of every cluster along every feature, > 0.
        seed: non-negative int (or a ``np.random.Generator``).

    Returns:
        ``(X, y)``: ``X`` shape (n_features, m), ``y`` int64 shape (m,).
    """
    centers = blob_centers(n_classes, n_features)
    m = _int_arg("m", m, n_classes)
    spread = _real_arg("spread", spread, minimum=0.0, strict=True)
    rng = _rng(seed)
    y = _balanced_labels(m, n_classes, rng)
    X = centers[:, y] + spread * rng.standard_normal((n_features, m))
    return X, y


#: How far (in radians) each spiral arm turns between the centre and radius 1.
SPIRAL_TWIST = 4.0


def spirals(
    m: int = 600, n_classes: int = 3, noise: float = 0.2, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: no straight line separates them.

    An example of class ``k`` has radius ``r ~ U(0, 1)`` and angle::

        theta = 2 * pi * k / n_classes + SPIRAL_TWIST * r + noise * N(0, 1)

    and sits at ``(r cos theta, r sin theta)``. With ``noise=0`` every point
    lies exactly on its arm; ``noise`` blurs the arms (in radians, so points
    near the centre are the hardest). A softmax regression gets far from 100%
    while a small network with a hidden layer can fit the arms. Class sizes
    differ by at most one; the examples are shuffled.

    Args:
        m: number of examples, at least ``n_classes``.
        n_classes: number of arms / classes, at least 2.
        noise: standard deviation of the angle noise in radians, at least 0.
        seed: non-negative int (or a ``np.random.Generator``).

    Returns:
        ``(X, y)``: ``X`` shape (2, m) inside the unit disc, ``y`` int64 (m,).
    """
    n_classes = _int_arg("n_classes", n_classes, 2)
    m = _int_arg("m", m, n_classes)
    noise = _real_arg("noise", noise, minimum=0.0)
    rng = _rng(seed)
    y = _balanced_labels(m, n_classes, rng)
    r = rng.random(m)
    theta = (
        2 * np.pi * y / n_classes + SPIRAL_TWIST * r + noise * rng.standard_normal(m)
    )
    X = r * np.vstack([np.cos(theta), np.sin(theta)])
    return X, y


# --------------------------------------------------------------------------- #
# Covariate shift: black cats vs coloured cats
# --------------------------------------------------------------------------- #

#: Curvature of the true "cat" boundary: ``x2 = CAT_CURVATURE * x1**2``.
CAT_CURVATURE = 0.25
#: Smallest vertical distance of any example from the boundary.
CAT_MARGIN = 0.5


def cat_boundary(colour) -> np.ndarray:
    """The true boundary between cats and non-cats: ``CAT_CURVATURE * colour**2``.

    Args:
        colour: feature 1 values, any shape.

    Returns:
        The feature-2 value on the boundary, same shape as ``colour``.
    """
    colour = np.asarray(colour, dtype=np.float64)
    return CAT_CURVATURE * colour**2


def cat_label(X) -> np.ndarray:
    """The fixed labelling rule: 1 (cat) above the boundary, 0 below.

    Args:
        X: inputs, shape (2, m): row 0 is fur colour, row 1 the shape score.

    Returns:
        int64 labels, shape (m,): ``X[1] > cat_boundary(X[0])``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != 2:
        raise ValueError(
            f"X must have shape (2, m) (colour, shape score); got {X.shape}."
        )
    return (X[1] > cat_boundary(X[0])).astype(np.int64)


def shifted_cats(m: int = 400, shift: float = 0.0, seed=0):
    """A covariate-shift toy: the "is it a cat?" rule is fixed, the inputs move.

    Each example has two features: ``x1``, fur colour (0 = black, larger =
    more colourful), and ``x2``, a shape score. The true rule
    (:func:`cat_label`) is "cat if ``x2 > CAT_CURVATURE * x1**2``", a gently
    curved boundary that never changes, so P(y | x) is the same for every
    ``shift``. Only P(x) moves:

    * ``x1 ~ N(shift, 1)``: ``shift=0`` are the black cats of the training set;
      a larger ``shift`` gives a test set of coloured cats.
    * Half the examples (exactly, up to one) are cats. Each lies
      ``CAT_MARGIN + |N(0, 1)|`` above (cats) or below (non-cats) the
      boundary at its ``x1``, so the classes never touch.

    Near ``x1 = 0`` the boundary is almost flat, so a linear classifier trained
    on ``shift=0`` is nearly perfect there (about 99%); where the boundary
    bends, at larger shifts, it loses accuracy (about 90% at shift 1.5 and
    close to chance, 50%, by shift 4) although the rule is unchanged.

    With the same ``m`` and ``seed``, changing ``shift`` slides the same draws
    sideways (``x1`` moves by exactly the change in ``shift``); use a different
    seed for a test set that is independent of the training set.

    Args:
        m: number of examples, at least 2.
        shift: mean of the colour feature ``x1`` (any finite real).
        seed: non-negative int (or a ``np.random.Generator``).

    Returns:
        ``(X, y)``: ``X`` shape (2, m), ``y`` int64 shape (m,) equal to
        ``cat_label(X)``.
    """
    m = _int_arg("m", m, 2)
    shift = _real_arg("shift", shift)
    rng = _rng(seed)
    y = _balanced_labels(m, 2, rng)
    colour = shift + rng.standard_normal(m)
    distance = CAT_MARGIN + np.abs(rng.standard_normal(m))
    shape_score = cat_boundary(colour) + np.where(y == 1, distance, -distance)
    return np.vstack([colour, shape_score]), y


# --------------------------------------------------------------------------- #
# A batch of pre-activations
# --------------------------------------------------------------------------- #


def _per_unit(name: str, value, n_units: int, *, nonnegative: bool) -> np.ndarray:
    """``value`` (scalar, (n_units,) or (n_units, 1)) as a (n_units, 1) array."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a number or an array of numbers.")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        arr = np.full((n_units, 1), float(arr))
    elif arr.shape in ((n_units,), (n_units, 1)):
        arr = arr.reshape(n_units, 1)
    else:
        raise ValueError(
            f"{name} must be a scalar or have shape ({n_units},) or ({n_units}, 1) "
            f"(one value per unit); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite.")
    if nonnegative and np.any(arr < 0):
        raise ValueError(f"{name} must be at least 0; got min {arr.min()}.")
    return arr


def gaussian_batch(n_units: int, m: int, mean=0.0, std=1.0, seed=0) -> np.ndarray:
    """A batch of Gaussian pre-activations ``Z = mean + std * N(0, 1)``.

    Args:
        n_units: number of units (rows), at least 1.
        m: number of examples (columns), at least 1.
        mean: a scalar or one value per unit, shape (n_units,) or (n_units, 1).
        std: standard deviation(s), same shapes as ``mean``, each at least 0.
        seed: non-negative int (or a ``np.random.Generator``).

    Returns:
        ``Z``, shape (n_units, m): row ``j`` is drawn from
        N(mean[j], std[j]**2).
    """
    n_units = _int_arg("n_units", n_units, 1)
    m = _int_arg("m", m, 1)
    mean = _per_unit("mean", mean, n_units, nonnegative=False)
    std = _per_unit("std", std, n_units, nonnegative=True)
    rng = _rng(seed)
    return mean + std * rng.standard_normal((n_units, m))
