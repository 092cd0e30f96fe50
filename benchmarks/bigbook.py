"""The 50,000-row workbook of the "10× the sample" benchmarks, built reproducibly (not timed).

The sample's 5,000 digits and nine shifted copies of them: the eight one-pixel moves
(down/up × left/right/none) and a two-pixel move right, each a full copy of X with its labels,
written by `digitnet.workbook.write_workbook` (XlsxWriter, fixed creation date), so the file is
byte for byte the same on every build. It is about 71 MB and takes a minute or two to write.

    .venv/bin/python benchmarks/bigbook.py [ROWS]    (default 50000; into benchmarks/.big/)
"""

import sys

import numpy as np
from _bench import ROOT, sample_workbook

BIG_DIR = ROOT / "benchmarks" / ".big"
# (down, right) in pixels: the eight one-pixel neighbours, then two pixels right.
SHIFTS = [(d, r) for d in (-1, 0, 1) for r in (-1, 0, 1) if (d, r) != (0, 0)] + [(0, 2)]


def shift(X, down, right):
    """Rows of 20 x 20 column-major images moved by (down, right) pixels, edges filled with 0."""
    side = 20
    images = X.reshape(-1, side, side)  # (n, x, y): the workbook's images are column-major
    moved = np.zeros_like(images)
    dst_x, src_x = _slices(right, side)
    dst_y, src_y = _slices(down, side)
    moved[:, dst_x, dst_y] = images[:, src_x, src_y]
    return moved.reshape(X.shape)


def _slices(step, side):
    return slice(max(step, 0), side + min(step, 0)), slice(max(-step, 0), side + min(-step, 0))


def big_arrays(rows=50_000):
    """X (rows, 400) and labels 1..10: the sample, then its shifted copies, cut at `rows`."""
    from digitnet.workbook import read_workbook

    X, labels = read_workbook(sample_workbook())
    copies = [X] + [shift(X, down, right) for down, right in SHIFTS]
    repeats = -(-rows // (len(X) * len(copies)))
    X_big = np.concatenate(copies * repeats)[:rows]
    y_big = np.tile(labels, len(copies) * repeats)[:rows]
    return X_big, y_big


def big_workbook(rows=50_000):
    """benchmarks/.big/digits-<rows>.xlsx, written if missing; its path."""
    from digitnet.workbook import write_workbook

    path = BIG_DIR / f"digits-{rows}.xlsx"
    if not path.is_file():
        print(f"Building {path.relative_to(ROOT)} ({rows} rows; not timed) ...", flush=True)
        write_workbook(path, *big_arrays(rows))
    return path


if __name__ == "__main__":
    print(big_workbook(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
