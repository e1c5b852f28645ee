"""Adagrad: per-coordinate steps scaled by the accumulated squared gradients."""

import math

import tensorflow as tf

from lowtf.optimizers.base import Optimizer
from lowtf.optimizers.checks import _check_number


class Adagrad(Optimizer):
    """Adagrad, as `keras.optimizers.Adagrad`.

    `acc += g**2`, then `w -= lr * g / sqrt(acc + epsilon)` (epsilon inside sqrt).

    Args:
        learning_rate: > 0, or a schedule (`lowtf.optimizers.schedules`).
        initial_accumulator_value: >= 0, starting value of the accumulator.
        epsilon: > 0, keeps the denominator away from zero.
        name: module name (a Python identifier).
        clipnorm, clipvalue, global_clipnorm: gradient clipping (`Optimizer`).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        name=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
    ):
        super().__init__(learning_rate, name, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = _check_number(
            "Adagrad",
            "initial_accumulator_value",
            initial_accumulator_value,
            0.0,
            math.inf,
        )
        self.epsilon = _check_number(
            "Adagrad", "epsilon", epsilon, 0.0, math.inf, low_open=True
        )

    def _slot_specs(self):
        return {"accumulator": self.initial_accumulator_value}

    def _update_step(self, gradient, variable, slots, lr):
        accumulator = slots["accumulator"] + tf.square(gradient)
        value = variable - (lr * gradient) / tf.sqrt(accumulator + self.epsilon)
        return value, {"accumulator": accumulator}

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
