"""A convolutional network: convolutions, each followed by the activation and max-pooling, then
the dense layers of nn.py on the flattened feature maps, ending in the output layer.

Rows of pixels come in as the workbook holds them, column-major (MATLAB's order): reshaped to
(n, side, side) in C order they are (column, row), so `images` swaps the two axes, a view, and
the kernels see each digit upright. `weights` holds the kernels first, shape
(kh, kw, channels, filters) (conv.py), then the dense weights, shape (fan_in, fan_out); `biases`
follows it. The cost and its L2 term are nn.cost's; L2 penalises kernels and dense weights alike.

Nothing here reads files, prints or knows about configuration: arrays in, arrays out.
"""

from typing import NamedTuple

import numpy as np

from digitnet import conv, nn

PREDICT_ROWS = 500  # rows per forward pass in predict_proba, to bound the patches' memory
POOLS_FIRST = {"sigmoid", "tanh", "relu", "leaky_relu"}  # non-decreasing: pooling commutes


class _ConvTrace(NamedTuple):
    """What one convolution's backward pass needs from its forward pass."""

    patches: np.ndarray  # im2col rows of its input, (n·h'·w', kh·kw·c)
    conv_shape: tuple  # shape of its Z, (n, h', w', filters)
    activated: np.ndarray  # f's output: pooled if pooled_first, else at conv_shape
    z: np.ndarray | None  # f's input, kept for activations in nn.NEEDS_Z
    where: tuple | None  # the pooled maxima's places (conv.pool_forward), None without pooling
    pooled_first: bool


class ConvNet(NamedTuple):
    weights: list  # kernels (kh, kw, c, f) of each convolution, then dense (fan_in, fan_out)
    biases: list  # (f,) per convolution, then (fan_out,) per dense layer
    activation: str  # after every convolution and hidden dense layer
    output: str  # sigmoid | softmax
    padding: str  # valid | same, for every convolution
    pool: int  # side of the max-pooling blocks after each convolution; 1 = no pooling
    image_side: int  # the input images are image_side × image_side, one channel

    @property
    def n_conv(self):
        return sum(W.ndim == 4 for W in self.weights)

    @property
    def params(self):
        return [*self.weights, *self.biases]

    def images(self, X):
        """Rows of column-major pixels, (n, side²), as upright images (n, side, side, 1)."""
        side = self.image_side
        return X.reshape(-1, side, side, 1).transpose(0, 2, 1, 3)

    def workspace(self, X, Y):
        """The dense layers' arrays for a step on the rows of X (see nn.Workspace)."""
        dense = self.weights[self.n_conv :]
        dtype = np.result_type(X, *self.weights, Y)
        return nn.Workspace([dense[0].shape[0], *(W.shape[1] for W in dense)], len(X), dtype)

    def forward(self, X, workspace=None):
        """(activations of the dense layers, their pre-activations or None, the conv trace).

        The dense activations run [flattened maps, ..., H], H of shape (n_samples, n_classes).
        The trace holds, per convolution, what its backward pass needs. For a non-decreasing
        activation, max(f(z)) = f(max(z)): the maps are pooled first, and f and f' then work
        on a quarter of the values (with 2x2 blocks).
        """
        A, trace = self.images(X), []
        for K, b in zip(self.weights[: self.n_conv], self.biases[: self.n_conv], strict=True):
            Z, patches = conv.conv_forward(A, K, b, self.padding)
            A, step = self._activate_and_pool(Z)
            trace.append(_ConvTrace(patches, Z.shape, *step))
        pre = [] if self.activation in nn.NEEDS_Z else None
        dense_W, dense_b = self.weights[self.n_conv :], self.biases[self.n_conv :]
        activations = nn.forward(
            conv.flatten(A), dense_W, dense_b, self.activation, self.output, pre, workspace
        )
        return activations, pre, trace

    def _activate_and_pool(self, Z):
        """(the layer's output, (activated, z or None, where, pooled_first)) from its Z."""
        f, pool = nn.ACTIVATIONS[self.activation], self.pool
        pooled_first = self.activation in POOLS_FIRST
        where = None
        if pooled_first:
            if pool > 1:
                Z, where = conv.pool_forward(Z, pool)  # a new array: f may overwrite it
            activated = f(Z, out=Z)
            return activated, (activated, None, where, True)
        keep_z = self.activation in nn.NEEDS_Z
        activated = A = f(Z, out=None if keep_z else Z)
        if pool > 1:
            A, where = conv.pool_forward(activated, pool)
        return A, (activated, Z if keep_z else None, where, False)

    def cost(self, X, Y, l2, workspace):
        H = self.forward(X, workspace)[0][-1]
        return nn.cost(H, Y, self.weights, l2, self.output, workspace.scratch)

    def cost_and_grads(self, X, Y, l2, workspace):
        """The batch's cost and the gradients of every parameter, in the order of `params`."""
        activations, pre, trace = self.forward(X, workspace)
        cost = nn.cost(activations[-1], Y, self.weights, l2, self.output, workspace.scratch)
        n_conv, m = self.n_conv, Y.shape[0]
        dense_W = self.weights[n_conv:]
        grads_W, grads_b = nn.backward(activations, Y, dense_W, self.activation, l2, pre, workspace)
        # m·dJ/d(flattened maps): the first dense layer's delta (nn.backward leaves it in the
        # workspace, times m) back through its weights
        delta = workspace.deltas[0] @ dense_W[0].T
        kernel_grads, bias_grads = self._conv_backward(delta, trace, l2, m)
        return cost, [*kernel_grads, *grads_W, *bias_grads, *grads_b]

    def _conv_backward(self, delta, trace, l2, m):
        """The kernels' and conv biases' gradients, from m·dJ/d(flattened maps)."""
        derivative = nn.DERIVATIVES[self.activation]
        kernel_grads, bias_grads = [], []
        for layer in range(self.n_conv - 1, -1, -1):
            step, K = trace[layer], self.weights[layer]
            n, h, w, c = step.conv_shape
            pooled_shape = (n, h // self.pool, w // self.pool, c)
            delta = delta.reshape(pooled_shape)
            if step.pooled_first:
                delta = delta * derivative(step.activated, step.z)
            if self.pool > 1:
                delta = conv.pool_backward(delta, step.where, step.conv_shape, self.pool)
            if not step.pooled_first:
                delta = delta * derivative(step.activated, step.z)
            delta, grad_K, grad_b = conv.conv_backward(
                delta, step.patches, K, self.padding, input_grad=layer > 0
            )
            if l2:
                grad_K += l2 * K
            kernel_grads.insert(0, grad_K / m)
            bias_grads.insert(0, grad_b / m)
        return kernel_grads, bias_grads

    def predict_proba(self, X):
        """Output scores, shape (n_samples, n_classes), for scaled pixels X, PREDICT_ROWS at a
        time."""
        parts = [
            self.forward(X[start : start + PREDICT_ROWS])[0][-1].copy()
            for start in range(0, len(X), PREDICT_ROWS)
        ]
        return np.concatenate(parts) if parts else np.empty((0, self.weights[-1].shape[1]))


def init_params(
    image_side,
    filters,
    kernel_sides,
    hidden_sizes,
    n_classes,
    rng,
    *,
    padding="valid",
    pool=2,
    dtype=np.float64,
    init="he",
):
    """Kernels and dense weights drawn by nn.INITS[init], biases zero: (weights, biases).

    A kernel's fan-in is kh·kw·channels and its fan-out its number of filters.
    """
    draw = nn.INITS[init]
    weights, biases = [], []
    side, channels = image_side, 1
    for n_filters, k in zip(filters, kernel_sides, strict=True):
        weights.append(draw(k * k * channels, n_filters, rng).reshape(k, k, channels, n_filters))
        biases.append(np.zeros(n_filters))
        side = conv_map_side(side, k, padding, pool)
        if side < 1:
            raise ValueError(
                f"the feature maps shrink to nothing at convolution {len(weights)} "
                f"(kernel {k}, {padding} padding, pooling {pool}); use fewer convolutions, "
                "smaller kernels or same padding"
            )
        channels = n_filters
    sizes = [side * side * channels, *hidden_sizes, n_classes]
    dense_W, dense_b = nn.init_params(sizes, rng, dtype, init)
    weights = [W.astype(dtype) for W in weights] + dense_W
    biases = [b.astype(dtype) for b in biases] + dense_b
    return weights, biases


def conv_map_side(side, kernel_side, padding, pool):
    """The side of a convolution's pooled feature maps, for square maps of `side` pixels."""
    return conv.conv_output_side(side, kernel_side, padding) // pool
