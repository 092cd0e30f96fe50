"""Gradient descent over full batches or shuffled mini-batches, with the cost at every epoch."""

import numpy as np

from digitnet import nn


class Diverged(Exception):
    """The cost became NaN or infinite; `epoch` (1-based) is where it happened."""

    def __init__(self, epoch, cost):
        super().__init__(f"cost became {cost} at epoch {epoch}")
        self.epoch = epoch
        self.cost = cost


def fit(
    weights,
    biases,
    X,
    Y,
    *,
    activation,
    lr,
    epochs,
    batch_size,
    l2,
    rng,
    on_epoch=None,
    output="sigmoid",
):
    """Train in place with `W -= lr * grad`; return the cost of every epoch, shape (epochs,).

    `batch_size=None` is full-batch gradient descent. Otherwise each epoch visits the examples in
    a fresh order drawn from `rng`, one mini-batch at a time. An epoch's cost is the mean of its
    batches' costs, weighted by batch size, each computed in the forward pass just before that
    batch's update: it is what the training minimised, at no extra cost. `on_epoch(epoch, cost)`
    is called after every epoch (1-based), for progress reports.
    """
    costs = np.empty(epochs)
    # A diverging run overflows to inf or NaN. The cost check below catches that and says so;
    # NumPy's overflow warnings would only repeat it, less clearly.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            total = 0.0
            for X_batch, Y_batch in _batches(X, Y, batch_size, rng):
                activations = nn.forward(X_batch, weights, biases, activation, output)
                total += nn.cost(activations[-1], Y_batch, weights, l2, output) * len(X_batch)
                grads_W, grads_b = nn.backward(activations, Y_batch, weights, activation, l2)
                for W, b, gW, gb in zip(weights, biases, grads_W, grads_b, strict=True):
                    W -= lr * gW
                    b -= lr * gb
            costs[epoch] = total / X.shape[0]
            if not np.isfinite(costs[epoch]):
                raise Diverged(epoch + 1, costs[epoch])
            if on_epoch is not None:
                on_epoch(epoch + 1, costs[epoch])
    return costs


def _batches(X, Y, batch_size, rng):
    """The whole set once, or shuffled mini-batches covering every row once."""
    n_samples = X.shape[0]
    if batch_size is None or batch_size >= n_samples:
        yield X, Y
        return
    order = rng.permutation(n_samples)
    for start in range(0, n_samples, batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], Y[rows]
