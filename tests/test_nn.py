"""Network maths, checked against central finite differences and a network worked by hand."""

import numpy as np
import pytest

from digitnet import nn
from support import numeric_gradient

LN3 = np.log(3.0)  # sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4, sigmoid(0) = 1/2


def numeric_gradients(X, Y, weights, biases, activation, l2, output="sigmoid", h=1e-6):
    """Central differences (J(p + h) - J(p - h)) / 2h of the cost for every weight and bias."""

    def cost():
        H = nn.forward(X, weights, biases, activation, output)[-1]
        return nn.cost(H, Y, weights, l2, output)

    return [numeric_gradient(cost, P, h) for P in weights], [
        numeric_gradient(cost, P, h) for P in biases
    ]


def relative_error(analytic, numeric):
    """‖a - n‖ / (‖a‖ + ‖n‖): scale-free, and 1 when one side is zero and the other is not."""
    return np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric))


def gradient_check_problem(activation):
    """A 5-4-3-3 network in float64 with random data, random weights and non-zero biases."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, 5))
    Y = np.eye(3)[rng.integers(0, 3, size=7)]
    weights, biases = nn.init_params([5, 4, 3, 3], rng)
    biases = [rng.normal(scale=0.5, size=b.shape) for b in biases]
    # relu has a kink at 0, where central differences straddle two slopes: make sure no hidden
    # pre-activation is within reach of a step h = 1e-6.
    A = X
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        Z = A @ W + b
        assert np.abs(Z).min() > 1e-3
        A = nn.ACTIVATIONS[activation](Z)
    return X, Y, weights, biases


def gradient_errors(activation, l2, output="sigmoid"):
    X, Y, weights, biases = gradient_check_problem(activation)
    pre = []
    activations = nn.forward(X, weights, biases, activation, output, pre)
    grads_W, grads_b = nn.backward(activations, Y, weights, activation, l2, pre)
    numeric_W, numeric_b = numeric_gradients(X, Y, weights, biases, activation, l2, output)
    for analytic in grads_W + grads_b:  # a check of all-zero gradients would prove nothing
        assert np.linalg.norm(analytic) > 1e-3
    return [
        relative_error(analytic, numeric)
        for analytic, numeric in zip(grads_W + grads_b, numeric_W + numeric_b, strict=True)
    ]


@pytest.mark.parametrize("output", list(nn.OUTPUTS))
@pytest.mark.parametrize("l2", [0.0, 0.7])
@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_backward_matches_central_differences_of_the_cost(activation, l2, output):
    errors = gradient_errors(activation, l2, output)
    assert len(errors) == 6  # W1, W2, W3, b1, b2, b3
    assert max(errors) < 1e-7


@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_the_gradient_check_catches_a_wrong_derivative(activation, monkeypatch):
    right = nn.DERIVATIVES[activation]
    doubled = lambda a, z, out=None: np.multiply(right(a, z, out=out), 2.0, out=out)  # noqa: E731
    monkeypatch.setitem(nn.DERIVATIVES, activation, doubled)
    errors = gradient_errors(activation, 0.0)
    assert max(errors) > 1e-2
    assert errors[2] < 1e-7  # the output layer's gradient does not use the hidden derivative


@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_each_derivative_matches_central_differences(activation):
    f, derivative = nn.ACTIVATIONS[activation], nn.DERIVATIVES[activation]
    z = np.array([-3.0, -1.2, -0.4, 0.3, 0.9, 2.5])  # away from relu's kink at 0
    h = 1e-6
    numeric = (f(z + h) - f(z - h)) / (2 * h)
    # only activations in NEEDS_Z may look at z: the others get None and must not need it
    given_z = z if activation in nn.NEEDS_Z else None
    assert derivative(f(z), given_z) == pytest.approx(numeric, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", list(nn.ACTIVATIONS))
def test_each_derivative_writes_into_out_when_given(activation, dtype):
    f, derivative = nn.ACTIVATIONS[activation], nn.DERIVATIVES[activation]
    z = np.array([[-3.0, -0.4, 0.0], [0.3, 0.9, 2.5]], dtype)
    given_z = z if activation in nn.NEEDS_Z else None
    out = np.full_like(z, np.nan)
    returned = derivative(f(z), given_z, out=out)
    assert returned is out
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, derivative(f(z), given_z))


def test_swish_is_z_times_sigmoid_and_dips_below_zero():
    z = np.array([-1.0, 0.0, 2.0])
    assert nn.swish(z) == pytest.approx(z / (1 + np.exp(-z)))
    assert nn.swish(np.array([-1.2785])).item() == pytest.approx(-0.2785, abs=1e-4)  # its minimum


def test_backward_through_swish_refuses_to_guess_without_pre_activations():
    X, Y, weights, biases = gradient_check_problem("swish")
    activations = nn.forward(X, weights, biases, "swish")
    with pytest.raises(ValueError, match="pre_activations"):
        nn.backward(activations, Y, weights, "swish")


def hand_network():
    """A 2-2-2 sigmoid network and two examples whose arithmetic works out in quarters.

    X = [[ln3, 0], [0, ln3]], W1 = [[1, 1], [0, -1]], b1 = [0, 0]
      Z1 = X @ W1 + b1 = [[ln3, ln3], [0, -ln3]]
      A1 = sigmoid(Z1)  = [[3/4, 3/4], [1/2, 1/4]]
    W2 = [[2, -4], [-1, 2]], b2 = [-3/4, 3/2 + ln3]
      A1 @ W2 = [[3/2 - 3/4, -3 + 3/2], [1 - 1/4, -2 + 1/2]] = [[3/4, -3/2], [3/4, -3/2]]
      Z2 = A1 @ W2 + b2 = [[0, ln3], [0, ln3]]
      H  = sigmoid(Z2)  = [[1/2, 3/4], [1/2, 3/4]]
    Y = [[0, 1], [1, 0]]
    """
    X = np.array([[LN3, 0.0], [0.0, LN3]])
    weights = [np.array([[1.0, 1.0], [0.0, -1.0]]), np.array([[2.0, -4.0], [-1.0, 2.0]])]
    biases = [np.array([0.0, 0.0]), np.array([-0.75, 1.5 + LN3])]
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    return X, Y, weights, biases


def test_forward_on_the_hand_worked_network():
    X, _, weights, biases = hand_network()
    activations = nn.forward(X, weights, biases)
    assert len(activations) == 3
    assert activations[0] is X
    assert activations[1] == pytest.approx(np.array([[0.75, 0.75], [0.5, 0.25]]))
    assert activations[2] == pytest.approx(np.array([[0.5, 0.75], [0.5, 0.75]]))


def test_cost_on_the_hand_worked_network():
    X, Y, weights, biases = hand_network()
    H = nn.forward(X, weights, biases)[-1]
    # row 1, y = [0, 1]: -log(1 - 1/2) - log(3/4) = ln 2 + ln 4/3 = ln 8/3
    # row 2, y = [1, 0]: -log(1/2) - log(1 - 3/4) = ln 2 + ln 4   = ln 8
    # averaged over m = 2: (ln 8/3 + ln 8) / 2 = ln(64/3) / 2 = 1.5301354
    assert nn.cost(H, Y, weights) == pytest.approx(1.5301354, abs=1e-7)
    assert nn.cost(H, Y, weights) == pytest.approx(np.log(64 / 3) / 2, rel=1e-14)
    # λ = 1: + λ/2m·ΣW² = 1/4 · ((1 + 1 + 0 + 1) + (4 + 16 + 1 + 4)) = 28/4 = 7
    assert nn.cost(H, Y, weights, l2=1.0) == pytest.approx(np.log(64 / 3) / 2 + 7.0, rel=1e-14)


def test_backward_on_the_hand_worked_network():
    X, Y, weights, biases = hand_network()
    grads_W, grads_b = nn.backward(nn.forward(X, weights, biases), Y, weights)
    # output deltas (H - Y)/m = [[1/2, -1/4], [-1/2, 3/4]] / 2 = [[1/4, -1/8], [-1/4, 3/8]]
    # dJ/db2 = column sums = [0, 1/4]
    assert grads_b[1] == pytest.approx([0.0, 0.25])
    # dJ/dW2 = A1ᵀ · deltas:
    #   row 0: 3/4·[1/4, -1/8] + 1/2·[-1/4, 3/8] = [3/16 - 2/16, -3/32 + 6/32] = [1/16, 3/32]
    #   row 1: 3/4·[1/4, -1/8] + 1/4·[-1/4, 3/8] = [3/16 - 1/16, -3/32 + 3/32] = [1/8, 0]
    assert grads_W[1] == pytest.approx(np.array([[1 / 16, 3 / 32], [1 / 8, 0.0]]))
    # hidden deltas = (deltas @ W2ᵀ) · a(1 - a):
    #   row 1: [2/4 + 4/8, -1/4 - 2/8] · [3/16, 3/16] = [1, -1/2]  · [3/16, 3/16] = [3/16, -3/32]
    #   row 2: [-2/4 - 12/8, 1/4 + 6/8] · [1/4, 3/16] = [-2, 1]    · [1/4, 3/16] = [-1/2, 3/16]
    # dJ/db1 = [3/16 - 1/2, -3/32 + 3/16] = [-5/16, 3/32]; dJ/dW1 = Xᵀ · hidden deltas
    assert grads_b[0] == pytest.approx([-5 / 16, 3 / 32])
    assert grads_W[0] == pytest.approx(LN3 * np.array([[3 / 16, -3 / 32], [-1 / 2, 3 / 16]]))


def test_l2_adds_lambda_over_m_times_w_to_the_weight_gradients_only():
    X, Y, weights, biases = hand_network()
    activations = nn.forward(X, weights, biases)
    plain_W, plain_b = nn.backward(activations, Y, weights)
    l2_W, l2_b = nn.backward(activations, Y, weights, l2=3.0)
    for W, plain, regularised in zip(weights, plain_W, l2_W, strict=True):
        assert regularised - plain == pytest.approx(1.5 * W)  # λ/m = 3/2
    for plain, regularised in zip(plain_b, l2_b, strict=True):
        assert np.array_equal(plain, regularised)


def test_l2_penalty_ignores_biases_but_not_weights():
    X, Y, weights, biases = hand_network()

    def penalty(weights, biases):
        H = nn.forward(X, weights, biases)[-1]
        return nn.cost(H, Y, weights, l2=1.0) - nn.cost(H, Y, weights, l2=0.0)

    assert penalty(weights, biases) == pytest.approx(7.0)
    moved_bias = [biases[0] + np.array([5.0, -5.0]), biases[1]]
    assert penalty(weights, moved_bias) == pytest.approx(7.0)
    moved_weight = [weights[0] + np.array([[1.0, 0.0], [0.0, 0.0]]), weights[1]]
    # W1[0, 0] goes from 1 to 2: ΣW² grows by 4 - 1 = 3, the penalty by 3/4
    assert penalty(moved_weight, biases) == pytest.approx(7.75)


def test_sigmoid_neither_overflows_nor_leaves_0_1_at_extreme_inputs():
    z = np.array([-1000.0, -745.0, -30.0, 0.0, 30.0, 745.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = nn.sigmoid(z)
        mirrored = nn.sigmoid(-z)
    assert np.all((s >= 0.0) & (s <= 1.0))
    assert s[0] == 0.0 and s[3] == 0.5 and s[-1] == 1.0
    assert mirrored == pytest.approx(1.0 - s, abs=1e-15)  # s(-z) = 1 - s(z)


def test_sigmoid_is_the_logistic_function():
    z = np.linspace(-20.0, 20.0, 41)
    assert nn.sigmoid(z) == pytest.approx(1.0 / (1.0 + np.exp(-z)), rel=1e-14)
    assert nn.sigmoid(np.array([LN3, -LN3])) == pytest.approx([0.75, 0.25], rel=1e-15)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_hidden_layers_use_the_activation_and_the_output_layer_a_sigmoid(activation):
    X = np.array([[1.0, -2.0]])
    weights = [np.array([[1.0, 0.5], [1.0, 0.5]]), np.array([[1.0], [-2.0]])]
    biases = [np.array([0.0, 0.0]), np.array([-0.5])]
    # Z1 = [1 - 2, 0.5 - 1] = [-1, -0.5]
    activations = nn.forward(X, weights, biases, activation)
    hidden = {"tanh": np.tanh([-1.0, -0.5]), "relu": np.array([0.0, 0.0])}[activation]
    assert activations[1] == pytest.approx(hidden[None, :])
    # Z2 = a1 @ [1, -2] - 0.5; a relu output would clip it to 0, a sigmoid keeps it in (0, 1)
    z2 = hidden[0] - 2 * hidden[1] - 0.5
    assert activations[2] == pytest.approx(np.array([[1 / (1 + np.exp(-z2))]]))


def test_cost_of_hand_picked_outputs():
    H = np.array([[0.5, 0.25], [0.75, 0.5]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    # row 1: -log(1/2) - log(3/4) = ln 8/3 = 0.9808293
    # row 2: -log(1/4) - log(1/2) = ln 8   = 2.0794415
    # mean over m = 2: 1.5301354
    assert nn.cost(H, Y, []) == pytest.approx(1.5301354, abs=1e-7)


def test_cost_is_finite_when_outputs_are_exactly_0_or_1():
    H = np.array([[1.0, 0.0]])
    Y = np.array([[0.0, 1.0]])  # confidently wrong on both classes
    # H is clipped to [eps, 1 - eps]: each class costs -log(eps) = -log(2^-52) = 52 ln 2 = 36.04
    value = nn.cost(H, Y, [])
    assert np.isfinite(value)
    assert value == pytest.approx(2 * 52 * np.log(2.0), rel=1e-12)
    assert nn.cost(Y.copy(), Y, []) == pytest.approx(0.0, abs=1e-12)  # confidently right


def test_cost_clips_at_the_eps_of_its_dtype():
    H = np.array([[0.0]], dtype=np.float32)
    Y = np.array([[1.0]], dtype=np.float32)
    # float32 eps = 2^-23: -log(2^-23) = 23 ln 2 = 15.94
    assert nn.cost(H, Y, []) == pytest.approx(23 * np.log(2.0), rel=1e-6)


def test_init_params_shapes_follow_layer_sizes_and_biases_start_at_zero():
    weights, biases = nn.init_params([400, 25, 10], np.random.default_rng(0))
    assert [W.shape for W in weights] == [(400, 25), (25, 10)]
    assert [b.shape for b in biases] == [(25,), (10,)]
    assert all(W.dtype == np.float64 for W in weights + biases)
    assert all(np.array_equal(b, np.zeros_like(b)) for b in biases)


def test_init_params_draws_weights_within_the_glorot_limit():
    weights, _ = nn.init_params([400, 25, 10], np.random.default_rng(0))
    # limit = sqrt(6 / (fan_in + fan_out)): sqrt(6/425) = 0.1188 for 400 → 25 (not the
    # tutorial's 6**1/2 = 3, which is 6¹/2), and sqrt(6/35) = 0.4140 for 25 → 10
    limits = [np.sqrt(6 / 425), np.sqrt(6 / 35)]
    assert limits == pytest.approx([0.1188, 0.4140], abs=1e-4)
    for W, limit in zip(weights, limits, strict=True):
        assert np.abs(W).max() <= limit
        assert W.max() > 0.95 * limit and W.min() < -0.95 * limit  # spread over the whole range


def test_init_params_honours_the_dtype():
    weights, biases = nn.init_params([3, 2], np.random.default_rng(0), dtype=np.float32)
    assert weights[0].dtype == np.float32 and biases[0].dtype == np.float32


def test_init_params_is_repeatable_for_a_seed_and_differs_across_seeds():
    a, _ = nn.init_params([4, 3, 2], np.random.default_rng(1))
    b, _ = nn.init_params([4, 3, 2], np.random.default_rng(1))
    c, _ = nn.init_params([4, 3, 2], np.random.default_rng(2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_predict_takes_the_argmax_even_when_every_output_is_below_one_half():
    weights, biases = [np.eye(3)], [np.array([-5.0, -5.0, -5.0])]
    X = np.array([[0.1, 0.3, 0.2], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # Z = X - 5: row 1 [-4.9, -4.7, -4.8]; row 2 [-4, -4, -5]; row 3 [-5, -5, -5]
    assert nn.predict_proba(X, weights, biases).max() < 0.5
    # row 2 ties classes 0 and 1, row 3 ties all three: a tie goes to the lowest class
    assert nn.predict(X, weights, biases).tolist() == [1, 0, 0]


def test_check_activation_returns_a_known_name():
    assert [nn.check_activation(name) for name in nn.ACTIVATIONS] == [
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "swish",
    ]


def test_check_activation_rejects_an_unknown_name_listing_the_valid_ones():
    with pytest.raises(ValueError) as raised:
        nn.check_activation("foo")
    assert (
        str(raised.value)
        == "unknown activation 'foo'; choose one of sigmoid, tanh, relu, leaky_relu, swish"
    )


def test_softmax_rows_are_probabilities_even_for_huge_scores():
    z = np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]])
    h = nn.softmax(z)
    assert h.sum(axis=1) == pytest.approx(np.ones(2))
    assert h[0] == pytest.approx(np.array([1 / (1 + np.exp(-1)), 1 / (1 + np.e), 0.0]))
    assert h[1] == pytest.approx(np.full(3, 1 / 3))


def test_softmax_cost_is_the_categorical_cross_entropy():
    H = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = -(np.log(0.7) + np.log(0.8)) / 2
    assert nn.cost(H, Y, [], output="softmax") == pytest.approx(expected)


def test_leaky_relu_keeps_a_small_slope_below_zero():
    z = np.array([-2.0, 0.5])
    assert nn.leaky_relu(z).tolist() == [-0.02, 0.5]
    assert nn.DERIVATIVES["leaky_relu"](nn.leaky_relu(z), None).tolist() == [0.01, 1.0]


@pytest.mark.parametrize(
    ("init", "expected_std"),
    [
        ("glorot_uniform", np.sqrt(6 / 500) / np.sqrt(3)),  # uniform ±a has std a/√3
        ("glorot_normal", np.sqrt(2 / 500)),
        ("he", np.sqrt(2 / 400)),
    ],
)
def test_each_init_scheme_draws_weights_at_its_own_scale(init, expected_std):
    weights, biases = nn.init_params([400, 100, 10], np.random.default_rng(0), init=init)
    assert weights[0].std() == pytest.approx(expected_std, rel=0.02)
    assert abs(weights[0].mean()) < 0.01 * expected_std * 10
    assert not biases[0].any()
