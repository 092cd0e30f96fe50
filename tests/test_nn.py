"""Network maths: checked against finite differences and a network worked by hand."""

import numpy as np
import pytest

from digitnet import nn


def numeric_gradients(X, Y, weights, biases, activation, l2, h=1e-6):
    """Central differences of the cost with respect to every weight and bias."""

    def cost():
        H = nn.forward(X, weights, biases, activation)[-1]
        return nn.cost(H, Y, weights, l2)

    grads = []
    for params in (weights, biases):
        layer_grads = []
        for P in params:
            G = np.zeros_like(P)
            for index in np.ndindex(P.shape):
                saved = P[index]
                P[index] = saved + h
                up = cost()
                P[index] = saved - h
                down = cost()
                P[index] = saved
                G[index] = (up - down) / (2 * h)
            layer_grads.append(G)
        grads.append(layer_grads)
    return grads


@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_backprop_matches_finite_differences(activation, l2):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, 5))
    Y = np.eye(3)[rng.integers(0, 3, size=7)]
    weights, biases = nn.init_params([5, 4, 3, 3], rng)
    biases = [rng.normal(scale=0.1, size=b.shape) for b in biases]
    if activation == "relu":  # keep pre-activations away from the kink at 0
        X = np.abs(X) + 0.1
    activations = nn.forward(X, weights, biases, activation)
    grads_W, grads_b = nn.backward(activations, Y, weights, activation, l2)
    numeric_W, numeric_b = numeric_gradients(X, Y, weights, biases, activation, l2)
    for analytic, numeric in zip(grads_W + grads_b, numeric_W + numeric_b, strict=True):
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_hand_worked_network():
    # One input example x = [1, 2], two hidden sigmoid units, one sigmoid output.
    X = np.array([[1.0, 2.0]])
    W1 = np.array([[0.1, -0.2], [0.3, 0.4]])  # z1 = x @ W1 + b1 = [0.7, 0.6] + [0, 0.1]
    b1 = np.array([0.0, 0.1])  # z1 = [0.7, 0.7]; a1 = sigmoid(0.7) = 0.668187772 (both)
    W2 = np.array([[1.0], [-1.0]])  # z2 = 0.668187772 - 0.668187772 + 0.5 = 0.5
    b2 = np.array([0.5])  # h = sigmoid(0.5) = 0.622459331
    activations = nn.forward(X, [W1, W2], [b1, b2])
    assert activations[1] == pytest.approx(np.array([[0.668187772, 0.668187772]]))
    assert activations[2] == pytest.approx(np.array([[0.622459331]]))
    # y = 1: cost = -log(0.622459331) = 0.474076984
    assert nn.cost(activations[2], np.array([[1.0]]), [W1, W2]) == pytest.approx(0.474076984)
    # with λ = 2 and m = 1: + λ/2m·ΣW² = 1 · (0.01 + 0.04 + 0.09 + 0.16 + 1 + 1) = 2.3
    assert nn.cost(activations[2], np.array([[1.0]]), [W1, W2], l2=2.0) == pytest.approx(
        0.474076984 + 2.3
    )
    # output delta = h - y = -0.377540669; dJ/dW2 = a1ᵀ · delta
    grads_W, grads_b = nn.backward(activations, np.array([[1.0]]), [W1, W2])
    assert grads_b[1] == pytest.approx([-0.377540669])
    assert grads_W[1] == pytest.approx(np.array([[0.668187772 * -0.377540669]] * 2))


def test_sigmoid_is_stable_and_symmetric_at_extremes():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    s = nn.sigmoid(z)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    assert np.all((s >= 0) & (s <= 1))
    assert nn.sigmoid(-z) == pytest.approx(1 - s, abs=1e-15)


def test_cost_is_finite_for_saturated_outputs():
    H = np.array([[1.0, 0.0]])
    Y = np.array([[0.0, 1.0]])  # confidently wrong on both classes
    value = nn.cost(H, Y, [])
    assert np.isfinite(value)
    assert value == pytest.approx(-2 * np.log(np.finfo(float).eps))
    assert nn.cost(Y.copy(), Y, []) == pytest.approx(0.0, abs=1e-12)


def test_l2_penalises_weights_not_biases():
    rng = np.random.default_rng(0)
    weights, biases = nn.init_params([3, 2], rng)
    X, Y = rng.normal(size=(4, 3)), np.eye(2)[[0, 1, 0, 1]]
    H = nn.forward(X, weights, biases)[-1]
    penalty = nn.cost(H, Y, weights, l2=1.0) - nn.cost(H, Y, weights, l2=0.0)
    assert penalty == pytest.approx(0.5 / 4 * np.sum(weights[0] ** 2))
    _, grads_b_plain = nn.backward(nn.forward(X, weights, biases), Y, weights, l2=0.0)
    _, grads_b_l2 = nn.backward(nn.forward(X, weights, biases), Y, weights, l2=5.0)
    assert np.array_equal(grads_b_plain[0], grads_b_l2[0])


def test_init_uses_glorot_limits_and_zero_biases():
    weights, biases = nn.init_params([400, 25, 10], np.random.default_rng(0))
    assert [W.shape for W in weights] == [(400, 25), (25, 10)]
    limit = np.sqrt(6 / 425)
    assert limit == pytest.approx(0.1188, abs=1e-4)  # not the tutorial's 6**1/2 = 3
    assert np.abs(weights[0]).max() <= limit
    assert np.abs(weights[0]).max() > 0.9 * limit
    assert all(not b.any() for b in biases)


def test_init_is_repeatable_for_a_seed_and_differs_across_seeds():
    a, _ = nn.init_params([4, 3, 2], np.random.default_rng(1))
    b, _ = nn.init_params([4, 3, 2], np.random.default_rng(1))
    c, _ = nn.init_params([4, 3, 2], np.random.default_rng(2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_predict_takes_the_argmax_even_when_every_output_is_below_one_half():
    W = [np.eye(3)]
    b = [np.array([-5.0, -5.0, -5.0])]
    X = np.array([[0.1, 0.3, 0.2], [1.0, 1.0, 0.0]])
    assert nn.predict_proba(X, W, b).max() < 0.5
    assert nn.predict(X, W, b).tolist() == [1, 0]  # a tie goes to the lower class


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError) as raised:
        nn.check_activation("softplus")
    assert str(raised.value) == "unknown activation 'softplus'; choose one of sigmoid, tanh, relu"
