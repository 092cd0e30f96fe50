"""Convolution, max-pooling and flatten, checked against central differences and by hand."""

import numpy as np
import pytest

from digitnet import conv
from support import numeric_gradient, relative_error


def conv_problem(padding, kernel=3, channels=2, filters=3):
    """Random images (2, 6, 5, channels), kernels, biases and an upstream gradient G."""
    rng = np.random.default_rng(7)
    A = rng.normal(size=(2, 6, 5, channels))
    K = rng.normal(size=(kernel, kernel, channels, filters))
    b = rng.normal(size=filters)
    Z, _ = conv.conv_forward(A, K, b, padding)
    G = rng.normal(size=Z.shape)
    return A, K, b, G


@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("padding", conv.PADDINGS)
def test_conv_backward_matches_central_differences(padding, kernel):
    A, K, b, G = conv_problem(padding, kernel)
    # L = Σ G·Z, so dL/dZ = G, and the backward pass of G is the gradient of L
    loss = lambda: np.vdot(G, conv.conv_forward(A, K, b, padding)[0])  # noqa: E731
    _, patches = conv.conv_forward(A, K, b, padding)
    grad_A, grad_K, grad_b = conv.conv_backward(G, patches, K, padding)
    assert grad_A.shape == A.shape and grad_K.shape == K.shape and grad_b.shape == b.shape
    for analytic, P in ((grad_A, A), (grad_K, K), (grad_b, b)):
        assert relative_error(analytic, numeric_gradient(loss, P)) < 1e-8


def test_conv_backward_skips_the_input_gradient_when_not_asked():
    A, K, b, G = conv_problem("valid")
    _, patches = conv.conv_forward(A, K, b)
    grad_A, grad_K, _ = conv.conv_backward(G, patches, K, input_grad=False)
    assert grad_A is None
    np.testing.assert_array_equal(grad_K, conv.conv_backward(G, patches, K)[1])


def test_conv_forward_on_a_hand_worked_image():
    """A 3x3 image, a 2x2 kernel that takes top-left minus bottom-right, bias 10:

    A = 1 2 3    K = 1 0    Z = 1-5+10  2-6+10  =  6 6
        4 5 6        0 -1       4-8+10  5-9+10     6 6
        7 8 9
    """
    A = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    K = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    Z, patches = conv.conv_forward(A, K, np.array([10.0]))
    np.testing.assert_array_equal(Z[0, :, :, 0], [[6.0, 6.0], [6.0, 6.0]])
    np.testing.assert_array_equal(patches[0], [1.0, 2.0, 4.0, 5.0])  # the first window, a row


def test_same_padding_keeps_the_image_size_and_valid_shrinks_it_by_k_minus_1():
    A, K, b, _ = conv_problem("valid", kernel=3)
    assert conv.conv_forward(A, K, b, "same")[0].shape == (2, 6, 5, 3)
    assert conv.conv_forward(A, K, b, "valid")[0].shape == (2, 4, 3, 3)
    assert conv.conv_output_side(20, 5, "valid") == 16
    assert conv.conv_output_side(20, 5, "same") == 20


def test_same_padding_refuses_an_even_kernel_and_an_unknown_padding_lists_the_valid_ones():
    with pytest.raises(ValueError, match="same padding needs an odd kernel side, got 4"):
        conv.pad_width(4, "same")
    with pytest.raises(ValueError, match="unknown padding 'full'; choose one of valid, same"):
        conv.pad_width(3, "full")


@pytest.mark.parametrize("shape", [(2, 6, 4, 3), (2, 5, 7, 2)])  # the second leaves a row over
def test_pool_backward_matches_central_differences(shape):
    rng = np.random.default_rng(1)
    A = rng.normal(size=shape)  # no ties: every block has one maximum
    P, where = conv.pool_forward(A, 2)
    G = rng.normal(size=P.shape)
    loss = lambda: np.vdot(G, conv.pool_forward(A, 2)[0])  # noqa: E731
    analytic = conv.pool_backward(G, where, A.shape, 2)
    assert relative_error(analytic, numeric_gradient(loss, A)) < 1e-8


def test_pool_keeps_each_blocks_maximum_and_drops_what_fills_no_block():
    A = np.array([[1.0, 5.0, 2.0], [3.0, 4.0, 8.0], [9.0, 9.0, 9.0]]).reshape(1, 3, 3, 1)
    P, _ = conv.pool_forward(A, 2)
    assert P.shape == (1, 1, 1, 1)
    assert P.item() == 5.0  # the last row and column fill no 2x2 block


def test_pool_sends_the_gradient_to_the_first_maximum_of_a_tie_only():
    A = np.zeros((1, 2, 2, 1))  # four equal values, as after a ReLU
    P, where = conv.pool_forward(A, 2)
    grad = conv.pool_backward(np.ones_like(P), where, A.shape, 2)
    np.testing.assert_array_equal(grad[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_pool_of_size_3():
    A = np.arange(36.0).reshape(1, 6, 6, 1)
    P, _ = conv.pool_forward(A, 3)
    np.testing.assert_array_equal(P[0, :, :, 0], [[14.0, 17.0], [32.0, 35.0]])


def test_flatten_and_unflatten_are_inverse_reshapes():
    A = np.arange(24.0).reshape(2, 2, 3, 2)
    rows = conv.flatten(A)
    assert rows.shape == (2, 12)
    np.testing.assert_array_equal(conv.unflatten(rows, A.shape), A)


@pytest.mark.parametrize("padding", conv.PADDINGS)
def test_float32_in_float32_out_and_close_to_float64(padding):
    A, K, b, G = conv_problem(padding)
    Z64, patches64 = conv.conv_forward(A, K, b, padding)
    A32, K32, b32, G32 = (x.astype(np.float32) for x in (A, K, b, G))
    Z32, patches32 = conv.conv_forward(A32, K32, b32, padding)
    grads32 = conv.conv_backward(G32, patches32, K32, padding)
    grads64 = conv.conv_backward(G, patches64, K, padding)
    P32, where = conv.pool_forward(Z32, 2)
    back32 = conv.pool_backward(P32, where, Z32.shape, 2)
    for array in (Z32, patches32, *grads32, P32, back32):
        assert array.dtype == np.float32
    np.testing.assert_allclose(Z32, Z64, rtol=1e-5, atol=1e-5)
    for g32, g64 in zip(grads32, grads64, strict=True):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)
