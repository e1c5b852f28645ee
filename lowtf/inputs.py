"""Checks and conversions for the arrays a user hands to lowtf.

Bad input is caught here, before any step runs, with a message naming the problem
and the fix: wrong shapes or dtypes, NaN/Inf features, labels out of range.
"""

import numpy as np
import tensorflow as tf

from lowtf.errors import DataError

FEATURE_DTYPES = (np.uint8, np.float32)


def check_features(x, n_inputs, what="features"):
    """Validates a feature array and returns it as `[n, n_inputs]` (a view, no copy).

    uint8 arrays are kept as they are (the model scales them by 1/255); float32 must
    be finite. Other dtypes are refused rather than cast silently.
    """
    if isinstance(x, tf.Tensor):
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise DataError(f"{what} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in FEATURE_DTYPES:
        raise DataError(
            f"{what} have dtype {x.dtype}; lowtf takes uint8 images (0-255) or float32 "
            f"(convert with x.astype(np.float32)); it never casts implicitly")
    if x.ndim < 1 or len(x) == 0:
        raise DataError(f"{what} are empty (shape {x.shape}); pass at least one example")
    per_example = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    if per_example != n_inputs:
        raise DataError(
            f"{what} have shape {x.shape} ({per_example} values per example) but the model "
            f"takes {n_inputs}; reshape to [n, {n_inputs}] or build the model with "
            f"n_inputs={per_example}")
    if x.dtype == np.float32 and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0]
        raise DataError(f"{what} contain NaN or Inf (first at example {bad}); clean or drop "
                        "those examples before training")
    return x.reshape(len(x), n_inputs)


def check_labels(y, n_examples, n_classes=None, what="labels"):
    """Validates labels: one per example; class ids in [0, n_classes) when given.

    Returns int32 class ids when `n_classes` is set, else float32 targets.
    """
    if isinstance(y, tf.Tensor):
        y = y.numpy()
    y = np.asarray(y)
    if y.ndim == 0:
        raise DataError(f"{what} must be an array with one label per example, got a single "
                        f"value ({y!r:.60})")
    if len(y) != n_examples:
        raise DataError(f"{what} have {len(y)} entries but there are {n_examples} examples; "
                        "pass one label per example")
    if n_classes is None:
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_) \
                or np.issubdtype(y.dtype, np.complexfloating):
            raise DataError(f"{what} must be numeric, got dtype {y.dtype}")
        y = y.astype(np.float32, copy=False)
        if not np.isfinite(y).all():
            raise DataError(f"{what} contain NaN or Inf; clean them before training")
        return y
    if y.ndim != 1:
        raise DataError(f"{what} have shape {y.shape}; class labels must be 1-D [n] integer ids")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what} have dtype {y.dtype}; class labels must be integers "
                        "(convert with y.astype(np.int32))")
    if y.size == 0:
        return y.astype(np.int32)
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n_classes:
        bad = int(np.argmax((y < 0) | (y >= n_classes)))
        raise DataError(f"{what} must lie in [0, {n_classes}) but example {bad} has label "
                        f"{int(y[bad])} (range found: {lo}..{hi}); fix the labels or build "
                        f"the model with more outputs")
    return y.astype(np.int32, copy=False)


def to_model_input(x, n_inputs):
    """Graph-side conversion: flatten to `[batch, n_inputs]`; uint8 is scaled to [0, 1]."""
    x = tf.reshape(x, [-1, n_inputs])
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) / 255.0
    return x
