"""Gradient clipping, as Keras's optimizers clip: by each gradient's norm (`clipnorm`), by
value (`clipvalue`) or all gradients by their global norm (`global_clipnorm`), at most one.
"""

import math

import tensorflow as tf

from lowtf.optimizers.checks import _check_number, _config_error

KINDS = ("clipnorm", "global_clipnorm", "clipvalue")


class GradientClipping:
    """The clipping an optimizer applies; `owner` names it in errors."""

    def __init__(self, owner, clipnorm=None, clipvalue=None, global_clipnorm=None):
        given = {"clipnorm": clipnorm, "global_clipnorm": global_clipnorm,
                 "clipvalue": clipvalue}
        self.settings = {kind: _check_number(owner, kind, value, 0.0, math.inf, low_open=True)
                         for kind, value in given.items() if value is not None}
        if len(self.settings) > 1:
            raise _config_error(
                f"{owner}: give at most one of clipnorm, global_clipnorm and clipvalue, "
                f"got {' and '.join(self.settings)} (Keras would silently use only the "
                "first); pick one")

    def global_scale(self, gradients, variables):
        """With `global_clipnorm`, the factor of every gradient (NaN when the norm is not
        finite, so the NaN guard refuses the update); else None. As Keras's
        `clip_by_global_norm`."""
        clip = self.settings.get("global_clipnorm")
        if clip is None:
            return None
        squares = [tf.cast(tf.reduce_sum(tf.square(tf.cast(tf.convert_to_tensor(g),
                                                           v.dtype))), tf.float32)
                   for g, v in zip(gradients, variables)]
        norm = tf.sqrt(tf.reduce_sum(tf.stack(squares)))
        return clip * tf.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)

    def clip(self, gradient, scale):
        """One gradient clipped (`scale`: what `global_scale` returned)."""
        if scale is not None:
            return gradient * tf.cast(scale, gradient.dtype)
        if "clipnorm" in self.settings:
            return tf.clip_by_norm(gradient, self.settings["clipnorm"])
        if "clipvalue" in self.settings:
            value = self.settings["clipvalue"]
            return tf.clip_by_value(gradient, -value, value)
        return gradient
