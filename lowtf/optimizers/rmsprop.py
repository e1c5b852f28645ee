"""RMSprop: steps scaled by a decaying average of squared gradients."""

import math

import tensorflow as tf

from lowtf.optimizers.base import Optimizer
from lowtf.optimizers.checks import _check_bool, _check_number


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum, as `keras.optimizers.RMSprop`.

    `v = rho * v + (1 - rho) * g**2`; centered also tracks
    `a = rho * a + (1 - rho) * g` and uses `v - a**2`. The step is
    `lr * g / sqrt(v [- a**2] + epsilon)` (epsilon inside sqrt), applied
    directly or through momentum `m = momentum * m + step`, `w -= m`.

    Args:
        learning_rate: > 0, or a schedule (`lowtf.optimizers.schedules`).
        rho: in [0, 1), decay of the squared-gradient average.
        momentum: in [0, 1); 0 creates no momentum slot.
        epsilon: > 0.
        centered: normalise by the gradient variance instead of the raw second moment.
        name: module name (a Python identifier).
        clipnorm, clipvalue, global_clipnorm: gradient clipping (`Optimizer`).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        name=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
    ):
        super().__init__(learning_rate, name, clipnorm, clipvalue, global_clipnorm)
        self.rho = _check_number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check_number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_number(
            "RMSprop", "epsilon", epsilon, 0.0, math.inf, low_open=True
        )
        self.centered = _check_bool("RMSprop", "centered", centered)

    def _slot_specs(self):
        specs = {"velocity": 0.0}
        if self.momentum > 0:
            specs["momentum"] = 0.0
        if self.centered:
            specs["average_gradient"] = 0.0
        return specs

    def _update_step(self, gradient, variable, slots, lr):
        rho = self.rho
        # `1 - rho` is computed in float64 before rounding, as Keras does.
        velocity = rho * slots["velocity"] + (1 - rho) * tf.square(gradient)
        new = {"velocity": velocity}
        if self.centered:
            average = rho * slots["average_gradient"] + (1 - rho) * gradient
            new["average_gradient"] = average
            denominator = velocity - tf.square(average) + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = (lr * gradient) / tf.sqrt(denominator)
        if self.momentum > 0:
            new["momentum"] = increment = self.momentum * slots["momentum"] + increment
        return variable - increment, new

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
