"""Checks and conversions for the arrays and `tf.data` pipelines a user hands to lowtf.

Bad input is caught here, before any step runs, with a message naming the problem
and the fix: wrong shapes or dtypes, NaN/Inf features, labels out of range. What only
shows inside the graph (a label out of range in a pipeline) is named by
`explain_input_error`.
"""

import re
import warnings

import numpy as np
import tensorflow as tf

from lowtf.errors import DataError

FEATURE_DTYPES = (np.uint8, np.float32)
CLASS_LABEL_DTYPES = (tf.int32, tf.int64)  # what the sparse loss and top-k metrics take


class InputScaleWarning(UserWarning):
    """Float features look like unscaled 0-255 pixel values (lowtf scales only uint8)."""


def warn_if_unscaled(x, what="features"):
    """Warns when float features lie in [0, 255] and go above 1: 0-255 pixel values.

    uint8 images are scaled by 1/255 in the graph; floats are taken as they are, so float
    images in 0-255 would reach a model trained on [0, 1] inputs 255 times too bright.
    Only a warning: non-image data (counts, measurements) can have this range too, while
    negative values (standardized features) or values within [0, 1] never warn.
    """
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and 1 < hi <= 255:
        warnings.warn(
            f"{what}: float values range up to {hi:.1f} (from {lo:g}), like 0-255 pixel "
            f"values; lowtf expects float images in [0, 1] or uint8 0-255 (which it scales): "
            f"divide by 255 or pass uint8. If these are not images, silence this with "
            f"warnings.filterwarnings('ignore', category=lowtf.inputs.InputScaleWarning)",
            InputScaleWarning, stacklevel=4)


def check_features(x, n_inputs=None, what="features"):
    """Validates a feature array; returns it as it is, or as `[n, n_inputs]` (a view, no
    copy) for a model that takes flat features (`n_inputs`, a `lowtf.Network`).

    A flat model takes uint8 images (scaled by 1/255 in the graph) or float32; any other
    model takes any numeric dtype as it is (uint8 scaled all the same). Float features
    must be finite. Nothing is cast silently.
    """
    if isinstance(x, tf.Tensor):
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise DataError(f"{what} must be a numpy array, got {type(x).__name__}")
    if n_inputs is not None and x.dtype not in FEATURE_DTYPES:
        raise DataError(
            f"{what} have dtype {x.dtype}; lowtf takes uint8 images (0-255) or float32 "
            f"(convert with x.astype(np.float32)); it never casts implicitly")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) \
            or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{what} have dtype {x.dtype}; a model takes numbers (uint8 images "
                        "0-255, float32 ...): convert them, e.g. x.astype(np.float32)")
    if x.ndim < 1 or len(x) == 0:
        raise DataError(f"{what} are empty (shape {x.shape}); pass at least one example")
    per_example = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    if n_inputs is not None and per_example != n_inputs:
        raise DataError(
            f"{what} have shape {x.shape} ({per_example} values per example) but the model "
            f"takes {n_inputs}; reshape to [n, {n_inputs}] or build the model with "
            f"n_inputs={per_example}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0]
        raise DataError(f"{what} contain NaN or Inf (first at example {bad}); clean or drop "
                        "those examples before training")
    if x.dtype == np.float32:
        warn_if_unscaled(x, what)
    return x if n_inputs is None else x.reshape(len(x), n_inputs)


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


def to_model_input(x):
    """Graph-side conversion: uint8 (images, 0-255) becomes float32 in [0, 1]; the rest
    reaches the model as it is (a `lowtf.Network` flattens its input itself)."""
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) / 255.0
    return x


def check_element_spec(spec, n_inputs=None, class_labels=None, what="the training dataset"):
    """Validates what a `tf.data` pipeline yields, from its `element_spec`, before any step.

    It must yield `(features, labels)` batches: numeric features (for a flat model, uint8
    or float32 of `n_inputs` values per example, checked where the shape is static),
    labels that are numbers (int32/int64 class ids when `class_labels` is True).
    """
    if not (isinstance(spec, tuple) and len(spec) == 2
            and all(hasattr(s, "dtype") and hasattr(s, "shape") for s in spec)):
        raise DataError(f"{what} must yield (features, labels) batches, got elements of {spec}")
    x, y = spec
    if y.shape.rank == 0 or (n_inputs is not None and x.shape.rank == 1
                             and x.shape[0] == n_inputs != 1):
        raise DataError(f"{what} is unbatched: each element is one example (features "
                        f"{x.shape}, labels {y.shape}); batch it, e.g. dataset.batch(50)")
    if x.dtype == tf.string or y.dtype == tf.string:
        part = "features" if x.dtype == tf.string else "labels"
        fix = ("decode them to uint8 or float32 in the pipeline (e.g. tf.io.decode_png, "
               "tf.io.parse_tensor)" if part == "features" else
               "map them to integer class ids in the pipeline (e.g. a tf.lookup table)")
        raise DataError(f"{what}: {part} have dtype string; {fix}")
    if (n_inputs is not None and x.dtype not in (tf.uint8, tf.float32)) or not (
            x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise DataError(f"{what}: features have dtype {x.dtype.name}; the model takes uint8 "
                        "images (0-255) or float32: cast them in the pipeline, e.g. "
                        ".map(lambda x, y: (tf.cast(x, tf.float32), y))")
    if class_labels and y.dtype not in CLASS_LABEL_DTYPES:
        raise DataError(f"{what}: labels have dtype {y.dtype.name}; class labels must be "
                        "integer ids (int32 or int64): cast them in the pipeline, e.g. "
                        ".map(lambda x, y: (x, tf.cast(y, tf.int32)))")
    if class_labels and y.shape.rank is not None and y.shape.rank > 1:
        raise DataError(f"{what}: label batches have shape {y.shape}; class labels must be "
                        "[batch] integer ids (reshape them to 1-D)")
    if n_inputs is not None and x.shape.rank is not None and x.shape[1:].is_fully_defined():
        width = int(np.prod(x.shape[1:]))
        if width != n_inputs:
            raise DataError(f"{what}: inputs have {width} features, the model takes "
                            f"{n_inputs} (batches of shape {x.shape}); reshape them in the "
                            f"pipeline or build the model with n_inputs={width}")


def explain_input_error(error, n_inputs, n_classes=None):
    """One line for an `InvalidArgumentError` a batch raised in the graph: the label out
    of range or the width that did not fit; None for anything else, which is not lowtf's
    to guess at (an error of the user's model, loss, metric or pipeline)."""
    text = str(error)
    label = re.search(r"label value of (-?\d+) which is outside the valid range of "
                      r"\[0, (\d+)\)", text)
    if label:
        return (f"label {label[1]} outside [0, {label[2]}) in a batch; labels must be class "
                f"ids below the model's {label[2]} outputs: fix the labels or build the "
                "model with more outputs")
    width = re.search(r"Input to reshape is a tensor with (\d+) values, but the requested "
                      r"shape requires a multiple of (\d+)", text)
    if width and int(width[2]) == n_inputs:
        return (f"a batch of {width[1]} input values does not split into examples of the "
                f"model's {n_inputs} features; give inputs of shape [batch, {n_inputs}]")
    return None
