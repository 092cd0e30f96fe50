"""How a full-batch float64 epoch grows with the number of examples and with the hidden layer.

    make bench          (or: .venv/bin/python benchmarks/scaling.py)

Synthetic arrays (uniform pixels, random labels) of 5k, 50k and 200k rows by 400 features, and
a 400-h-10 sigmoid network with h from 25 to 400 on 5k rows. An epoch's arithmetic is about
4·n·h·(400 + 10) multiply-adds, linear in n and in h, so time / (n·h) should stay flat: the
last column gives it relative to the first row of each table. 200k rows take 640 MB.
"""

import numpy as np
from _bench import duration, interleaved

from digitnet import nn
from digitnet.fit import fit

ROWS = (5_000, 50_000, 200_000)
HIDDEN = (25, 50, 100, 200, 400)


def arrays(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n_rows, 400)), np.eye(10)[rng.integers(0, 10, n_rows)]


def epochs(X, Y, hidden, n_epochs):
    weights, biases = nn.init_params([400, hidden, 10], np.random.default_rng(0))
    rng = np.random.default_rng(0)

    def run():
        fit(weights, biases, X, Y, activation="sigmoid", lr=0.1, epochs=n_epochs,
            batch_size=None, l2=0.0, rng=rng)  # fmt: skip

    return run


def table(title, label, cases):
    """cases: (size, n·h, seconds per epoch); the time per unit of work relative to the first."""
    print(title)
    print(f"  {label:>8s} {'epoch':>10s} {'time / (n·h), relative':>24s}")
    first = cases[0][2] / cases[0][1]
    for size, work, seconds in cases:
        print(f"  {size:>8,} {duration(seconds):>10s} {seconds / work / first:24.2f}")


def main():
    rounds = 5
    cases = []
    for n_rows in ROWS:
        X, Y = arrays(n_rows)
        n_epochs = max(1, 100_000 // n_rows)  # about the same work per call
        t = interleaved({"epoch": epochs(X, Y, 25, n_epochs)}, rounds, per_call=n_epochs)
        cases.append((n_rows, n_rows * 25, t["epoch"]))
        del X, Y
    table("Examples (400-25-10, full batch, float64):", "rows", cases)
    X, Y = arrays(ROWS[0])
    t = interleaved({h: epochs(X, Y, h, 10) for h in HIDDEN}, rounds, per_call=10)
    table(
        "Hidden units (400-h-10 on 5,000 rows, full batch, float64):",
        "hidden",
        [(h, ROWS[0] * h, t[h]) for h in HIDDEN],
    )


if __name__ == "__main__":
    main()
