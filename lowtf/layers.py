"""`neuron_layer`: the fully connected layer of the course notes, as a `tf.Module`."""

import zlib

import numpy as np
import tensorflow as tf

from lowtf.activations import get_activation
from lowtf.errors import ConfigError


class NeuronLayer(tf.Module):
    """`activation(x @ kernel + bias)` with variables created once, at construction.

    The kernel is drawn from a truncated normal with stddev `2 / sqrt(n_inputs)` and
    the bias starts at zero, exactly as in the TF1 `neuron_layer` of the notes. Unlike
    that function, the variables are created here, eagerly, never inside a traced step
    (creating variables on a later trace is an error in TF2).

    Args:
        n_inputs: size of the input's last dimension; must be known now.
        n_neurons: number of units.
        name: layer name; variables become `<scope>/<name>/kernel` and `.../bias`.
        activation: a name from `lowtf.activations.ACTIVATIONS`, a callable or None.
        seed: int for a reproducible kernel (combined with the layer name), or None.
    """

    def __init__(self, n_inputs, n_neurons, name, activation=None, seed=None):
        super().__init__(name=name)
        for arg, value in (("n_inputs", n_inputs), ("n_neurons", n_neurons)):
            if value is None:
                raise ConfigError(
                    f"layer {name!r}: the input size must be known when the layer is built; "
                    "give the input a known last dimension (e.g. tf.TensorSpec([None, 784])) "
                    "or pass n_inputs")
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"layer {name!r}: {arg} must be a positive int, got {value!r}")
        self.n_inputs, self.n_neurons = int(n_inputs), int(n_neurons)
        self.activation_name, self._activation = get_activation(activation)
        stddev = 2.0 / np.sqrt(self.n_inputs)
        shape = (self.n_inputs, self.n_neurons)
        if seed is None:
            init = tf.random.truncated_normal(shape, stddev=stddev)
        else:
            init = tf.random.stateless_truncated_normal(
                shape, seed=[int(seed), zlib.crc32(name.encode())], stddev=stddev)
        with self.name_scope:
            self.kernel = tf.Variable(init, name="kernel")
            self.bias = tf.Variable(tf.zeros([self.n_neurons]), name="bias")

    @property
    def n_params(self):
        return self.n_inputs * self.n_neurons + self.n_neurons

    def __call__(self, x):
        z = tf.matmul(x, self.kernel) + self.bias
        return z if self._activation is None else self._activation(z)


def neuron_layer(X, n_neurons, name, activation=None, seed=None):
    """Builds a `NeuronLayer` for inputs shaped like `X` (the notes' signature).

    In TF2 a function cannot own variables across calls, so this returns the layer
    (call it on `X`); the input size is read from `X`'s last dimension.

    Args:
        X: a tensor, array, `tf.TensorSpec` or shape whose last dimension is known.
    """
    shape = X if isinstance(X, (tuple, list, tf.TensorShape)) else getattr(X, "shape", None)
    if shape is None:
        raise ConfigError(f"layer {name!r}: cannot read an input size from {X!r}")
    dims = tf.TensorShape(shape)
    n_inputs = dims[-1] if dims.rank else None
    return NeuronLayer(n_inputs, n_neurons, name, activation=activation, seed=seed)
