"""A Workspace changes where the numbers are written, never the numbers."""

import numpy as np
import pytest

from digitnet import nn


def problem(activation, n_rows=9, dtype=np.float64):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n_rows, 6)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, size=n_rows)]
    weights, biases = nn.init_params([6, 5, 3, 4], rng, dtype)
    biases = [rng.normal(size=b.shape).astype(dtype) for b in biases]
    return X, Y, weights, biases


def step(X, Y, weights, biases, activation, output, workspace=None):
    pre = [] if activation in nn.NEEDS_Z else None
    activations = nn.forward(X, weights, biases, activation, output, pre, workspace)
    scratch = None if workspace is None else workspace.scratch
    cost = nn.cost(activations[-1], Y, weights, 0.3, output, scratch)
    grads_W, grads_b = nn.backward(activations, Y, weights, activation, 0.3, pre, workspace)
    return [a.copy() for a in activations[1:]], cost, [g.copy() for g in grads_W + grads_b]


@pytest.mark.parametrize("output", list(nn.OUTPUTS))
@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_a_step_in_a_workspace_gives_the_same_bits_as_without(activation, output):
    X, Y, weights, biases = problem(activation)
    workspace = nn.Workspace([6, 5, 3, 4], len(X), X.dtype)
    fresh = step(X, Y, weights, biases, activation, output)
    kept = step(X, Y, weights, biases, activation, output, workspace)
    assert all(np.array_equal(a, b) for a, b in zip(fresh[0], kept[0], strict=True))
    assert fresh[1] == kept[1]
    assert all(np.array_equal(a, b) for a, b in zip(fresh[2], kept[2], strict=True))


def test_a_workspace_cut_to_fewer_rows_serves_a_smaller_batch_and_shares_its_gradients():
    X, Y, weights, biases = problem("sigmoid", n_rows=9)
    workspace = nn.Workspace([6, 5, 3, 4], 16, np.float64)
    cut = workspace.rows(9)
    assert [A.shape for A in cut.activations] == [(9, 5), (9, 3), (9, 4)]
    assert cut.grads is workspace.grads
    fresh = step(X, Y, weights, biases, "sigmoid", "sigmoid")
    kept = step(X, Y, weights, biases, "sigmoid", "sigmoid", cut)
    assert fresh[1] == kept[1]
    assert all(np.array_equal(a, b) for a, b in zip(fresh[2], kept[2], strict=True))


def test_the_gradients_are_views_of_one_flat_vector_in_parameter_order():
    workspace = nn.Workspace([6, 5, 4], 3, np.float32)
    assert workspace.grads.dtype == np.float32
    assert workspace.grads.size == 6 * 5 + 5 * 4 + 5 + 4
    views = [*workspace.grads_W, *workspace.grads_b]
    assert [v.shape for v in views] == [(6, 5), (5, 4), (5,), (4,)]
    workspace.grads[:] = np.arange(workspace.grads.size)
    assert workspace.grads_W[1][0, 0] == 30  # W2 starts after the 30 entries of W1
    assert workspace.grads_b[1].tolist() == [55, 56, 57, 58]


def test_in_place_activations_match_the_new_array_ones():
    z = np.linspace(-800.0, 800.0, 41)
    for name, f in {**nn.ACTIVATIONS, "softmax": nn.softmax}.items():
        values = z.reshape(1, -1) if name == "softmax" else z
        expected = f(values)
        in_place = values.copy()
        with np.errstate(over="raise"):
            result = f(in_place, out=in_place)
        assert result is in_place
        assert np.array_equal(result, expected), name
