"""How a full-batch float64 epoch grows with the number of examples and with the hidden layer.

    make bench          (or: .venv/bin/python benchmarks/scaling.py)

Synthetic arrays (uniform pixels, random labels) of 5k, 50k and 200k rows by 400 features, and
a 400-h-10 sigmoid network with h from 25 to 400 on 5k rows. An epoch's arithmetic is about
4·n·h·(400 + 10) multiply-adds, linear in n and in h, so time / (n·h) would stay flat if the
machine did every multiply-add at one speed. Each epoch is shown beside its own matrix products
done alone (see epoch.py), which show what the machine's BLAS makes of each size. 200k rows
take 640 MB.
"""

import numpy as np
from _bench import duration, interleaved
from epoch import digitnet_epochs, products_alone

ROWS = (5_000, 50_000, 200_000)
HIDDEN = (25, 50, 100, 200, 400)
ROUNDS = 5


def arrays(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n_rows, 400)), np.eye(10)[rng.integers(0, 10, n_rows)]


def timed(X, Y, hidden):
    """(epoch, its products alone), median seconds of ROUNDS rounds."""
    epochs = max(3, 50_000 // len(X))  # about the same work per call, 3 epochs at least
    t = interleaved(
        {
            "epoch": digitnet_epochs(X, Y, None, np.float64, hidden=hidden, epochs=epochs),
            "products": products_alone(X, None, np.float64, hidden=hidden, epochs=epochs),
        },
        ROUNDS,
        per_call=epochs,
    )
    return t["epoch"], t["products"]


def table(title, label, cases):
    """cases: (size, n·h, epoch seconds, products seconds); time per n·h relative to the first."""
    print(title)
    header = f"{'epoch':>10s} {'per n·h, rel.':>14s} {'products':>10s} {'epoch/products':>15s}"
    print(f"  {label:>8s} {header}")
    first = cases[0][2] / cases[0][1]
    for size, work, epoch, products in cases:
        print(
            f"  {size:>8,} {duration(epoch):>10s} {epoch / work / first:14.2f} "
            f"{duration(products):>10s} {epoch / products:15.2f}"
        )


def main():
    cases = []
    for n_rows in ROWS:
        X, Y = arrays(n_rows)
        cases.append((n_rows, n_rows * 25, *timed(X, Y, 25)))
        del X, Y
    table("Examples (400-25-10, full batch, float64):", "rows", cases)
    X, Y = arrays(ROWS[0])
    cases = [(h, ROWS[0] * h, *timed(X, Y, h)) for h in HIDDEN]
    table("Hidden units (400-h-10 on 5,000 rows, full batch, float64):", "hidden", cases)


if __name__ == "__main__":
    main()
