"""The training loop: full batches or shuffled mini-batches, any optimiser, a cost per epoch,
and early stopping on the validation cost."""

from typing import NamedTuple

import numpy as np

from digitnet import nn
from digitnet.optim import SGD


class Diverged(Exception):
    """The cost became NaN or infinite; `epoch` (1-based) is where it happened."""

    def __init__(self, epoch, cost):
        super().__init__(f"cost became {cost} at epoch {epoch}")
        self.epoch = epoch
        self.cost = cost


class History(NamedTuple):
    cost: np.ndarray  # training cost of every epoch run, shape (epochs_run,)
    val_cost: np.ndarray | None  # validation cost (no L2 term) per epoch, when validating
    best_epoch: (
        int  # 1-based epoch whose weights were kept: the last one, or the best on validation
    )


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
    optimizer=None,
    validation=None,
    patience=None,
):
    """Train `weights` and `biases` in place; return the `History`.

    `lr` is one learning rate or one per epoch (see optim.learning_rates); `optimizer` turns
    gradients into steps (default: plain `W -= lr * grad`). `batch_size=None` is full-batch
    gradient descent; otherwise each epoch visits the examples in a fresh order drawn from `rng`,
    one mini-batch at a time. An epoch's cost is the mean of its batches' costs, weighted by batch
    size, each computed in the forward pass just before that batch's update: it is what the
    training minimised, at no extra cost.

    With `validation=(X_val, Y_val)` the validation cost is computed after every epoch. With
    `patience` as well, training stops once it has not improved for that many epochs, and the
    weights of the best epoch are put back. `on_epoch(epoch, cost)` is called after every epoch
    (1-based), for progress reports.
    """
    optimizer = optimizer or SGD()
    rates = np.broadcast_to(np.asarray(lr, dtype=float), (epochs,))
    params = [*weights, *biases]
    costs, val_costs = [], []
    best_cost, best_epoch, best_params = np.inf, epochs, None
    keep_z = activation in nn.NEEDS_Z
    # A diverging run overflows to inf or NaN. The cost check below catches that and says so;
    # NumPy's overflow warnings would only repeat it, less clearly.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            rate, total = float(rates[epoch - 1]), 0.0
            for X_batch, Y_batch in _batches(X, Y, batch_size, rng):
                pre = [] if keep_z else None
                activations = nn.forward(X_batch, weights, biases, activation, output, pre)
                total += nn.cost(activations[-1], Y_batch, weights, l2, output) * len(X_batch)
                grads_W, grads_b = nn.backward(activations, Y_batch, weights, activation, l2, pre)
                optimizer.step(params, [*grads_W, *grads_b], rate)
            costs.append(total / X.shape[0])
            if not np.isfinite(costs[-1]):
                raise Diverged(epoch, costs[-1])
            if validation is not None:
                X_val, Y_val = validation
                H_val = nn.predict_proba(X_val, weights, biases, activation, output)
                val_costs.append(nn.cost(H_val, Y_val, weights, 0.0, output))
            if on_epoch is not None:
                on_epoch(epoch, costs[-1])
            if patience is None or validation is None:
                continue
            if val_costs[-1] < best_cost:
                best_cost, best_epoch = val_costs[-1], epoch
                best_params = [p.copy() for p in params]
            elif epoch - best_epoch >= patience:
                break
    if best_params is not None:
        for p, best in zip(params, best_params, strict=True):
            p[...] = best
    else:
        best_epoch = len(costs)
    return History(
        np.array(costs), np.array(val_costs) if validation is not None else None, best_epoch
    )


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
