"""`Reshape`: each example to a new shape, like `keras.layers.Reshape`."""

import math

import tensorflow as tf

from lowtf.errors import ConfigError, DataError
from lowtf.layers.base import Layer


class Reshape(Layer):
    """Reshapes each example to `target_shape` (one entry may be -1), e.g. images
    `[batch, 28, 28]` to `[batch, 28, 28, 1]` before a `Conv2D`."""

    expects = "[batch, ...] with as many values per example as the target shape"

    def __init__(self, target_shape, name=None):
        super().__init__(name=name)
        target = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else None
        if not target or any(isinstance(d, bool) or not isinstance(d, int) or (d < 1 and d != -1)
                             for d in target) or target.count(-1) > 1:
            raise ConfigError(f"layer {self.name!r}: target_shape must be positive ints with at "
                              f"most one -1, such as (28, 28, 1), got {target_shape!r}")
        self.target_shape = target

    def _resolved(self, shape, error):
        known = shape[1:].as_list()
        if None in known:
            return self.target_shape
        size, fixed = math.prod(known), math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % fixed) or \
                (-1 not in self.target_shape and size != fixed):
            raise error(f"layer {self.name!r} cannot reshape examples of shape {known} "
                        f"({size} values) to {list(self.target_shape)}")
        return tuple(size // fixed if d == -1 else d for d in self.target_shape)

    def _check(self, shape, error):
        self._resolved(shape, error)

    def output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        target = self._resolved(shape, ConfigError)
        return tf.TensorShape([shape[0], *(None if d == -1 else d for d in target)])

    def __call__(self, x):
        x = self._inputs(x)
        return tf.reshape(x, [-1, *self._resolved(x.shape, DataError)])
