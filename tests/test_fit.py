"""Gradient descent: the textbook update, a cost per epoch, repeatable, honest on divergence."""

import warnings

import numpy as np
import pytest

from digitnet import nn
from digitnet.fit import Diverged, History, fit, rose

N_SAMPLES = 60


def toy(seed=0, n=N_SAMPLES):
    """Three linearly separable classes in 4 dimensions: class c lights feature c."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n) % 3
    X = rng.normal(scale=0.3, size=(n, 4))
    X[np.arange(n), classes] += 2.0
    return X, np.eye(3)[classes], classes


def fresh(seed=0):
    """A 4-5-3 network, initialised by nn.init_params from `seed`."""
    return nn.init_params([4, 5, 3], np.random.default_rng(seed))


def train(batch_size, *, epochs=30, seed=0, init_seed=0, lr=0.5, l2=0.1, activation="sigmoid"):
    """Fit a fresh network on the toy; return (weights, biases, costs)."""
    X, Y, _ = toy()
    weights, biases = fresh(init_seed)
    history = fit(
        weights,
        biases,
        X,
        Y,
        activation=activation,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        l2=l2,
        rng=np.random.default_rng(seed),
    )
    return weights, biases, history.cost


def same_arrays(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_one_full_batch_epoch_is_exactly_w_minus_lr_times_grad():
    X, Y, _ = toy()
    start_W, start_b = fresh()
    activations = nn.forward(X, start_W, start_b, "tanh")
    grads_W, grads_b = nn.backward(activations, Y, start_W, "tanh", 0.1)
    expected_W = [W - 0.5 * g for W, g in zip(start_W, grads_W, strict=True)]
    expected_b = [b - 0.5 * g for b, g in zip(start_b, grads_b, strict=True)]

    weights, biases, costs = train(None, epochs=1, activation="tanh")

    assert same_arrays(weights, expected_W)
    assert same_arrays(biases, expected_b)
    # the epoch's cost is the one of the forward pass before the update
    assert costs.tolist() == pytest.approx([nn.cost(activations[-1], Y, start_W, 0.1)], rel=1e-15)


def test_fit_updates_the_given_arrays_in_place():
    X, Y, _ = toy()
    weights, biases = fresh()
    arrays = [id(a) for a in weights + biases]
    before = [a.copy() for a in weights + biases]
    fit(
        weights,
        biases,
        X,
        Y,
        activation="sigmoid",
        lr=0.5,
        epochs=1,
        batch_size=None,
        l2=0.0,
        rng=np.random.default_rng(0),
    )
    assert [id(a) for a in weights + biases] == arrays
    assert not any(np.array_equal(a, b) for a, b in zip(weights + biases, before, strict=True))


def test_full_batch_cost_falls_every_epoch_and_the_toy_is_learned():
    weights, biases, costs = train(None, epochs=40)
    assert costs.shape == (40,)
    assert np.all(np.diff(costs) < 0)
    assert costs[-1] < costs[0] / 2
    X, _, classes = toy()
    assert np.array_equal(nn.predict(X, weights, biases), classes)


def test_mini_batch_cost_falls_and_the_toy_is_learned():
    weights, biases, costs = train(8, epochs=40)
    assert costs.shape == (40,)
    assert costs[-1] < costs[0] / 2
    X, _, classes = toy()
    assert np.array_equal(nn.predict(X, weights, biases), classes)


def test_a_mini_batch_epoch_cost_is_the_batch_costs_weighted_by_batch_size():
    # With lr = 0 the weights never move, so each batch of 25, 25 and 10 rows reports the mean
    # cost of its own rows; weighted by batch size, their mean is the cost over all 60 rows,
    # whatever the shuffle. An unweighted mean of the three would not be.
    X, Y, _ = toy()
    weights, biases = fresh()
    full = nn.cost(nn.forward(X, weights, biases)[-1], Y, weights)
    _, _, costs = train(25, epochs=3, lr=0.0, l2=0.0)
    assert costs.tolist() == pytest.approx([full] * 3, rel=1e-12)


def test_same_seed_gives_bit_identical_weights_and_costs():
    a_W, a_b, a_costs = train(8, seed=4)
    b_W, b_b, b_costs = train(8, seed=4)
    assert same_arrays(a_W + a_b, b_W + b_b)
    assert np.array_equal(a_costs, b_costs)


def test_another_shuffling_seed_gives_other_weights_and_costs():
    a_W, _, a_costs = train(8, seed=4)
    b_W, _, b_costs = train(8, seed=5)
    assert not any(np.array_equal(x, y) for x, y in zip(a_W, b_W, strict=True))
    assert not np.array_equal(a_costs, b_costs)


def test_another_initialisation_seed_gives_other_weights_and_costs():
    a_W, _, a_costs = train(None, init_seed=0)
    b_W, _, b_costs = train(None, init_seed=1)
    assert not any(np.array_equal(x, y) for x, y in zip(a_W, b_W, strict=True))
    assert not np.array_equal(a_costs, b_costs)


@pytest.mark.parametrize("batch_size", [N_SAMPLES, N_SAMPLES + 1, 1000])
def test_a_batch_at_least_as_large_as_the_data_is_full_batch(batch_size):
    full_W, full_b, full_costs = train(None)
    W, b, costs = train(batch_size)
    assert same_arrays(W + b, full_W + full_b)
    assert np.array_equal(costs, full_costs)


def test_a_smaller_batch_is_not_full_batch():
    _, _, full_costs = train(None)
    _, _, costs = train(N_SAMPLES - 1)
    assert not np.array_equal(costs, full_costs)


def test_on_epoch_hears_every_epoch_once_with_its_cost():
    X, Y, _ = toy()
    weights, biases = fresh()
    heard = []
    costs = fit(
        weights,
        biases,
        X,
        Y,
        activation="relu",
        lr=0.1,
        epochs=5,
        batch_size=16,
        l2=0.0,
        rng=np.random.default_rng(0),
        on_epoch=lambda epoch, cost: heard.append((epoch, cost)),
    ).cost
    assert heard == [(1, costs[0]), (2, costs[1]), (3, costs[2]), (4, costs[3]), (5, costs[4])]


def diverging_fit(on_epoch=None, weights=None, biases=None):
    """A single sigmoid unit whose first step overflows its weight to -inf.

    W = [[0]], b = [0], X = [[1e10], [0]], Y = [[0], [0]].
    Epoch 1: H = sigmoid(0) = 1/2 for both rows, cost = 2·ln 2 / 2 = ln 2, finite.
      dJ/dW = Xᵀ(H - Y)/m = 1e10 · 1/2 / 2 = 2.5e9, and lr · 2.5e9 = 2.5e317 overflows:
      W = -inf. (dJ/db = 1/2, so b = -5e307, still finite.)
    Epoch 2: row 2 has Z = 0 · -inf + b = NaN, so H and the cost are NaN.
    """
    weights = [np.zeros((1, 1))] if weights is None else weights
    biases = [np.zeros(1)] if biases is None else biases
    X, Y = np.array([[1e10], [0.0]]), np.zeros((2, 1))
    return fit(
        weights,
        biases,
        X,
        Y,
        activation="sigmoid",
        lr=1e308,
        epochs=5,
        batch_size=None,
        l2=0.0,
        rng=np.random.default_rng(0),
        on_epoch=on_epoch,
    )


def test_divergence_raises_at_the_1_based_epoch_whose_cost_is_not_finite():
    heard = []
    with pytest.raises(Diverged) as raised:
        diverging_fit(on_epoch=lambda epoch, cost: heard.append((epoch, cost)))
    assert raised.value.epoch == 2
    assert np.isnan(raised.value.cost)
    assert str(raised.value) == "cost became nan at epoch 2"
    assert heard == [(1, pytest.approx(np.log(2.0), rel=1e-15))]  # epoch 1 was still finite


def test_divergence_is_reported_by_diverged_alone_without_numpy_overflow_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would escape instead
        with pytest.raises(Diverged):
            diverging_fit()


def test_after_divergence_the_given_arrays_hold_the_weights_that_diverged():
    weights, biases = [np.zeros((1, 1))], [np.zeros(1)]
    with pytest.raises(Diverged):
        diverging_fit(weights=weights, biases=biases)
    # epoch 2's step, from W = -inf with NaN gradients, left W NaN: nothing was put back
    assert np.isnan(weights[0]).all()


def toy_history(lr, batch_size, *, l2=0.0, epochs=30, rng=None):
    """The `History` of a fresh network fitted on the toy."""
    X, Y, _ = toy()
    return fit(
        *fresh(),
        X,
        Y,
        activation="sigmoid",
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        l2=l2,
        rng=rng or np.random.default_rng(0),
    )


@pytest.mark.parametrize("batch_size", [None, 16])
def test_the_start_cost_is_the_initial_weights_cost_as_an_epoch_computes_it(batch_size):
    # lr 0: every epoch's cost is the initial weights' cost; with L2 per batch of 16, 16, 16, 12
    history = toy_history(0.0, batch_size, l2=0.1, epochs=2)
    assert history.start_cost == pytest.approx(history.cost[0], rel=1e-12)
    assert history.start_cost == pytest.approx(history.cost[1], rel=1e-12)


def test_the_start_cost_draws_no_random_number():
    rng = np.random.default_rng(0)
    toy_history(0.5, 16, epochs=1, rng=rng)
    expected = np.random.default_rng(0)
    expected.permutation(N_SAMPLES)  # epoch 1's batch order, and nothing else
    assert rng.integers(1 << 30) == expected.integers(1 << 30)


@pytest.mark.parametrize(
    "cost, best_epoch, start_cost, rose_",
    [
        ([5.0, 6.0, 9.0], 3, 7.0, True),  # ends above the initial weights' cost
        ([9.0, 8.0, 7.5], 3, 7.0, True),  # high already at epoch 1, falling, still above
        ([9.0, 8.0, 6.5], 3, 7.0, False),  # ends below: it learned something
        ([6.0, 5.0, 9.0], 2, 7.0, False),  # early stopping kept epoch 2's weights
        ([7.0, 7.0, 7.0], 3, 7.0, False),  # lr 0: nothing moved
        ([7.0, 7.0, 7.0 * (1 + 1e-4)], 3, 7.0, False),  # a rise within rounding
    ],
)
def test_a_run_rose_when_the_weights_kept_cost_more_than_the_initial_ones(
    cost, best_epoch, start_cost, rose_
):
    assert rose(History(np.array(cost), None, best_epoch, start_cost)) is rose_


def test_a_far_too_large_learning_rate_rises_with_a_finite_cost():
    history = toy_history(1000.0, None)
    assert np.isfinite(history.cost).all()  # the clipped logs: Diverged is not raised
    assert rose(history)


def test_a_learning_run_has_not_risen():
    history = toy_history(0.5, 16, l2=0.1)
    assert history.cost[-1] < history.start_cost / 2
    assert not rose(history)


def overfitting_problem():
    """A 4-30-3 net on 12 noisy training rows, validated on 60 clean ones: it overfits early."""
    rng = np.random.default_rng(1)
    X, Y, _ = toy(seed=1, n=12)
    Y = Y[rng.permutation(12)]  # labels shuffled: anything learned beyond chance is memorised
    X_val, Y_val, _ = toy(seed=2)
    weights, biases = nn.init_params([4, 30, 3], np.random.default_rng(0))
    return weights, biases, X, Y, (X_val, Y_val)


def fit_overfitting(patience, epochs=300):
    weights, biases, X, Y, validation = overfitting_problem()
    history = fit(
        weights,
        biases,
        X,
        Y,
        activation="tanh",
        lr=1.0,
        epochs=epochs,
        batch_size=None,
        l2=0.0,
        rng=np.random.default_rng(0),
        validation=validation,
        patience=patience,
    )
    return weights, biases, history, validation


def test_validation_cost_is_recorded_every_epoch():
    _, _, history, _ = fit_overfitting(patience=None, epochs=50)
    assert history.val_cost.shape == history.cost.shape == (50,)
    assert history.best_epoch == 50  # without early stopping the last weights are kept


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    _, _, history, _ = fit_overfitting(patience=10)
    best = history.best_epoch
    assert len(history.cost) == best + 10 < 300
    assert history.val_cost[best - 1] == history.val_cost.min()
    assert np.all(history.val_cost[best:] >= history.val_cost[best - 1])


def test_early_stopping_puts_back_the_weights_of_the_best_epoch():
    weights, biases, history, (X_val, Y_val) = fit_overfitting(patience=10)
    kept = nn.cost(nn.forward(X_val, weights, biases, "tanh")[-1], Y_val, weights)
    assert kept == pytest.approx(history.val_cost[history.best_epoch - 1], rel=1e-12)
    assert kept < history.val_cost[-1]


def test_a_learning_rate_per_epoch_is_used_in_its_epoch():
    # lr 0 for the first two epochs: nothing moves, so their costs are equal; then it learns
    X, Y, _ = toy()
    weights, biases = fresh()
    history = fit(
        weights,
        biases,
        X,
        Y,
        activation="sigmoid",
        lr=np.array([0.0, 0.0, 0.5, 0.5]),
        epochs=4,
        batch_size=None,
        l2=0.0,
        rng=np.random.default_rng(0),
    )
    assert history.cost[0] == history.cost[1] == history.cost[2]
    assert history.cost[3] < history.cost[2]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_every_optimiser_and_activation_learns_the_toy(optimizer, activation):
    from digitnet.optim import make_optimizer

    X, Y, classes = toy()
    weights, biases = fresh()
    history = fit(
        weights,
        biases,
        X,
        Y,
        activation=activation,
        lr=0.01 if optimizer == "adam" else 0.1,
        epochs=60,
        batch_size=8,
        l2=0.0,
        rng=np.random.default_rng(0),
        optimizer=make_optimizer(optimizer),
        output="softmax",
    )
    assert history.cost[-1] < history.cost[0] / 2
    assert np.array_equal(nn.predict(X, weights, biases, activation, "softmax"), classes)


def test_float32_training_stays_float32_and_learns_like_float64():
    X, Y, classes = toy()
    weights, biases = nn.init_params([4, 5, 3], np.random.default_rng(0), np.float32)
    history = fit(
        weights,
        biases,
        X.astype(np.float32),
        Y.astype(np.float32),
        activation="sigmoid",
        lr=0.5,
        epochs=30,
        batch_size=None,
        l2=0.1,
        rng=np.random.default_rng(0),
    )
    assert all(a.dtype == np.float32 for a in weights + biases)
    _, _, costs64 = train(None, epochs=30)
    assert history.cost == pytest.approx(costs64, rel=1e-4)
