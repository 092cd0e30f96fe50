"""Would fused element-wise kernels close the epoch's gap to its matrix products?

    .venv/bin/pip install numexpr numba     (not dependencies of digitnet)
    .venv/bin/python benchmarks/kernels.py

Beyond its five matrix products, the full-batch float64 epoch of 400-25-10 on the sample spends
its time in NumPy's element-wise passes. This times the same epoch with that work done by fused
kernels instead, each epoch beside its products alone, in turns:

- numexpr: the bias add and sigmoid as one expression, the derivative times the delta as one,
  and the output's sigmoid, H - Y and the cost as expressions, on numexpr's threads (one per core);
- numba: the same three fused loops compiled, on one thread and with `parallel=True`.

Every variant computes the same epoch as `fit` (the gradients agree to 1e-12). Without numexpr
or numba, their rows say so and the rest still runs. `make bench` runs this script too.
"""

import numpy as np
from _bench import bar, figure, interleaved, sample_arrays
from epoch import BAR_FULL_BATCH, digitnet_epochs, products_alone

from digitnet import nn

EPOCHS_PER_CALL = 20
ROUNDS = 9


class Epoch:
    """One full-batch epoch's arrays, in C order as fit keeps them, and its matrix products."""

    def __init__(self, X, Y):
        (self.W1, self.W2), (self.b1, self.b2) = nn.init_params(
            [400, 25, 10], np.random.default_rng(0)
        )
        self.X, self.Y = X, Y
        m = len(X)
        self.A1, self.Z2, self.H = (np.empty((m, k)) for k in (25, 10, 10))
        self.D1, self.D2 = np.empty((m, 25)), np.empty((m, 10))
        self.G1, self.G2 = np.empty((400, 25)), np.empty((25, 10))
        self.g1, self.g2 = np.empty(25), np.empty(10)

    def run(self, hidden, output, derivative):
        """Forward, cost and backward, with the element-wise work done by the given kernels."""
        s = self
        np.matmul(s.X, s.W1, out=s.A1)
        hidden(s.A1, s.b1)
        np.matmul(s.A1, s.W2, out=s.Z2)
        cost = output(s.Z2, s.b2, s.Y, s.H, s.D2) / len(s.X)
        np.matmul(s.A1.T, s.D2, out=s.G2)
        np.sum(s.D2, axis=0, out=s.g2)
        np.matmul(s.D2, s.W2.T, out=s.D1)
        derivative(s.D1, s.A1)
        np.matmul(s.X.T, s.D1, out=s.G1)
        np.sum(s.D1, axis=0, out=s.g1)
        return cost


def numpy_kernels(m):
    """digitnet's own passes, as nn.forward, nn.cost and nn.backward make them for m rows."""
    scratch = [np.empty((m, 10)) for _ in range(2)]
    slopes = np.empty((m, 25))

    def hidden(Z, b):
        Z += b
        nn.sigmoid(Z, out=Z)

    def output(Z, b, Y, H, D):
        np.add(Z, b, out=H)
        nn.sigmoid(H, out=H)
        np.subtract(H, Y, out=D)
        return nn.cost(H, Y, [], scratch=scratch) * len(H)

    def derivative(D, A):
        D *= nn.DERIVATIVES["sigmoid"](A, None, out=slopes)

    return hidden, output, derivative


def numexpr_kernels():
    import numexpr as ne

    def hidden(Z, b):
        ne.evaluate("1 / (1 + exp(-(Z + b)))", out=Z)

    def output(Z, b, Y, H, D):
        ne.evaluate("1 / (1 + exp(-(Z + b)))", out=H)
        ne.evaluate("H - Y", out=D)
        # the binary cross-entropy from the logits z = Z + b: softplus(-z) + (1 - y)·z
        stable = "where(Z + b > 0, 0, -(Z + b)) + log1p(exp(-abs(Z + b))) + (1 - Y) * (Z + b)"
        return float(ne.evaluate(f"sum({stable})"))

    def derivative(D, A):
        ne.evaluate("D * A * (1 - A)", out=D)

    return hidden, output, derivative


def numba_kernels(parallel):
    import numba

    jit = numba.njit(parallel=parallel, cache=False)
    rows = numba.prange if parallel else range

    @jit
    def hidden(Z, b):
        for i in rows(Z.shape[0]):  # C order: one example's row at a time
            for j in range(Z.shape[1]):
                Z[i, j] = 1.0 / (1.0 + np.exp(-(Z[i, j] + b[j])))

    @jit
    def output(Z, b, Y, H, D):
        totals = np.zeros(Z.shape[0])  # one per row, so that rows can run in parallel
        for i in rows(Z.shape[0]):
            for j in range(Z.shape[1]):
                z = Z[i, j] + b[j]
                H[i, j] = 1.0 / (1.0 + np.exp(-z))
                D[i, j] = H[i, j] - Y[i, j]
                totals[i] += max(-z, 0.0) + np.log1p(np.exp(-abs(z))) + (1.0 - Y[i, j]) * z
        return totals.sum()

    @jit
    def derivative(D, A):
        for i in rows(D.shape[0]):
            for j in range(D.shape[1]):
                D[i, j] *= A[i, j] * (1.0 - A[i, j])

    return hidden, output, derivative


def available(X, Y):
    """name -> kernels, for every variant whose library is installed; and the missing ones."""
    variants = {
        "NumPy passes (digitnet)": lambda: numpy_kernels(len(X)),
        "numexpr, one thread per core": numexpr_kernels,
        "numba, one thread": lambda: numba_kernels(parallel=False),
        "numba, parallel=True": lambda: numba_kernels(parallel=True),
    }
    found, missing = {}, []
    for name, make in variants.items():
        try:
            found[name] = make()
        except ImportError as error:
            missing.append(f"{name}: {error.name} is not installed")
    reference = Epoch(X, Y)
    cost = reference.run(*found["NumPy passes (digitnet)"])
    for name, kernels in found.items():  # the same epoch (and numba compiles here)
        epoch = Epoch(X, Y)
        assert abs(epoch.run(*kernels) - cost) < 1e-9 * cost, name
        np.testing.assert_allclose(epoch.G1, reference.G1, rtol=0, atol=1e-12)
    return found, missing


def main():
    X, Y, _ = sample_arrays()
    found, missing = available(X, Y)
    candidates = {
        "products": products_alone(X, None, np.float64),
        "fit": digitnet_epochs(X, Y, None, np.float64),
    }
    for name, kernels in found.items():
        epoch = Epoch(X, Y)

        def run(epoch=epoch, kernels=kernels):
            for _ in range(EPOCHS_PER_CALL):
                epoch.run(*kernels)

        candidates[name] = run
    times = interleaved(candidates, ROUNDS, EPOCHS_PER_CALL)
    products = times.pop("products")
    print("Full-batch float64 epoch of 400-25-10, 5000 rows: element-wise work by kernel")
    figure("its matrix products alone (the floor)", products)
    figure("digitnet fit", times.pop("fit"))
    print(f"  {'':58s} {'':>10s}   epoch / its products")
    for name, seconds in times.items():
        print(f"  {name:58s} {seconds * 1e3:7.2f} ms   {seconds / products:.2f}")
    for line in missing:
        print(f"  {line}: pip install numexpr numba to compare")
    for name, seconds in times.items():
        bar(f"{name}, epoch / its products", seconds / products, BAR_FULL_BATCH)


if __name__ == "__main__":
    main()
