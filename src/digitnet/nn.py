"""Feed-forward network maths: activations, initialisation, cost, forward and back propagation.

Conventions, stated once: one example per row. Layer l maps its input A of shape
(n_samples, fan_in) to Z = A @ W + b, with W of shape (fan_in, fan_out) and b of shape (fan_out,).
Every layer has a bias; L2 regularisation penalises weights, never biases. The output layer is
either a sigmoid per class with the cross-entropy summed over classes (Andrew Ng's exercise 4),
or a softmax with the categorical cross-entropy; either cost is averaged over the examples. Each
derivative takes the activation's *output* a = f(z) and, for the one activation whose a does not
determine f'(z) (swish), the pre-activation z as well; the forward pass keeps z only then.

The matrix products are the work, and everything else should cost little beside them: each
activation can write into an `out` array (z itself, in place), and a `Workspace` holds the arrays
a training step writes, so that `fit` allocates them once rather than at every step (on the full
5000-row sample, that is what keeps an epoch near the time of its products: docs/benchmarks.md).

Nothing here reads files, prints or knows about configuration: arrays in, arrays out.
"""

import copy

import numpy as np


def sigmoid(z, out=None):
    """Logistic function 1 / (1 + e^-z), in four in-place passes.

    For z below about -709, e^-z overflows to inf and 1 / (1 + inf) = 0, the right answer:
    that overflow is expected, so it is not reported.
    """
    out = np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def tanh(z, out=None):
    return np.tanh(z, out=out)


def relu(z, out=None):
    return np.maximum(z, 0.0, out=out)


LEAK = 0.01  # slope of leaky_relu below zero


def leaky_relu(z, out=None):
    return np.maximum(z, LEAK * z, out=out)  # z above zero, LEAK·z below, since 0 < LEAK < 1


def swish(z, out=None):
    """z·sigmoid(z) (also called SiLU): smooth, unbounded above, slightly negative below zero."""
    return np.multiply(z, sigmoid(z), out=out)


def softmax(z, out=None):
    """Row-wise softmax; the row maximum is subtracted first so that exp never overflows."""
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "swish": swish,
}


def _sigmoid_derivative(a, z, out=None):
    return np.multiply(a, np.subtract(1.0, a, out=out), out=out)  # a·(1 - a)


def _tanh_derivative(a, z, out=None):
    return np.subtract(1.0, np.square(a, out=out), out=out)  # 1 - a²


def _relu_derivative(a, z, out=None):
    return np.sign(a, out=out)  # a = max(z, 0) >= 0, so its sign is 1 where z > 0, else 0


def _leaky_relu_derivative(a, z, out=None):
    out = np.empty_like(a) if out is None else out
    np.copyto(out, LEAK)
    np.copyto(out, 1.0, where=a > 0)  # 1 where z > 0, LEAK elsewhere
    return out


def _swish_derivative(a, z, out=None):
    s = sigmoid(z)
    return np.add(s, a * (1.0 - s), out=out)  # d/dz z·s(z) = s + z·s·(1 - s), and z·s = a


# f'(z) written in terms of a = f(z) where that suffices (z is then ignored). For leaky_relu,
# a has the sign of z. Swish is not monotonic, so a alone does not give z: it takes z. Each
# writes into `out` (shaped like a) if given, else into a new array.
DERIVATIVES = {
    "sigmoid": _sigmoid_derivative,
    "tanh": _tanh_derivative,
    "relu": _relu_derivative,
    "leaky_relu": _leaky_relu_derivative,
    "swish": _swish_derivative,
}
NEEDS_Z = {"swish"}  # activations whose derivative needs the pre-activations

OUTPUTS = {"sigmoid": sigmoid, "softmax": softmax}


def check_activation(name):
    """Return `name` if it is a known activation, else raise ValueError listing the valid ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return name


def _glorot_uniform(fan_in, fan_out, rng):
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # what the tutorial's 6**1/2 meant
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _glorot_normal(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def _he(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


# Glorot keeps the variance of sigmoid/tanh layers steady; He is made for (leaky) ReLU.
INITS = {"glorot_uniform": _glorot_uniform, "glorot_normal": _glorot_normal, "he": _he}


def init_params(layer_sizes, rng, dtype=np.float64, init="glorot_uniform"):
    """Weights drawn by scheme `init`, biases zero.

    `layer_sizes` runs from input to output, e.g. (400, 25, 10). The default draws uniformly in
    ±sqrt(6 / (fan_in + fan_out)). Returns (weights, biases), two lists with one array per layer.
    """
    draw = INITS[init]
    weights, biases = [], []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
        weights.append(draw(fan_in, fan_out, rng).astype(dtype))
        biases.append(np.zeros(fan_out, dtype=dtype))
    return weights, biases


class Workspace:
    """The arrays one training step writes, for batches of up to `n_rows` examples.

    `rows(n)` gives the same arrays cut to the first n rows, for a last, smaller batch; the
    gradients keep their shapes. `for_batch` makes one to fit a single step.
    """

    def __init__(self, layer_sizes, n_rows, dtype=np.float64):
        fan_ins, outputs = layer_sizes[:-1], layer_sizes[1:]
        self.n_rows = n_rows
        self.activations = [np.empty((n_rows, size), dtype) for size in outputs]  # A_1 .. H
        self.deltas = [np.empty((n_rows, size), dtype) for size in outputs]  # dJ/dZ, times m
        self.slopes = [np.empty((n_rows, size), dtype) for size in outputs[:-1]]  # hidden f'(Z)
        self.scratch = [np.empty((n_rows, outputs[-1]), dtype) for _ in range(2)]  # the cost's
        self.grads_W = [np.empty(shape, dtype) for shape in zip(fan_ins, outputs, strict=True)]
        self.grads_b = [np.empty(size, dtype) for size in outputs]
        self.ones = np.ones(n_rows, dtype)  # turns column sums into a product (see backward)

    @classmethod
    def for_batch(cls, X, weights, Y=None):
        """A workspace for one step on the rows of X, in the dtype the step computes in."""
        dtype = np.result_type(X, *weights, *([] if Y is None else [Y]))
        return cls([X.shape[1], *(W.shape[1] for W in weights)], X.shape[0], dtype)

    def rows(self, n):
        """A workspace sharing these arrays, cut to n rows (this one, for all of them)."""
        if n == self.n_rows:
            return self
        cut = copy.copy(self)
        cut.n_rows = n
        for name in ("activations", "deltas", "slopes", "scratch"):
            setattr(cut, name, [A[:n] for A in getattr(self, name)])
        cut.ones = self.ones[:n]
        return cut


def forward(
    X, weights, biases, activation="sigmoid", output="sigmoid", pre_activations=None, workspace=None
):
    """Activations of every layer: [X, A_1, ..., H], H of shape (n_samples, n_classes).

    Pass a list as `pre_activations` to have each hidden layer's Z appended to it, for
    `backward` with an activation in NEEDS_Z. A_1 .. H are the arrays of `workspace`,
    overwritten (a new one if none is given): each Z is computed in place of its A, unless
    it has to be kept.
    """
    if workspace is None:
        workspace = Workspace.for_batch(X, weights)
    f, g = ACTIVATIONS[activation], OUTPUTS[output]
    activations = [X]
    for layer, (W, b) in enumerate(zip(weights, biases, strict=True)):
        out = workspace.activations[layer]
        is_output = layer == len(weights) - 1
        keep_z = pre_activations is not None and not is_output
        Z = np.matmul(activations[-1], W, out=np.empty_like(out) if keep_z else out)
        Z += b  # (n_samples, fan_out)
        if keep_z:
            pre_activations.append(Z)
            activations.append(f(Z, out=out))
        else:
            activations.append((g if is_output else f)(Z, out=Z))
    return activations


def cost(H, Y, weights, l2=0.0, output="sigmoid", scratch=None):
    """Cross-entropy averaged over the m examples, plus λ/2m·ΣW².

    For sigmoid outputs, the binary cross-entropy summed over classes (every output is its own
    yes/no); for softmax, the categorical one, -Σ y·log h. H and Y have shape (m, n_classes).
    Logs are clipped at the dtype's eps instead of nudging the outputs, so a confident right
    answer costs ~0 and a confident wrong one a large but finite amount. `scratch`, two arrays
    shaped like H, take the clipped copy and log(1 - h) instead of new arrays.
    """
    m = Y.shape[0]
    eps = np.finfo(H.dtype).eps
    clipped, log_not_h = (None, None) if scratch is None else scratch
    H = H.clip(eps, 1.0 - eps, out=clipped)
    if output == "softmax":
        data_cost = -np.vdot(Y, np.log(H, out=H)) / m
    else:
        # Σ y·log h + (1 - y)·log(1 - h) = Σ y·(log h - log(1 - h)) + Σ log(1 - h)
        log_not_h = np.log1p(np.negative(H, out=log_not_h), out=log_not_h)
        log_odds = np.log(H, out=H)
        log_odds -= log_not_h
        data_cost = -(np.vdot(Y, log_odds) + log_not_h.sum()) / m
    # computed even for l2 = 0, where 0·inf = NaN makes infinite weights show in the cost
    penalty = 0.5 * l2 / m * sum(np.vdot(W, W) for W in weights)
    return float(data_cost + penalty)


def backward(
    activations, Y, weights, activation="sigmoid", l2=0.0, pre_activations=None, workspace=None
):
    """Gradients of `cost` with respect to every W and b: (grads_W, grads_b), shaped like them.

    The same for both outputs: see the comment on delta. `pre_activations` are the hidden
    layers' Z from `forward`, needed only for activations in NEEDS_Z. The gradients, deltas and
    f'(Z) are the arrays of `workspace`, overwritten (a new one if none is given).
    """
    if activation in NEEDS_Z and pre_activations is None:
        raise ValueError(f"backward through {activation} needs the forward pass's pre_activations")
    if workspace is None:
        workspace = Workspace.for_batch(activations[0], weights, Y)
    m = Y.shape[0]
    derivative = DERIVATIVES[activation]
    grads_W, grads_b, deltas = workspace.grads_W, workspace.grads_b, workspace.deltas
    # dJ/dZ_out is exactly (H - Y) / m for a sigmoid output with the binary cross-entropy and
    # for a softmax output with the categorical one: the output's derivative cancels against the
    # log's, so no clipping or a(1-a) factor appears here. As in scikit-learn, the deltas below
    # are m times that, and the gradients are scaled by 1/m once, at the end.
    delta = np.subtract(activations[-1], Y, out=deltas[-1])
    for layer in range(len(weights) - 1, -1, -1):
        np.matmul(activations[layer].T, delta, out=grads_W[layer])
        if l2:
            grads_W[layer] += l2 * weights[layer]
        # column sums of delta as one BLAS product rather than delta.sum(axis=0): on tall, narrow
        # deltas the full-batch epoch needs that to stay near its products (docs/benchmarks.md)
        np.matmul(workspace.ones, delta, out=grads_b[layer])
        if layer > 0:
            z = pre_activations[layer - 1] if pre_activations is not None else None
            delta = np.matmul(delta, weights[layer].T, out=deltas[layer - 1])
            delta *= derivative(activations[layer], z, out=workspace.slopes[layer - 1])
    for grad in grads_W + grads_b:
        grad *= 1.0 / m
    return grads_W, grads_b


def predict_proba(X, weights, biases, activation="sigmoid", output="sigmoid"):
    """Output-layer activations, one row of class scores per example."""
    return forward(X, weights, biases, activation, output)[-1]


def predict(X, weights, biases, activation="sigmoid", output="sigmoid"):
    """The class with the highest output for each example: argmax, never a 0.5 threshold."""
    return np.argmax(predict_proba(X, weights, biases, activation, output), axis=1)
