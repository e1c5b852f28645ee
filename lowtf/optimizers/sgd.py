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
        learning_rate: > 0, or a schedule (`lowtf.optimizers.schedules`).
        momentum: in [0, 1); 0 creates no slot.
        nesterov: Nesterov momentum; needs momentum > 0.
        name: module name (a Python identifier).
        clipnorm, clipvalue, global_clipnorm: gradient clipping (`Optimizer`).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, name, clipnorm, clipvalue, global_clipnorm)
        self.momentum = _check_number(type(self).__name__, "momentum", momentum, 0.0, 1.0)
        self.nesterov = _check_bool(type(self).__name__, "nesterov", nesterov)
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


class SGDW(SGD):
    """SGD with decoupled weight decay, as `keras.optimizers.SGD(weight_decay=...)`.

    Before each SGD step, every variable not excluded shrinks:
    `w -= w * weight_decay * lr` (lr: the rate of this update). Without momentum this
    equals L2 regularisation of strength `weight_decay / 2`; with momentum the decay
    stays out of the momentum (decoupled).

    Args:
        learning_rate: > 0, or a schedule (`lowtf.optimizers.schedules`).
        weight_decay: >= 0, per unit of learning rate; the default 5e-4 is the usual
            value for SGD on image classifiers (PyTorch's SGD `weight_decay`).
        momentum, nesterov: as `SGD`.
        exclude_from_weight_decay: variable-name substrings whose variables are not
            decayed, e.g. `("bias", "beta", "gamma")` (biases and normalisation
            parameters); the default decays every variable, as Keras.
        name: module name (a Python identifier).
        clipnorm, clipvalue, global_clipnorm: gradient clipping (`Optimizer`).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(self, learning_rate=0.01, weight_decay=5e-4, momentum=0.0, nesterov=False,
                 exclude_from_weight_decay=(), name=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, momentum, nesterov, name, clipnorm, clipvalue,
                         global_clipnorm)
        self._set_weight_decay(weight_decay, exclude_from_weight_decay)

    def get_config(self):
        return {**super().get_config(), **self._weight_decay_config()}
