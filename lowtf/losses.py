"""Per-example losses: sparse softmax cross-entropy, MSE, binary cross-entropy.

Losses return one value per example; the trainer averages them over the *global*
batch, so the same code is right on one device and under a distribution strategy.
"""

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError

_EPSILON = 1e-7


def sparse_softmax_cross_entropy(labels, logits):
    """Cross-entropy of integer class `labels` against unnormalised `logits`."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def mean_squared_error(targets, outputs):
    """Squared error averaged over the last axis (one value per example)."""
    targets = tf.reshape(tf.cast(targets, outputs.dtype), tf.shape(outputs))
    return tf.reduce_mean(tf.square(outputs - targets), axis=-1)


def binary_cross_entropy(targets, probabilities):
    """Cross-entropy of 0/1 `targets` against sigmoid outputs in (0, 1), clipped like Keras."""
    targets = tf.reshape(tf.cast(targets, probabilities.dtype), tf.shape(probabilities))
    p = tf.clip_by_value(probabilities, _EPSILON, 1.0 - _EPSILON)
    return tf.reduce_mean(-(targets * tf.math.log(p) + (1 - targets) * tf.math.log(1 - p)),
                          axis=-1)


LOSSES = {
    "sparse_softmax_cross_entropy": sparse_softmax_cross_entropy,
    "mse": mean_squared_error,
    "binary_cross_entropy": binary_cross_entropy,
}
_ALIASES = {"crossentropy": "sparse_softmax_cross_entropy",
            "mean_squared_error": "mse", "binary_crossentropy": "binary_cross_entropy"}
# Losses whose labels are class ids (int32) rather than float targets.
CLASS_LABEL_LOSSES = frozenset({"sparse_softmax_cross_entropy"})


def get_loss(loss):
    """Returns `(name, fn)` for a loss name or a callable `fn(labels, outputs) -> [batch]`."""
    if isinstance(loss, str):
        key = _ALIASES.get(loss, loss)
        if key not in LOSSES:
            raise ConfigError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)}")
        return key, LOSSES[key]
    if callable(loss):
        return getattr(loss, "__name__", "custom"), loss
    raise ConfigError(f"loss must be a name or a callable, got {loss!r}")


def class_label_mode(loss):
    """What labels `loss` (a name, a callable or None) takes: True class ids (the built-in
    class losses), False float targets (the other built-ins), None either (a custom loss,
    or none known: integer labels are class ids, anything else float targets)."""
    if not isinstance(loss, str):
        return None
    return get_loss(loss)[0] in CLASS_LABEL_LOSSES


def takes_class_ids(mode, labels):
    """Whether `labels` are class ids under `class_label_mode` `mode`."""
    return bool(mode) or (mode is None and np.issubdtype(np.asarray(labels).dtype, np.integer))
