"""The training loop: full batches or shuffled mini-batches, any optimiser, a cost per epoch,
and early stopping on the validation cost."""

from contextlib import contextmanager
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

    Every array a step writes is allocated once, before the first epoch (see nn.Workspace), and
    mini-batches are gathered into arrays of their own, so an epoch allocates next to nothing.
    """
    optimizer = optimizer or SGD()
    rates = np.broadcast_to(np.asarray(lr, dtype=float), (epochs,))
    given = [*weights, *biases]
    # While training, the parameters live in one flat vector, with `weights` and `biases` as
    # views of it, and so do the gradients (see nn.Workspace): an optimiser step is then a few
    # operations on one vector rather than a few on each array. `given` gets the result.
    params, views = nn.flat_views([p.shape for p in given], np.result_type(*given))
    for view, p in zip(views, given, strict=True):
        view[...] = p
    weights, biases = views[: len(weights)], views[len(weights) :]
    layer_sizes = [X.shape[1], *(W.shape[1] for W in weights)]
    dtype = np.result_type(X, Y, params)
    batches = _Batches(X, Y, batch_size, nn.unit_order(dtype))
    workspace = nn.Workspace(layer_sizes, batches.rows, dtype)
    if validation is not None:
        X_val, Y_val = validation[0], np.asarray(validation[1], order=nn.unit_order(dtype))
        val_workspace = nn.Workspace(layer_sizes, X_val.shape[0], dtype)
    keep_z = activation in nn.NEEDS_Z
    costs, val_costs = [], []
    best_cost, best_epoch, best_params = np.inf, epochs, None
    # A diverging run overflows to inf or NaN. The cost check below catches that and says so;
    # NumPy's overflow warnings would only repeat it, less clearly.
    with np.errstate(over="ignore", invalid="ignore"), _copied_back(views, given):
        for epoch in range(1, epochs + 1):
            rate, total = float(rates[epoch - 1]), 0.0
            for X_batch, Y_batch in batches.epoch(rng):
                space = workspace if len(X_batch) == batches.rows else workspace.rows(len(X_batch))
                pre = [] if keep_z else None
                activations = nn.forward(X_batch, weights, biases, activation, output, pre, space)
                H = activations[-1]
                total += nn.cost(H, Y_batch, weights, l2, output, space.scratch) * len(X_batch)
                nn.backward(activations, Y_batch, weights, activation, l2, pre, space)
                optimizer.step([params], [workspace.grads], rate)
            costs.append(total / X.shape[0])
            if not np.isfinite(costs[-1]):
                raise Diverged(epoch, costs[-1])
            if validation is not None:
                space = val_workspace
                H_val = nn.forward(X_val, weights, biases, activation, output, None, space)[-1]
                val_costs.append(nn.cost(H_val, Y_val, weights, 0.0, output, space.scratch))
            if on_epoch is not None:
                on_epoch(epoch, costs[-1])
            if patience is None or validation is None:
                continue
            if val_costs[-1] < best_cost:
                best_cost, best_epoch = val_costs[-1], epoch
                best_params = params.copy()
            elif epoch - best_epoch >= patience:
                break
        if best_params is not None:
            params[...] = best_params
        else:
            best_epoch = len(costs)
    return History(
        np.array(costs), np.array(val_costs) if validation is not None else None, best_epoch
    )


@contextmanager
def _copied_back(views, given):
    """Copy the trained values into the caller's arrays on the way out, also after Diverged."""
    try:
        yield
    finally:
        for p, view in zip(given, views, strict=True):
            p[...] = view


class _Batches:
    """The whole set once per epoch, or shuffled mini-batches covering every row once.

    A mini-batch's rows are gathered into arrays kept for the purpose (`take` with `out`),
    rather than into new ones: each batch is a view of them, valid until the next is drawn.
    (mode="clip" changes nothing, the rows being valid, but "raise" would copy via a buffer.)
    The targets are held in the memory order that nn.Workspace holds the outputs in, so that
    H - Y and the cost's dot product run over both in one order.
    """

    def __init__(self, X, Y, batch_size, order):
        n_samples = X.shape[0]
        self.full = batch_size is None or batch_size >= n_samples
        self.rows = n_samples if self.full else batch_size
        self.X, self.Y = X, np.asarray(Y, order=order) if self.full else Y
        if not self.full:
            self.X_rows = np.empty((batch_size, X.shape[1]), X.dtype)
            self.Y_rows = np.empty((batch_size, Y.shape[1]), Y.dtype, order=order)

    def epoch(self, rng):
        if self.full:
            yield self.X, self.Y
            return
        order = rng.permutation(self.X.shape[0])
        for start in range(0, len(order), self.rows):
            rows = order[start : start + self.rows]
            n = len(rows)
            yield (
                self.X.take(rows, axis=0, out=self.X_rows[:n], mode="clip"),
                self.Y.take(rows, axis=0, out=self.Y_rows[:n], mode="clip"),
            )
