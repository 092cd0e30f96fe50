"""The convolutional network: its gradients against central differences, its images, dtypes,
and training with the optimisers, L2 and early stopping that dense networks have."""

import numpy as np
import pytest

from digitnet import convnet, nn
from digitnet.fit import fit_net
from digitnet.optim import Adam, learning_rates
from support import numeric_gradient, relative_error


def small_net(activation="relu", output="softmax", padding="same", dtype=np.float64, seed=3):
    """4 images 8x8 in 3 classes, non-zero biases; same padding: conv 3x3x3 → pool → conv 3x3x4
    → pool → dense 5 → 3; valid: conv 3x3x3 → pool → dense 5 → 3 (a second would leave 0x0)."""
    rng = np.random.default_rng(seed)
    filters, kernels = ([3, 4], [3, 3]) if padding == "same" else ([3], [3])
    weights, biases = convnet.init_params(
        8, filters, kernels, [5], 3, rng, padding=padding, pool=2, init="glorot_uniform"
    )
    biases = [rng.normal(scale=0.3, size=b.shape) for b in biases]
    weights, biases = [W.astype(dtype) for W in weights], [b.astype(dtype) for b in biases]
    net = convnet.ConvNet(weights, biases, activation, output, padding, 2, 8)
    X = rng.normal(size=(4, 64)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, size=4)]
    return net, X, Y


def gradient_errors(net, X, Y, l2, h=1e-6):
    """Relative errors of cost_and_grads against central differences, one per parameter."""
    _, grads = net.cost_and_grads(X, Y, l2, net.workspace(X, Y))
    grads = [g.copy() for g in grads]  # the dense ones live in the workspace

    def cost():
        return net.cost(X, Y, l2, net.workspace(X, Y))

    errors = []
    for P, analytic in zip(net.params, grads, strict=True):
        assert np.linalg.norm(analytic) > 1e-4  # a check of zero gradients would prove nothing
        errors.append(relative_error(analytic, numeric_gradient(cost, P, h)))
    return errors


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("l2", [0.0, 0.7])
@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_backward_matches_central_differences_of_the_cost(activation, l2, padding):
    net, X, Y = small_net(activation, padding=padding)
    errors = gradient_errors(net, X, Y, l2)
    assert len(errors) == 2 * len(net.weights)
    assert max(errors) < 1e-6


@pytest.mark.parametrize("output", list(nn.OUTPUTS))
def test_backward_matches_central_differences_for_either_output(output):
    net, X, Y = small_net(output=output)
    assert max(gradient_errors(net, X, Y, 0.3)) < 1e-6


def test_the_gradient_check_catches_a_wrong_derivative(monkeypatch):
    right = nn.DERIVATIVES["tanh"]
    doubled = lambda a, z, out=None: np.multiply(right(a, z, out=out), 2.0, out=out)  # noqa: E731
    monkeypatch.setitem(nn.DERIVATIVES, "tanh", doubled)
    net, X, Y = small_net("tanh")
    errors = gradient_errors(net, X, Y, 0.0)
    assert errors[0] > 1e-2  # the first kernels: their gradient passes through every derivative


def test_rows_are_read_column_major_as_upright_images():
    net, _, _ = small_net()
    image = np.arange(64.0).reshape(8, 8)  # row r, column c holds 8r + c
    row = image.flatten(order="F")[None]  # the workbook's order: column after column
    np.testing.assert_array_equal(net.images(row)[0, :, :, 0], image)


def test_float32_weights_and_inputs_give_float32_costs_gradients_and_scores():
    net, X, Y = small_net(dtype=np.float32)
    cost, grads = net.cost_and_grads(X, Y, 0.5, net.workspace(X, Y))
    assert all(g.dtype == np.float32 for g in grads)
    assert net.predict_proba(X).dtype == np.float32
    net64, X64, Y64 = small_net(dtype=np.float64)
    assert cost == pytest.approx(net64.cost(X64, Y64, 0.5, net64.workspace(X64, Y64)), rel=1e-5)


def test_predict_proba_in_chunks_equals_one_pass(monkeypatch):
    net, _, _ = small_net()
    X = np.random.default_rng(0).normal(size=(11, 64))
    whole = net.forward(X)[0][-1].copy()
    monkeypatch.setattr(convnet, "PREDICT_ROWS", 4)
    np.testing.assert_allclose(net.predict_proba(X), whole, rtol=1e-12)


def test_init_params_shapes_and_zero_biases():
    weights, biases = convnet.init_params(20, [16, 32], [5, 3], [50], 10, np.random.default_rng(0))
    # 20 → conv 5 → 16 → pool → 8 → conv 3 → 6 → pool → 3: 3·3·32 = 288 features
    assert [W.shape for W in weights] == [(5, 5, 1, 16), (3, 3, 16, 32), (288, 50), (50, 10)]
    assert [b.shape for b in biases] == [(16,), (32,), (50,), (10,)]
    assert all(not b.any() for b in biases)


def test_init_params_refuses_maps_that_shrink_to_nothing():
    with pytest.raises(ValueError, match="the feature maps shrink to nothing at convolution 3"):
        convnet.init_params(20, [4, 4, 4], [5, 5, 5], [], 10, np.random.default_rng(0))


def separable_images(rng, n):
    """A vertical or a horizontal bar on a noisy 8x8 image: class 0 or 1."""
    classes = rng.integers(0, 2, size=n)
    images = rng.normal(scale=0.3, size=(n, 8, 8))
    images[classes == 0, :, 3] += 2.0
    images[classes == 1, 3, :] += 2.0
    return images.reshape(n, 64), np.eye(2)[classes]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_with_a_cosine_schedule_learns_bars_in_either_dtype(dtype):
    rng = np.random.default_rng(0)
    X, Y = separable_images(rng, 200)
    weights, biases = convnet.init_params(8, [4], [3], [], 2, rng, dtype=dtype)
    net = convnet.ConvNet(weights, biases, "relu", "softmax", "valid", 2, 8)
    history = fit_net(
        net,
        X.astype(dtype),
        Y.astype(dtype),
        lr=learning_rates("cosine", 0.01, 10),
        epochs=10,
        batch_size=32,
        l2=0.01,
        rng=rng,
        optimizer=Adam(),
    )
    assert history.cost[-1] < history.cost[0] / 5
    assert all(W.dtype == dtype for W in net.weights)
    assert np.mean(net.predict_proba(X).argmax(axis=1) == Y.argmax(axis=1)) == 1.0


def test_early_stopping_puts_the_best_kernels_back():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 64))
    Y = np.eye(2)[rng.integers(0, 2, size=40)]  # random labels: learnt by heart, never in general
    validation = rng.normal(size=(40, 64)), np.eye(2)[rng.integers(0, 2, size=40)]
    weights, biases = convnet.init_params(8, [4], [3], [], 2, rng)
    net = convnet.ConvNet(weights, biases, "relu", "softmax", "valid", 2, 8)
    history = fit_net(
        net, X, Y, lr=0.3, epochs=40, batch_size=8, l2=0.0, rng=rng,
        validation=validation, patience=3,
    )  # fmt: skip
    best = history.best_epoch
    assert best < len(history.cost) < 40  # stopped early, and not at its last epoch
    kept_cost = net.cost(*validation, 0.0, net.workspace(*validation))
    assert kept_cost == pytest.approx(history.val_cost[best - 1], rel=1e-12)


def test_the_same_seed_gives_identical_weights():
    def train(seed):
        rng = np.random.default_rng(seed)
        X, Y = separable_images(rng, 64)
        weights, biases = convnet.init_params(8, [4], [3], [], 2, rng)
        net = convnet.ConvNet(weights, biases, "relu", "softmax", "valid", 2, 8)
        fit_net(net, X, Y, lr=0.1, epochs=3, batch_size=16, l2=0.0, rng=rng)
        return net.weights

    for a, b in zip(train(4), train(4), strict=True):
        np.testing.assert_array_equal(a, b)
