"""Activation functions by name, as covered by the course notes."""

import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.names import ACTIVATION_NAMES


def _leaky_relu(x):
    return tf.nn.leaky_relu(x, alpha=0.01)


ACTIVATIONS = {
    "linear": None,
    "sigmoid": tf.nn.sigmoid,
    "tanh": tf.nn.tanh,
    "relu": tf.nn.relu,
    "leaky_relu": _leaky_relu,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "softplus": tf.nn.softplus,
    "gelu": tf.nn.gelu,
    "softmax": tf.nn.softmax,
}
assert tuple(ACTIVATIONS) == ACTIVATION_NAMES


def get_activation(activation):
    """Returns `(name, fn)` for an activation name, `None` or a callable.

    `fn` is `None` for the identity, so layers skip a no-op call. Names are what
    checkpoints and experiment configs store; a callable gets its `__name__`.

    Raises:
        ConfigError: for an unknown name.
    """
    if activation is None:
        return "linear", None
    if isinstance(activation, str):
        key = activation.lower().replace("-", "_")
        if key not in ACTIVATIONS:
            raise ConfigError(
                f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)} "
                "or pass a callable")
        return key, ACTIVATIONS[key]
    if callable(activation):
        return getattr(activation, "__name__", "custom"), activation
    raise ConfigError(f"activation must be a name or a callable, got {activation!r}")
