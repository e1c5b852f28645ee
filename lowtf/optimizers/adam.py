"""Adam: bias-corrected averages of the gradient and its square."""

import math

import tensorflow as tf

from lowtf.optimizers.base import Optimizer
from lowtf.optimizers.checks import _check_bool, _check_number


class Adam(Optimizer):
    """Adam, optionally AMSGrad, as `keras.optimizers.Adam`.

    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)`, then
    `w -= m * alpha / (sqrt(v) + epsilon)` with the bias correction folded into
    `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`, `t = iterations + 1`.
    AMSGrad uses `v_hat = max(v_hat, v)` in place of `v`.

    Args:
        learning_rate: > 0, or a schedule (`lowtf.optimizers.schedules`).
        beta_1: in [0, 1), decay of the gradient average.
        beta_2: in [0, 1), decay of the squared-gradient average.
        epsilon: > 0, added after the square root (and after bias correction).
        amsgrad: use the running maximum of `v`.
        name: module name (a Python identifier).
        clipnorm, clipvalue, global_clipnorm: gradient clipping (`Optimizer`).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        name=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
    ):
        super().__init__(learning_rate, name, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _check_number(type(self).__name__, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_number(type(self).__name__, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_number(
            type(self).__name__, "epsilon", epsilon, 0.0, math.inf, low_open=True
        )
        self.amsgrad = _check_bool(type(self).__name__, "amsgrad", amsgrad)

    def _slot_specs(self):
        specs = {"momentum": 0.0, "velocity": 0.0}
        if self.amsgrad:
            specs["velocity_hat"] = 0.0
        return specs

    def _update_step(self, gradient, variable, slots, lr):
        dtype = variable.dtype
        step = tf.cast(self._iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = slots["momentum"], slots["velocity"]
        m = m + (gradient - m) * (1 - self.beta_1)
        v = v + (tf.square(gradient) - v) * (1 - self.beta_2)
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new["velocity_hat"] = tf.maximum(slots["velocity_hat"], v)
        return variable - (m * alpha) / (tf.sqrt(v) + self.epsilon), new

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as `keras.optimizers.AdamW`.

    Before each Adam step, every variable not excluded shrinks:
    `w -= w * weight_decay * lr` (lr: the rate of this update, so a schedule scales
    the decay too). The decay is part of the new values the NaN guard checks.

    Args:
        learning_rate: > 0, or a schedule (`lowtf.optimizers.schedules`).
        weight_decay: >= 0, per unit of learning rate.
        beta_1, beta_2, epsilon, amsgrad: as `Adam`.
        exclude_from_weight_decay: variable-name substrings whose variables are not
            decayed. Biases and normalisation parameters usually are excluded, e.g.
            `("bias", "beta", "gamma")`; the default decays every variable, as Keras.
        name: module name (a Python identifier).
        clipnorm, clipvalue, global_clipnorm: gradient clipping (`Optimizer`).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        exclude_from_weight_decay=(),
        name=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name,
                         clipnorm, clipvalue, global_clipnorm)
        self._set_weight_decay(weight_decay, exclude_from_weight_decay)

    def get_config(self):
        return {**super().get_config(), **self._weight_decay_config()}
