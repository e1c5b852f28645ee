"""`MaxPool2D` and `AvgPool2D`: the maximum or mean of each window of NHWC images."""

import tensorflow as tf

from lowtf.layers.base import Layer, check_padding, check_pair, check_window, window_output


class _Pool2D(Layer):
    """A pooling window sliding over height and width, channel by channel.

    Args:
        pool_size: an int or `(height, width)`.
        strides: an int or pair; None is `pool_size` (windows side by side, as Keras).
        padding: `valid` or `same` (padded positions are left out of the max or mean).
        name: the layer's name.
    """

    min_rank = max_rank = 4
    expects = "[batch, height, width, channels]"
    _pool = None

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        self.pool_size = check_pair(self.name, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else check_pair(
            self.name, "strides", strides)
        self.padding = check_padding(self.name, padding)

    def output_shape(self, input_shape):
        batch, height, width, channels = tf.TensorShape(input_shape).as_list()
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return tf.TensorShape([batch, window_output(height, ph, sh, self.padding),
                               window_output(width, pw, sw, self.padding), channels])

    def _check(self, shape, error):
        check_window(self.name, shape, self.pool_size, self.padding, error)

    def __call__(self, x):
        x = self._inputs(x)
        return type(self)._pool(x, self.pool_size, self.strides, self.padding.upper())


class MaxPool2D(_Pool2D):
    __doc__ = "The maximum of each window, like `keras.layers.MaxPooling2D`." + \
        _Pool2D.__doc__.split("\n", 1)[1]
    _pool = tf.nn.max_pool2d


class AvgPool2D(_Pool2D):
    __doc__ = "The mean of each window, like `keras.layers.AveragePooling2D`." + \
        _Pool2D.__doc__.split("\n", 1)[1]
    _pool = tf.nn.avg_pool2d
