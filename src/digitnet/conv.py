"""Convolution, max-pooling and flatten: the layers of a convolutional network, forward and back.

Conventions, stated once: images are arrays of shape (n_samples, height, width, channels),
channels last, so that a convolution is one matrix product, as a dense layer is in nn.py:
`patches` holds the receptive field of every output position as a row of kh·kw·channels numbers
(im2col), and Z = patches @ K + b, with the kernels K of shape (kh, kw, channels, filters) read
as a (kh·kw·channels, filters) matrix. The stride is 1. Padding is "valid" (none: the image
shrinks by k - 1) or "same" (k // 2 zeros all round, k odd: the image keeps its size).
Max-pooling keeps the largest value of each size × size block (stride size); rows and columns
that do not fill a block are dropped, as in PyTorch.

The backward passes take dJ/dZ times m, as nn.backward's deltas are, and return the gradients
summed over the batch; the caller divides by m once.

Nothing here reads files, prints or knows about configuration: arrays in, arrays out.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PADDINGS = ("valid", "same")


def pad_width(kernel_side, padding):
    """Zeros added on each side of an image before a kernel_side × kernel_side convolution."""
    if padding == "valid":
        return 0
    if padding == "same":
        if kernel_side % 2 == 0:
            raise ValueError(f"same padding needs an odd kernel side, got {kernel_side}")
        return kernel_side // 2
    raise ValueError(f"unknown padding {padding!r}; choose one of {', '.join(PADDINGS)}")


def conv_output_side(side, kernel_side, padding):
    """The side of a convolution's output for a square input of `side` pixels."""
    return side + 2 * pad_width(kernel_side, padding) - kernel_side + 1


def im2col(A, kh, kw):
    """Every kh × kw window of A, shape (n, h, w, c), as one row: (n·h'·w', kh·kw·c).

    The windows are a view (sliding_window_view); the reshape copies them into rows once.
    """
    windows = sliding_window_view(A, (kh, kw), axis=(1, 2))  # (n, h', w', c, kh, kw)
    n, h_out, w_out, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h_out * w_out, kh * kw * c)


def _padded(A, p):
    return A if p == 0 else np.pad(A, ((0, 0), (p, p), (p, p), (0, 0)))


def conv_forward(A, K, b, padding="valid"):
    """Z = patches @ K + b, shape (n, h', w', filters), and the patches, which backward needs."""
    kh, kw, c, f = K.shape
    A = _padded(A, pad_width(kh, padding))
    patches = im2col(A, kh, kw)  # (n·h'·w', kh·kw·c)
    Z = patches @ K.reshape(kh * kw * c, f)
    Z += b
    n, h, w = A.shape[0], A.shape[1] - kh + 1, A.shape[2] - kw + 1
    return Z.reshape(n, h, w, f), patches


def conv_backward(delta, patches, K, padding="valid", input_grad=True):
    """(dA, dK, db) from delta = m·dJ/dZ, shape (n, h', w', filters); dA is None if not asked.

    dK = patchesᵀ @ delta. dA is the "full" correlation of delta, padded by k - 1 all round,
    with the kernels turned 180° and their channel axes swapped: one more im2col and product.
    """
    kh, kw, c, f = K.shape
    rows = delta.reshape(-1, f)  # (n·h'·w', filters)
    grad_K = (patches.T @ rows).reshape(K.shape)
    grad_b = rows.sum(axis=0)
    if not input_grad:
        return None, grad_K, grad_b
    n, h_out, w_out = delta.shape[:3]
    spread = np.pad(delta, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    turned = K[::-1, ::-1].transpose(0, 1, 3, 2).reshape(kh * kw * f, c)
    grad_padded = (im2col(spread, kh, kw) @ turned).reshape(n, h_out + kh - 1, w_out + kw - 1, c)
    p = pad_width(kh, padding)
    grad_A = grad_padded[:, p : grad_padded.shape[1] - p, p : grad_padded.shape[2] - p]
    return grad_A, grad_K, grad_b


def _argmax_along(B, axis):
    """(max, index of the first max) of B along `axis`, one pass per position on that axis."""
    at = [slice(None)] * B.ndim
    slices = [B[tuple(at[:axis] + [k])] for k in range(B.shape[axis])]  # views, not copies
    index = (slices[1] > slices[0]).view(np.uint8)  # 1 where the second is larger, else 0
    largest = np.maximum(slices[0], slices[1])
    for k, S in enumerate(slices[2:], start=2):
        np.copyto(index, k, where=S > largest)
        np.maximum(largest, S, out=largest)
    return largest, index


def pool_forward(A, size=2):
    """Max-pooling: (P, where), P of shape (n, h // size, w // size, c); `where` locates each
    block's maximum (the first in its column, then the first such column, on ties), which
    backward sends the gradient to.

    In two steps over contiguous rows: the maximum of each column of a block (down its size
    rows), then the maximum of those (across its size columns).
    """
    n, h, w, c = A.shape
    h_out, w_out = h // size, w // size
    blocks = A[:, : h_out * size, : w_out * size].reshape(n * h_out, size, w_out, size * c)
    down, row = _argmax_along(blocks, axis=1)  # (n·h', w', size·c): each block column's max
    P, column = _argmax_along(down.reshape(n * h_out, w_out, size, c), axis=2)
    return P.reshape(n, h_out, w_out, c), (row, column)


def pool_backward(delta, where, input_shape, size=2):
    """dA, shape `input_shape`: each block's delta goes to its maximum, zero elsewhere."""
    n, h, w, c = input_shape
    h_out, w_out = delta.shape[1:3]
    row, column = where
    delta = delta.reshape(n * h_out, w_out, c)
    to_column = np.empty((n * h_out, w_out, size, c), delta.dtype)
    for j in range(size):
        np.multiply(delta, column == j, out=to_column[:, :, j])
    to_column = to_column.reshape(n * h_out, w_out, size * c)
    blocks = np.empty((n * h_out, size, w_out, size * c), delta.dtype)
    for i in range(size):
        np.multiply(to_column, row == i, out=blocks[:, i])
    blocks = blocks.reshape(n, h_out * size, w_out * size, c)
    if blocks.shape == tuple(input_shape):
        return blocks
    grad = np.zeros(input_shape, delta.dtype)
    grad[:, : h_out * size, : w_out * size] = blocks
    return grad


def flatten(A):
    """(n, h, w, c) to (n, h·w·c) rows for the dense layers; a view."""
    return A.reshape(A.shape[0], -1)


def unflatten(delta, shape):
    """flatten's backward pass: rows back to the image shape they came from."""
    return delta.reshape(shape)
