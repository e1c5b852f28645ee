"""`Flatten`: `[batch, d1, d2, ...]` to `[batch, d1 * d2 * ...]`, like `keras.layers.Flatten`."""

import math

import tensorflow as tf

from lowtf.layers.base import Layer


class Flatten(Layer):
    """Reshapes each example to a vector (between convolutions and `Dense` layers)."""

    expects = "[batch, ...]"

    def output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        rest = shape[1:].as_list()
        return tf.TensorShape([shape[0], None if None in rest else math.prod(rest)])

    def __call__(self, x):
        x = self._inputs(x)
        size = self.output_shape(x.shape)[1]
        # A static width when the example shape is known, so a following Dense can check it.
        return tf.reshape(x, [-1, size] if size is not None else [tf.shape(x)[0], -1])
