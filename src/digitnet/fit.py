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
    best_epoch: int  # 1-based epoch whose weights were kept: the last, or the best on validation
    start_cost: float  # training cost of the initial weights, computed as an epoch's cost is


class _Net(NamedTuple):
    """A dense network (nn.py), as `fit_net` trains one; convnet.ConvNet is the other kind."""

    weights: list
    biases: list
    activation: str
    output: str

    @property
    def params(self):
        return [*self.weights, *self.biases]

    def workspace(self, X, Y):
        """The arrays a step on the rows of X writes (see nn.Workspace)."""
        return nn.Workspace.for_batch(X, self.weights, Y)

    def cost(self, X, Y, l2, workspace):
        H = nn.forward(X, *self, None, workspace)[-1]
        return nn.cost(H, Y, self.weights, l2, self.output, workspace.scratch)

    def cost_and_grads(self, X, Y, l2, workspace):
        """The batch's cost and the gradients of every parameter, in the order of `params`."""
        pre = [] if self.activation in nn.NEEDS_Z else None
        activations = nn.forward(X, *self, pre, workspace)
        cost = nn.cost(activations[-1], Y, self.weights, l2, self.output, workspace.scratch)
        grads_W, grads_b = nn.backward(
            activations, Y, self.weights, self.activation, l2, pre, workspace
        )
        return cost, [*grads_W, *grads_b]


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
    """Train the dense network `weights`, `biases` in place; return the `History`.

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
    return fit_net(
        _Net(weights, biases, activation, output),
        X,
        Y,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        l2=l2,
        rng=rng,
        on_epoch=on_epoch,
        optimizer=optimizer,
        validation=validation,
        patience=patience,
    )


def fit_net(
    net,
    X,
    Y,
    *,
    lr,
    epochs,
    batch_size,
    l2,
    rng,
    on_epoch=None,
    optimizer=None,
    validation=None,
    patience=None,
):
    """`fit` for any network with `params`, `workspace`, `cost` and `cost_and_grads`: a dense
    one, or a convolutional one (convnet.ConvNet). Trains `net.params` in place."""
    optimizer = optimizer or SGD()
    rates = np.broadcast_to(np.asarray(lr, dtype=float), (epochs,))
    workspace, val_workspace = _workspaces(net, X, Y, batch_size, validation)
    best = _Best(net.params, patience if validation is not None else None)
    costs, val_costs = [], []
    start_cost = _start_cost(net, X, Y, l2, workspace)
    # A diverging run overflows to inf or NaN. The cost check below catches that and says so;
    # NumPy's overflow warnings would only repeat it, less clearly.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            batches = _batches(X, Y, batch_size, rng)
            total = _epoch(net, batches, l2, optimizer, rates[epoch - 1], workspace)
            costs.append(total / X.shape[0])
            if not np.isfinite(costs[-1]):
                raise Diverged(epoch, costs[-1])
            if validation is not None:
                val_costs.append(net.cost(*validation, 0.0, val_workspace))
            if on_epoch is not None:
                on_epoch(epoch, costs[-1])
            if best.stops(epoch, val_costs[-1] if val_costs else None):
                break
    val_cost = np.array(val_costs) if validation is not None else None
    return History(np.array(costs), val_cost, best.restore() or len(costs), start_cost)


RISE = 1e-3  # a relative rise beyond rounding; a diverging run ends about 2 to 10 times higher


def rose(history):
    """True if the weights kept cost more than the initial weights did: the run learned nothing.

    A diverging run's cost usually stays finite (the cost clips its logs), and it is already
    high at epoch 1, an epoch of steps; the initial weights' cost is the fair baseline.
    """
    return bool(history.cost[history.best_epoch - 1] > history.start_cost * (1 + RISE))


def _workspaces(net, X, Y, batch_size, validation):
    """The arrays every step writes, allocated once for all epochs (see nn.Workspace): those of
    a training batch, and those of the validation set's forward pass (None without one)."""
    rows = X.shape[0] if batch_size is None else min(batch_size, X.shape[0])
    workspace = net.workspace(X[:rows], Y)
    if validation is None:
        return workspace, None
    return workspace, net.workspace(validation[0], Y)


def _start_cost(net, X, Y, l2, workspace):
    """The cost of the initial weights as an epoch computes it, without its steps: the mean of
    batch costs, each with its own L2 term; in order, so that no random number is drawn."""
    total, rows = 0.0, workspace.n_rows
    for start in range(0, X.shape[0], rows):
        X_batch, Y_batch = X[start : start + rows], Y[start : start + rows]
        total += net.cost(X_batch, Y_batch, l2, workspace.rows(len(X_batch))) * len(X_batch)
    return total / X.shape[0]


def _epoch(net, batches, l2, optimizer, rate, workspace):
    """One step per batch; the sum of the batches' costs, each times its number of rows."""
    params = net.params
    total = 0.0
    for X_batch, Y_batch in batches:
        space = workspace.rows(len(X_batch))
        cost, grads = net.cost_and_grads(X_batch, Y_batch, l2, space)
        total += cost * len(X_batch)
        optimizer.step(params, grads, float(rate))
    return total


class _Best:
    """Early stopping: the epoch of the lowest validation cost so far, and its parameters."""

    def __init__(self, params, patience):
        self.params, self.patience = params, patience
        self.cost, self.epoch, self.saved = np.inf, None, None

    def stops(self, epoch, val_cost):
        """Note this epoch's validation cost; True once `patience` epochs brought no better."""
        if self.patience is None:
            return False
        if val_cost < self.cost:
            self.cost, self.epoch = val_cost, epoch
            self.saved = [p.copy() for p in self.params]
        return self.epoch is not None and epoch - self.epoch >= self.patience

    def restore(self):
        """Put the best epoch's parameters back; its number, or None without early stopping."""
        if self.saved is not None:
            for p, saved in zip(self.params, self.saved, strict=True):
                p[...] = saved
        return self.epoch


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
