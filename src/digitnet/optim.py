"""Update rules and learning-rate schedules: how a gradient becomes a step.

Each optimiser updates a list of parameter arrays in place from their gradients, keeping whatever
state it needs (velocities, moment estimates) per array. Schedules give the learning rate of every
epoch up front, so a run's rates are known, logged and repeatable.
"""

import math

import numpy as np


class SGD:
    """Plain gradient descent: p -= lr * g."""

    def step(self, params, grads, lr):
        for p, g in zip(params, grads, strict=True):
            p -= lr * g


class Momentum:
    """Heavy-ball momentum, or Nesterov's look-ahead form.

    v = mu·v - lr·g, then p += v (classical) or p += mu·v - lr·g (Nesterov, written with the
    gradient at the current point as in Sutskever et al. 2013 and scikit-learn).
    """

    def __init__(self, momentum=0.9, nesterov=False):
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = None

    def step(self, params, grads, lr):
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocities, strict=True):
            v *= self.momentum
            v -= lr * g
            if self.nesterov:
                p += self.momentum * v - lr * g
            else:
                p += v


class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moment estimates."""

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.moments = None
        self.t = 0

    def step(self, params, grads, lr):
        if self.moments is None:
            self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        self.t += 1
        # The bias corrections folded into the step size, as in the paper's final algorithm.
        step_size = lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for p, g, (m, v) in zip(params, grads, self.moments, strict=True):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            p -= step_size * m / (np.sqrt(v) + self.eps)


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def make_optimizer(name, *, momentum=0.9, beta1=0.9, beta2=0.999):
    """The optimiser called `name`, one of OPTIMIZERS, with fresh state."""
    if name == "sgd":
        return SGD()
    if name in ("momentum", "nesterov"):
        return Momentum(momentum, nesterov=name == "nesterov")
    if name == "adam":
        return Adam(beta1, beta2)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


SCHEDULES = ("constant", "step", "cosine")


def learning_rates(schedule, lr, epochs, *, step_every=30, gamma=0.5, lr_min=0.0):
    """The learning rate of each epoch, shape (epochs,).

    constant: lr throughout. step: lr·gamma^(epoch // step_every). cosine: from lr down to lr_min
    along half a cosine, reaching lr_min after the last epoch.
    """
    epoch = np.arange(epochs)
    if schedule == "constant":
        return np.full(epochs, float(lr))
    if schedule == "step":
        return lr * gamma ** (epoch // step_every)
    if schedule == "cosine":
        return lr_min + 0.5 * (lr - lr_min) * (1 + np.cos(np.pi * epoch / epochs))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
