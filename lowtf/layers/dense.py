"""`Dense`, and the course's `NeuronLayer` / `neuron_layer`: `activation(x @ kernel + bias)`."""

import zlib

import tensorflow as tf

from lowtf import precision
from lowtf.activations import get_activation
from lowtf.errors import ConfigError
from lowtf.initializers import fans, get_initializer
from lowtf.layers.base import Layer, check_seed, check_size


def seed_pair(seed, name):
    """The stateless seed of a layer's kernel: the user's seed and the layer's name, so
    layers of one model differ while staying reproducible."""
    return None if seed is None else [seed, zlib.crc32(name.encode())]


def unknown_size(name):
    return ConfigError(
        f"layer {name!r}: the input size must be known when the layer is built; give the "
        "input a known last dimension (e.g. tf.TensorSpec([None, 784])) or pass n_inputs")


class Dense(Layer):
    """A fully connected layer, like `keras.layers.Dense`.

    Args:
        units: number of outputs.
        activation: a name from `lowtf.activations`, a callable or None.
        kernel_initializer: a name from `lowtf.initializers` or a callable; the default
            `course` is the notes' truncated normal with stddev `2 / sqrt(n_inputs)`.
        use_bias: add a bias (starts at zero).
        n_inputs: the input's last dimension; given, the layer builds now.
        name: the layer's name (its checkpoint key and variable scope).
        seed: int for reproducible weights (combined with the name), or None.
    """

    has_variables = True
    size_arg = "n_inputs"
    expects = "[batch, ..., n_inputs]"

    def __init__(self, units, activation=None, kernel_initializer="course", use_bias=True,
                 n_inputs=None, name=None, seed=None):
        super().__init__(name=name)
        self.units = check_size(self.name, "units", units)
        self.n_inputs = check_size(self.name, "n_inputs", n_inputs, optional=True)
        self.activation_name, self._activation = get_activation(activation)
        self.initializer_name, self._initializer = get_initializer(kernel_initializer)
        self.use_bias, self.seed = bool(use_bias), check_seed(self.name, seed)
        if self.n_inputs is not None:
            self.build((None, self.n_inputs))

    def _create(self, input_shape):
        if input_shape[-1] is None:
            raise unknown_size(self.name)
        self.n_inputs = int(input_shape[-1])
        shape = (self.n_inputs, self.units)
        init = self._initializer(shape, *fans(shape), seed_pair(self.seed, self.name))
        self.kernel = tf.Variable(init, name="kernel")
        if self.use_bias:
            self.bias = tf.Variable(tf.zeros([self.units]), name="bias")

    def output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def __call__(self, x):
        x = self._inputs(x)
        z = tf.matmul(x, precision.cast(self.kernel))
        if self.use_bias:
            z = z + precision.cast(self.bias)
        return z if self._activation is None else self._activation(z)


class NeuronLayer(Dense):
    """The notes' layer: a `Dense` with the `course` initialiser, built at construction.

    Its variables (`<scope>/<name>/kernel`, `.../bias`) and, for a seed, its initial
    weights are those of lowtf's earlier `NeuronLayer`, so old checkpoints restore.

    Args:
        n_inputs: size of the input's last dimension; must be known now.
        n_neurons: number of units.
        name: layer name.
        activation: a name from `lowtf.activations.ACTIVATIONS`, a callable or None.
        seed: int for a reproducible kernel (combined with the layer name), or None.
    """

    def __init__(self, n_inputs, n_neurons, name, activation=None, seed=None):
        if n_inputs is None:
            raise unknown_size(name)
        super().__init__(n_neurons, activation=activation, n_inputs=n_inputs, name=name,
                         seed=seed)

    @property
    def n_neurons(self):
        return self.units


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
