"""Optimisers find the known minimum of a quadratic; schedules give the rates they promise."""

import numpy as np
import pytest

from digitnet.optim import OPTIMIZERS, SGD, Adam, Momentum, learning_rates, make_optimizer

# f(p) = ½ (p - c)ᵀ A (p - c): an ill-conditioned bowl (curvatures 1 and 10) with its minimum at c.
A = np.diag([1.0, 10.0])
C = np.array([3.0, -2.0])
LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.1}


def descend(optimizer, lr, steps):
    """Minimise the bowl from the origin; the path of p, shape (steps + 1, 2)."""
    p = np.zeros(2)
    path = [p.copy()]
    for _ in range(steps):
        optimizer.step([p], [A @ (p - C)], lr)
        path.append(p.copy())
    return np.array(path)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimiser_reaches_the_minimum_of_a_quadratic(name):
    path = descend(make_optimizer(name), LR[name], 500)
    assert path[-1] == pytest.approx(C, abs=1e-3)
    assert np.linalg.norm(path[0] - C) > 3  # it did have somewhere to go


def test_sgd_steps_by_exactly_lr_times_the_gradient():
    path = descend(SGD(), 0.05, 1)
    assert path[1].tolist() == pytest.approx((0.05 * A @ C).tolist())  # -lr·A(0 - c)


def test_momentum_carries_velocity_into_the_next_step():
    # step 1: v = -lr·g0, p1 = v; step 2: v = mu·v - lr·g1, p2 = p1 + v
    lr, mu = 0.02, 0.9
    g0 = A @ (np.zeros(2) - C)
    p1 = -lr * g0
    g1 = A @ (p1 - C)
    p2 = p1 + (mu * -lr * g0 - lr * g1)
    path = descend(Momentum(mu), lr, 2)
    assert path[2] == pytest.approx(p2, rel=1e-12)


def test_nesterov_looks_ahead_along_the_velocity():
    # p += mu·v - lr·g with the freshly updated v: step 1 moves (1 + mu) times as far as SGD
    lr, mu = 0.02, 0.9
    path = descend(Momentum(mu, nesterov=True), lr, 1)
    assert path[1] == pytest.approx(-(1 + mu) * lr * (A @ -C), rel=1e-12)


def test_momentum_beats_plain_descent_on_the_long_axis_of_the_bowl():
    sgd = descend(SGD(), 0.02, 100)[-1]
    heavy = descend(Momentum(0.9), 0.02, 100)[-1]
    assert np.linalg.norm(heavy - C) < np.linalg.norm(sgd - C) / 10


def test_adams_first_step_is_lr_in_every_coordinate_whatever_the_gradient_scale():
    # bias-corrected m/√v is g/|g| on the first step, so each coordinate moves by lr (± eps)
    path = descend(Adam(), 0.1, 1)
    assert path[1] == pytest.approx([0.1, -0.1], rel=1e-6)


def test_optimisers_update_the_arrays_in_place_and_keep_their_dtype():
    p = np.zeros(3, dtype=np.float32)
    for name in OPTIMIZERS:
        optimizer = make_optimizer(name)
        optimizer.step([p], [np.ones(3, dtype=np.float32)], 0.1)
        assert p.dtype == np.float32
    assert np.all(p < 0)


def test_an_unknown_optimiser_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose one of sgd, momentum, nesterov, adam"):
        make_optimizer("rmsprop")


def test_the_constant_schedule_is_flat():
    assert learning_rates("constant", 0.3, 4).tolist() == [0.3] * 4


def test_the_step_schedule_multiplies_by_gamma_every_step_every_epochs():
    rates = learning_rates("step", 0.8, 7, step_every=3, gamma=0.5)
    assert rates.tolist() == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]


def test_the_cosine_schedule_starts_at_lr_and_falls_to_lr_min():
    rates = learning_rates("cosine", 1.0, 4, lr_min=0.2)
    # 0.2 + 0.4·(1 + cos(πe/4)) for e = 0..3
    assert rates == pytest.approx(
        [1.0, 0.2 + 0.4 * (1 + np.sqrt(0.5)), 0.6, 0.2 + 0.4 * (1 - np.sqrt(0.5))]
    )
    assert np.all(np.diff(rates) < 0)


def test_an_unknown_schedule_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose one of constant, step, cosine"):
        learning_rates("exponential", 0.1, 3)
