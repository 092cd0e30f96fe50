"""Gradient descent: the textbook update, a cost per epoch, repeatable, honest on divergence."""

import numpy as np
import pytest

from digitnet import nn
from digitnet.fit import Diverged, fit


def toy(seed=0, n=60):
    """Three linearly separable classes in 4 dimensions, one-hot targets."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n) % 3
    X = rng.normal(scale=0.3, size=(n, 4))
    X[np.arange(n), classes] += 2.0
    return X, np.eye(3)[classes]


def fresh(seed=0):
    return nn.init_params([4, 5, 3], np.random.default_rng(seed))


def train(batch_size, epochs=30, seed=0, lr=0.5):
    X, Y = toy()
    weights, biases = fresh()
    costs = fit(
        weights,
        biases,
        X,
        Y,
        activation="sigmoid",
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        l2=0.1,
        rng=np.random.default_rng(seed),
    )
    return weights, biases, costs


def test_one_full_batch_epoch_is_exactly_w_minus_lr_times_grad():
    X, Y = toy()
    weights, biases = fresh()
    expected_W = [W.copy() for W in weights]
    expected_b = [b.copy() for b in biases]
    activations = nn.forward(X, expected_W, expected_b)
    grads_W, grads_b = nn.backward(activations, Y, expected_W, "sigmoid", 0.1)
    expected_W = [W - 0.5 * g for W, g in zip(expected_W, grads_W, strict=True)]
    expected_b = [b - 0.5 * g for b, g in zip(expected_b, grads_b, strict=True)]
    costs = fit(
        weights,
        biases,
        X,
        Y,
        activation="sigmoid",
        lr=0.5,
        epochs=1,
        batch_size=None,
        l2=0.1,
        rng=np.random.default_rng(0),
    )
    assert all(np.array_equal(a, b) for a, b in zip(weights, expected_W, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(biases, expected_b, strict=True))
    assert costs[0] == nn.cost(activations[-1], Y, fresh()[0], 0.1)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_cost_is_recorded_every_epoch_and_falls(batch_size):
    _, _, costs = train(batch_size, epochs=40)
    assert costs.shape == (40,)
    assert costs[-1] < costs[0] / 2


def test_same_seed_gives_bit_identical_weights_and_costs():
    a = train(8, seed=4)
    b = train(8, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True))
    assert np.array_equal(a[2], b[2])


def test_another_seed_shuffles_differently():
    assert not np.array_equal(train(8, seed=4)[2], train(8, seed=5)[2])


def test_a_batch_as_large_as_the_data_is_full_batch():
    assert np.array_equal(train(None)[2], train(1000)[2])


def test_divergence_stops_at_the_epoch_where_the_cost_stops_being_finite():
    X, Y = toy()
    weights, biases = fresh()
    with pytest.raises(Diverged) as raised:
        fit(
            weights,
            biases,
            X * 1e200,
            Y,
            activation="sigmoid",
            lr=1e200,
            epochs=10,
            batch_size=None,
            l2=0.0,
            rng=np.random.default_rng(0),
        )
    assert raised.value.epoch == 2
    assert not np.isfinite(raised.value.cost)


def test_on_epoch_hears_every_epoch_and_its_cost():
    X, Y = toy()
    weights, biases = fresh()
    heard = []
    costs = fit(
        weights,
        biases,
        X,
        Y,
        activation="tanh",
        lr=0.1,
        epochs=5,
        batch_size=16,
        l2=0.0,
        rng=np.random.default_rng(0),
        on_epoch=lambda e, c: heard.append((e, c)),
    )
    assert heard == list(zip(range(1, 6), costs, strict=True))
