"""Random image augmentation as layers, active only while training: `RandomFlip` and
`RandomShift` (Keras's `RandomFlip("horizontal")` and `RandomTranslation` with zero fill).

Images are `[batch, height, width]` or `[batch, height, width, channels]`. The draws come
from the layer's own `tf.random.Generator`, saved with the model, so a resumed run sees
the same augmented batches; as in `Dropout`, only the generator's integer bits are used,
which XLA and the plain graph turn into the same numbers. Evaluation, prediction and
export (`training` false) pass images through unchanged.
"""

import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.layers.base import Layer, check_seed


class _RandomImageLayer(Layer):
    min_rank, max_rank = 3, 4
    expects = "[batch, height, width] or [batch, height, width, channels]"

    def __init__(self, seed=None, name=None):
        super().__init__(name=name)
        self.seed = check_seed(self.name, seed)
        self.generator = (tf.random.Generator.from_non_deterministic_state() if seed is None
                          else tf.random.Generator.from_seed(self.seed))

    def __call__(self, x, training=False):
        x = self._inputs(x)
        if tf.is_tensor(training):
            return tf.cond(training, lambda: self._augment(x), lambda: x)
        return self._augment(x) if training else x

    def _draw(self, n, high):
        """`n` ints, each uniform in [0, high), from the generator's bits."""
        bits = self.generator.uniform_full_int([n], tf.uint32)
        return tf.cast(bits % tf.constant(high, tf.uint32), tf.int32)


class RandomFlip(_RandomImageLayer):
    """Mirrors each image left-right with probability 1/2 (clothes look the same either way;
    digits do not: use it only where a mirrored example is still of its class)."""

    def _augment(self, x):
        flip = self._draw(tf.shape(x)[0], 2) > 0
        flip = tf.reshape(flip, [-1] + [1] * (len(x.shape) - 1))
        return tf.where(flip, tf.reverse(x, axis=[2]), x)


class RandomShift(_RandomImageLayer):
    """Moves each image by a whole number of pixels, up to `pixels` in each direction
    (drawn per image and per axis), filling the uncovered border with zeros.

    Args:
        pixels: the largest shift, an int >= 1.
        seed: int for reproducible shifts, or None.
    """

    def __init__(self, pixels=2, seed=None, name=None):
        super().__init__(seed=seed, name=name)
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
            raise ConfigError(f"layer {self.name!r}: pixels must be an int >= 1, "
                              f"got {pixels!r}")
        self.pixels = pixels

    def _augment(self, x):
        p, n = self.pixels, tf.shape(x)[0]
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        padding = [[0, 0], [p, p], [p, p]] + [[0, 0]] * (len(x.shape) - 3)
        padded = tf.pad(x, padding)
        # Each image's window into the padded one starts at an offset in [0, 2p].
        top, left = self._draw(n, 2 * p + 1), self._draw(n, 2 * p + 1)
        rows = top[:, None] + tf.range(height)[None, :]
        cols = left[:, None] + tf.range(width)[None, :]
        moved = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(moved, cols, axis=2, batch_dims=1)
