"""A Workspace changes where the numbers are written, never the numbers."""

import numpy as np
import pytest

from digitnet import nn

LAYERS = [6, 5, 3, 4]


def problem(seed=5, n_rows=9, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 6)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, size=n_rows)]
    weights, biases = nn.init_params(LAYERS, rng, dtype)
    biases = [rng.normal(size=b.shape).astype(dtype) for b in biases]
    return X, Y, weights, biases


def step(X, Y, weights, biases, activation, output, workspace=None):
    """Forward, cost and backward; copies of what they wrote, and the arrays themselves."""
    pre = [] if activation in nn.NEEDS_Z else None
    activations = nn.forward(X, weights, biases, activation, output, pre, workspace)
    scratch = None if workspace is None else workspace.scratch
    cost = nn.cost(activations[-1], Y, weights, 0.3, output, scratch)
    grads_W, grads_b = nn.backward(activations, Y, weights, activation, 0.3, pre, workspace)
    written = [a.copy() for a in activations[1:] + grads_W + grads_b]
    return written, cost, activations[1:] + grads_W + grads_b


def same_bits(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("output", list(nn.OUTPUTS))
@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_a_step_in_a_used_workspace_gives_the_bits_of_a_step_without_one(activation, output):
    workspace = nn.Workspace(LAYERS, 9)
    step(*problem(seed=1), activation, output, workspace)  # leaves another step's numbers
    fresh, fresh_cost, _ = step(*problem(), activation, output)
    kept, kept_cost, _ = step(*problem(), activation, output, workspace)
    assert same_bits(fresh, kept)
    assert fresh_cost == kept_cost


def test_the_results_are_the_workspace_arrays_overwritten_in_place():
    workspace = nn.Workspace(LAYERS, 9)
    _, _, arrays = step(*problem(), "sigmoid", "sigmoid", workspace)
    own = workspace.activations + workspace.grads_W + workspace.grads_b
    assert all(a is b for a, b in zip(arrays, own, strict=True))


def test_without_a_workspace_each_call_returns_arrays_of_its_own():
    first, _, first_arrays = step(*problem(seed=1), "tanh", "softmax")
    _, _, second_arrays = step(*problem(seed=2), "tanh", "softmax")
    assert not any(a is b for a, b in zip(first_arrays, second_arrays, strict=True))
    assert same_bits(first, first_arrays)  # the second call left the first one's numbers alone


def test_a_workspace_cut_to_fewer_rows_serves_a_smaller_batch():
    workspace = nn.Workspace(LAYERS, 16)
    cut = workspace.rows(9)
    assert [A.shape for A in cut.activations] == [(9, 5), (9, 3), (9, 4)]
    assert [G.shape for G in cut.grads_W] == [(6, 5), (5, 3), (3, 4)]
    assert np.shares_memory(cut.activations[0], workspace.activations[0])
    fresh, fresh_cost, _ = step(*problem(), "sigmoid", "sigmoid")
    kept, kept_cost, _ = step(*problem(), "sigmoid", "sigmoid", cut)
    assert same_bits(fresh, kept)
    assert fresh_cost == kept_cost
    assert workspace.rows(16) is workspace


def test_a_workspace_for_a_batch_takes_the_dtype_the_step_computes_in():
    X, Y, weights, _ = problem(dtype=np.float32)
    assert nn.Workspace.for_batch(X, weights, Y).activations[0].dtype == np.float32
    assert nn.Workspace.for_batch(X, weights, Y.astype(np.float64)).grads_b[0].dtype == np.float64


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
