"""`Dropout`: zeroes a random fraction `rate` of the units while training, like Keras."""

import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.layers.base import Layer, check_seed


class Dropout(Layer):
    """Keeps each unit with probability `1 - rate` and scales the kept ones by
    `1 / (1 - rate)`, so the expected output equals the input; with `training` false the
    input passes unchanged.

    The masks come from the layer's own `tf.random.Generator` (a variable holding its
    state), created with the layer, hence in the strategy scope the model is built in. A
    `tf.train.Checkpoint` of the model saves that state, so a resumed run draws the masks
    an uninterrupted one would have drawn.

    Args:
        rate: the fraction dropped, in [0, 1).
        seed: int for reproducible masks, or None (a non-deterministic start).
        name: the layer's name.
    """

    min_rank = 1
    expects = "[batch, ...]"

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name=name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ConfigError(f"layer {self.name!r}: rate must be a number in [0, 1), "
                              f"got {rate!r}")
        self.rate, self.seed = float(rate), check_seed(self.name, seed)
        self.generator = (tf.random.Generator.from_non_deterministic_state() if seed is None
                          else tf.random.Generator.from_seed(self.seed))

    def __call__(self, x, training=False):
        x = self._inputs(x)
        if self.rate == 0:
            return x
        if tf.is_tensor(training):
            return tf.cond(training, lambda: self._drop(x), lambda: x)
        return self._drop(x) if training else x

    def _drop(self, x):
        # Random bits against a threshold rather than uniform(): XLA turns the generator's
        # bits into floats differently, so only the bits give the same masks with or without.
        bits = self.generator.uniform_full_int(tf.shape(x), tf.uint32)
        keep = bits >= tf.constant(min(round(self.rate * 2 ** 32), 2 ** 32 - 1), tf.uint32)
        return tf.where(keep, x / tf.cast(1 - self.rate, x.dtype), tf.zeros_like(x))
