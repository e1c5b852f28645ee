"""`Conv2D`: a 2-D convolution over NHWC images (`tf.nn.conv2d`), like `keras.layers.Conv2D`."""

import tensorflow as tf

from lowtf import precision
from lowtf.activations import get_activation
from lowtf.errors import ConfigError
from lowtf.initializers import fans, get_initializer
from lowtf.layers.base import (Layer, check_padding, check_pair, check_seed, check_size,
                               check_window, window_output)
from lowtf.layers.dense import seed_pair


class Conv2D(Layer):
    """`activation(conv2d(x, kernel) + bias)` on `[batch, height, width, channels]` inputs.

    Args:
        filters: output channels.
        kernel_size: an int or `(height, width)`.
        strides: an int or `(down, across)`.
        padding: `valid` (no padding: the output shrinks) or `same` (zero padding: the
            output is `ceil(input / stride)`).
        activation: a name from `lowtf.activations`, a callable or None.
        kernel_initializer: a name from `lowtf.initializers` (Keras's default, `glorot`;
            `he` suits ReLU) or a callable; `fan_in` is `kh * kw * in_channels`.
        use_bias: add a per-filter bias (starts at zero).
        in_channels: the input's channel count; given, the layer builds now.
        name, seed: as for `Dense`.
    """

    min_rank = max_rank = 4
    has_variables = True
    size_arg = "in_channels"
    expects = "[batch, height, width, in_channels]"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 kernel_initializer="glorot", use_bias=True, in_channels=None, name=None,
                 seed=None):
        super().__init__(name=name)
        self.filters = check_size(self.name, "filters", filters)
        self.kernel_size = check_pair(self.name, "kernel_size", kernel_size)
        self.strides = check_pair(self.name, "strides", strides)
        self.padding = check_padding(self.name, padding)
        self.in_channels = check_size(self.name, "in_channels", in_channels, optional=True)
        self.activation_name, self._activation = get_activation(activation)
        self.initializer_name, self._initializer = get_initializer(kernel_initializer)
        self.use_bias, self.seed = bool(use_bias), check_seed(self.name, seed)
        if self.in_channels is not None:
            self.build((None, None, None, self.in_channels))

    def _create(self, input_shape):
        if input_shape[-1] is None:
            raise ConfigError(f"layer {self.name!r}: the input's channel count must be known "
                              "when the layer is built; pass in_channels or give Sequential "
                              "an input_shape")
        self.in_channels = int(input_shape[-1])
        shape = (*self.kernel_size, self.in_channels, self.filters)
        init = self._initializer(shape, *fans(shape), seed_pair(self.seed, self.name))
        self.kernel = tf.Variable(init, name="kernel")
        if self.use_bias:
            self.bias = tf.Variable(tf.zeros([self.filters]), name="bias")

    def output_shape(self, input_shape):
        batch, height, width, _ = tf.TensorShape(input_shape).as_list()
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return tf.TensorShape([batch, window_output(height, kh, sh, self.padding),
                               window_output(width, kw, sw, self.padding), self.filters])

    def _check(self, shape, error):
        super()._check(shape, error)
        check_window(self.name, shape, self.kernel_size, self.padding, error)

    def __call__(self, x):
        x = self._inputs(x)
        z = tf.nn.conv2d(x, precision.cast(self.kernel), self.strides, self.padding.upper())
        if self.use_bias:
            z = z + precision.cast(self.bias)
        return z if self._activation is None else self._activation(z)
