"""`BatchNorm`: batch normalisation (Ioffe & Szegedy, 2015), like
`keras.layers.BatchNormalization`."""

import tensorflow as tf

from lowtf import precision
from lowtf.errors import ConfigError
from lowtf.layers.base import Layer, check_size

# Moving statistics are each replica's own, averaged when read (as Keras makes them), so
# the layer works under tf.distribute without a cross-replica update on every step.
_LOCAL_MEAN = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                   aggregation=tf.VariableAggregation.MEAN)


class BatchNorm(Layer):
    """Normalises each feature (the last axis) over all other axes, then scales by `gamma`
    and shifts by `beta`.

    Training uses the batch's mean and (biased) variance and moves the moving statistics
    towards them, `moving = moving * momentum + batch * (1 - momentum)`, but only when
    the batch moments are finite: a NaN or Inf batch leaves them as they were. Inference
    uses the moving statistics. Moments are computed in float32 under a mixed-precision
    policy; the output is in the compute dtype.

    Args:
        momentum: how much of the moving statistics each update keeps, in [0, 1].
        epsilon: added to the variance before its square root (> 0).
        center: learn `beta` (else no shift).
        scale: learn `gamma` (else no scaling).
        n_features: the input's last dimension; given, the layer builds now.
        name: the layer's name.
    """

    has_variables = True
    size_arg = "n_features"
    expects = "[batch, ..., n_features]"

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True, n_features=None,
                 name=None):
        super().__init__(name=name)
        if not 0 <= momentum <= 1 or not epsilon > 0:
            raise ConfigError(f"layer {self.name!r}: momentum must be in [0, 1] and epsilon "
                              f"> 0, got momentum={momentum!r}, epsilon={epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.n_features = check_size(self.name, "n_features", n_features, optional=True)
        if self.n_features is not None:
            self.build((None, self.n_features))

    def _create(self, input_shape):
        if input_shape[-1] is None:
            raise ConfigError(f"layer {self.name!r}: the feature count (last dimension) must "
                              "be known when the layer is built; pass n_features or give "
                              "Sequential an input_shape")
        self.n_features = n = int(input_shape[-1])
        self.gamma = tf.Variable(tf.ones([n]), name="gamma") if self.scale else None
        self.beta = tf.Variable(tf.zeros([n]), name="beta") if self.center else None
        self.moving_mean = tf.Variable(tf.zeros([n]), name="moving_mean", **_LOCAL_MEAN)
        self.moving_variance = tf.Variable(tf.ones([n]), name="moving_variance", **_LOCAL_MEAN)

    def __call__(self, x, training=False):
        x = tf.cast(self._inputs(x), tf.float32)
        if tf.is_tensor(training):
            mean, variance = tf.cond(training, lambda: self._batch_moments(x),
                                     lambda: self._moving_moments())
        elif training:
            mean, variance = self._batch_moments(x)
        else:
            mean, variance = self._moving_moments()
        y = tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, self.epsilon)
        return precision.cast(y)

    def _moving_moments(self):
        return tf.identity(self.moving_mean), tf.identity(self.moving_variance)

    def _batch_moments(self, x):
        """The batch's mean and biased variance; moves the moving statistics if finite."""
        mean, variance = tf.nn.moments(x, axes=list(range(x.shape.rank - 1)))
        finite = tf.logical_and(tf.reduce_all(tf.math.is_finite(mean)),
                                tf.reduce_all(tf.math.is_finite(variance)))
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moved = moving * self.momentum + batch * (1 - self.momentum)
            moving.assign(tf.where(finite, moved, moving))
        return mean, variance
