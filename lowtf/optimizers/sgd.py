"""SGD: gradient descent, optionally with (Nesterov) momentum."""

import tensorflow as tf

from lowtf.optimizers.base import Optimizer
from lowtf.optimizers.checks import _check_bool, _check_number, _config_error


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum, as `keras.optimizers.SGD`.

    Without momentum: `w -= lr * g`. With momentum:
    `m = momentum * m - lr * g`, then `w += m`, or with Nesterov
    `w += momentum * m - lr * g` (using the new `m`).

    Args:
        learning_rate: > 0.
        momentum: in [0, 1); 0 creates no slot.
        nesterov: Nesterov momentum; needs momentum > 0.
        name: module name (a Python identifier).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        super().__init__(learning_rate, name)
        self.momentum = _check_number("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = _check_bool("SGD", "nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise _config_error(
                "SGD: nesterov=True needs momentum in (0, 1), got momentum=0.0"
            )

    def _slot_specs(self):
        return {"momentum": 0.0} if self.momentum != 0 else {}

    def _update_step(self, gradient, variable, slots, lr):
        if self.momentum == 0:
            return variable - gradient * lr, {}
        momentum = tf.cast(self.momentum, variable.dtype)
        m = slots["momentum"] * momentum - gradient * lr
        if self.nesterov:
            return variable + (m * momentum - gradient * lr), {"momentum": m}
        return variable + m, {"momentum": m}

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }
