"""`Layer`: what every lt.layers layer shares: a name, building once, input-shape checks.

A layer's variables are created once, eagerly, by `build(input_shape)`: at construction
when the layer is given its input size, by `Sequential(..., input_shape=...)`, or on the
first eager call. Creating them inside a traced `tf.function` would be an error in TF2
(and the trainer builds optimizer slots before the first step), so an unbuilt layer
called while tracing raises `ConfigError` saying how to build it earlier.

Shapes passed to `build` and `output_shape` are whole-batch shapes, batch first
(`(None, 28, 28, 1)`).
"""

import re

import numpy as np
import tensorflow as tf

from lowtf import precision
from lowtf.errors import ConfigError, DataError


def check_size(layer, arg, value, optional=False):
    """`value` as an int; raises ConfigError unless it is a positive int (or None if optional)."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"layer {layer!r}: {arg} must be a positive int, got {value!r}")
    return int(value)


def check_seed(layer, seed):
    """`seed` as an int, or None."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"layer {layer!r}: seed must be an int or None, got {seed!r}")
    return int(seed)


def check_pair(layer, arg, value):
    """`(a, b)` from an int or a pair of positive ints (kernel sizes, strides)."""
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2:
        raise ConfigError(f"layer {layer!r}: {arg} must be an int or a pair, got {value!r}")
    return tuple(check_size(layer, arg, v) for v in pair)


PADDINGS = ("valid", "same")


def check_padding(layer, padding):
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ConfigError(f"layer {layer!r}: unknown padding {padding!r}; use 'valid' or 'same'")
    return padding.lower()


def window_output(size, window, stride, padding):
    """One spatial output size of a conv or pool (TensorFlow's VALID/SAME rule)."""
    if size is None:
        return None
    if padding == "valid":
        return (size - window) // stride + 1
    return -(-size // stride)


def check_window(layer, shape, window, padding, error):
    """Raises `error` when a valid-padded window does not fit in the input's height or width."""
    if padding == "valid":
        for size, extent in zip(shape[1:3], window):
            if size is not None and size < extent:
                raise error(f"layer {layer!r}: an input of shape {shape.as_list()} is smaller "
                            f"than its {tuple(window)} window with valid padding; use "
                            "padding='same' or a smaller window")


def _kind(class_name):
    """`Conv2D` -> `conv2d`, `BatchNorm` -> `batch_norm`: an auto-named layer's name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", class_name).lower()


class Layer(tf.Module):
    """Base of the layers. Subclasses set the ranks they take (`min_rank`, `max_rank`),
    `size_arg` (the attribute naming the input's last dimension, if fixed once built),
    and implement `_create(input_shape)` (make the variables) and `output_shape`."""

    min_rank, max_rank = 2, None
    has_variables = False  # those without have nothing to build

    def __init__(self, name=None):
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise ConfigError(f"layer name {name!r} must be a Python identifier, "
                              "such as 'conv1'")
        super().__init__(name=name or _kind(type(self).__name__))
        self.auto_named = name is None  # Sequential may number it: dense_1, dense_2, ...
        self.built = not self.has_variables

    def rename(self, name):
        """Renames an auto-named layer (Sequential's numbering); the checkpoint key follows."""
        self._name, self.auto_named = name, False

    def build(self, input_shape):
        """Checks `input_shape` and creates the variables (once; later calls only check)."""
        shape = tf.TensorShape(input_shape)
        self.check_shape(shape, ConfigError)
        if not self.built:
            with tf.name_scope(self.name):
                self._create(shape)
            self.built = True

    def _create(self, input_shape):
        """Stateless layers have nothing to create."""

    def output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def check_shape(self, shape, error=DataError):
        """Raises `error` naming the layer, what it takes and what it got, for a bad shape."""
        shape = tf.TensorShape(shape)
        if shape.rank is None:
            return
        if shape.rank < self.min_rank or (self.max_rank and shape.rank > self.max_rank):
            raise error(f"layer {self.name!r} takes inputs of rank {self._rank_text()} "
                        f"({self.expects}), got shape {shape.as_list()}")
        self._check(shape, error)

    size_arg = None  # the attribute holding the input's last dimension, once known

    def _check(self, shape, error):
        expected = getattr(self, self.size_arg) if self.size_arg else None
        if expected is not None and shape[-1] is not None and shape[-1] != expected:
            raise error(f"layer {self.name!r} takes inputs whose last dimension is "
                        f"{self.size_arg}={expected} ({self.expects}), got shape "
                        f"{shape.as_list()}")

    def _rank_text(self):
        if self.max_rank == self.min_rank:
            return str(self.min_rank)
        return f"{self.min_rank}..{self.max_rank}" if self.max_rank else f">= {self.min_rank}"

    expects = "batch first"

    @property
    def n_params(self):
        return sum(int(np.prod(v.shape)) for v in self.trainable_variables)

    def _inputs(self, x):
        """`x` as a tensor in the compute dtype (`lowtf.precision`), its static shape checked;
        builds the layer on its first eager call."""
        x = precision.cast(tf.convert_to_tensor(x))
        self.check_shape(x.shape)
        if not self.built:
            if tf.inside_function():
                raise ConfigError(
                    f"layer {self.name!r} ({type(self).__name__}) was called inside a traced "
                    "function before it was built, so its variables would be created while "
                    "tracing; pass input_shape to Sequential (e.g. input_shape=(28, 28, 1)), "
                    "give the layer its input size, or call it once eagerly first")
            self.build(x.shape)
        return x
