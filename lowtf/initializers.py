"""Weight initialisers by name, as the course and Keras define them.

Each is `fn(shape, fan_in, fan_out, seed) -> float32 tensor`, where `seed` is a pair of
ints (a stateless, reproducible draw) or None (TensorFlow's global generator). Layers
compute the fans (`fans(shape)`): for a conv kernel `[kh, kw, in, out]`,
`fan_in = kh * kw * in` and `fan_out = kh * kw * out`.

    course                 truncated normal, stddev 2 / sqrt(fan_in) (the notes' neuron_layer)
    he, he_normal          truncated normal, stddev sqrt(2 / fan_in) / .8796 (ReLU; Keras he_normal)
    glorot, xavier         uniform in +-sqrt(6 / (fan_in + fan_out)) (Keras glorot_uniform)
    glorot_normal          truncated normal, stddev sqrt(2 / (fan_in + fan_out)) / .8796
    lecun, lecun_normal    truncated normal, stddev sqrt(1 / fan_in) / .8796 (SELU)
    zeros                  all zeros

The Keras-style truncated normals divide by .8796 (the stddev of a unit normal truncated
at two stddevs) so the drawn weights have the intended variance; `course` does not, as
the notes do not.
"""

import math

import tensorflow as tf

from lowtf.errors import ConfigError

TRUNCATED_STDDEV = .87962566103423978  # of a unit normal truncated at +-2 (Keras's constant)


def fans(shape):
    """`(fan_in, fan_out)` of a kernel: `[in, out]`, or `[kh, kw, in, out]` for a conv."""
    shape = [int(d) for d in shape]
    if len(shape) < 2:
        size = shape[0] if shape else 1
        return size, size
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def _truncated_normal(shape, stddev, seed):
    if seed is None:
        return tf.random.truncated_normal(shape, stddev=stddev)
    return tf.random.stateless_truncated_normal(shape, seed=seed, stddev=stddev)


def course(shape, fan_in, fan_out, seed=None):
    """Truncated normal with stddev `2 / sqrt(fan_in)` (NeuronLayer's kernels, bit for bit)."""
    return _truncated_normal(shape, 2.0 / math.sqrt(fan_in), seed)


def he_normal(shape, fan_in, fan_out, seed=None):
    """Keras's he_normal: variance 2 / fan_in, for ReLU layers."""
    return _truncated_normal(shape, math.sqrt(2.0 / fan_in) / TRUNCATED_STDDEV, seed)


def glorot_uniform(shape, fan_in, fan_out, seed=None):
    """Keras's glorot_uniform: uniform in +-sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    if seed is None:
        return tf.random.uniform(shape, -limit, limit)
    return tf.random.stateless_uniform(shape, seed=seed, minval=-limit, maxval=limit)


def glorot_normal(shape, fan_in, fan_out, seed=None):
    """Keras's glorot_normal: variance 2 / (fan_in + fan_out)."""
    return _truncated_normal(
        shape, math.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_STDDEV, seed)


def lecun_normal(shape, fan_in, fan_out, seed=None):
    """Keras's lecun_normal: variance 1 / fan_in, what SELU networks need."""
    return _truncated_normal(shape, math.sqrt(1.0 / fan_in) / TRUNCATED_STDDEV, seed)


def zeros(shape, fan_in=None, fan_out=None, seed=None):
    """All zeros (biases)."""
    return tf.zeros(shape)


INITIALIZERS = {
    "course": course, "he": he_normal, "he_normal": he_normal,
    "glorot": glorot_uniform, "xavier": glorot_uniform, "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal, "lecun": lecun_normal, "lecun_normal": lecun_normal,
    "zeros": zeros,
}


def get_initializer(initializer):
    """`(name, fn)` for an initialiser name or a callable `fn(shape, fan_in, fan_out, seed)`.

    Raises:
        ConfigError: for an unknown name or something that is neither a name nor callable.
    """
    if isinstance(initializer, str):
        key = initializer.lower().replace("-", "_")
        if key not in INITIALIZERS:
            raise ConfigError(f"unknown initializer {initializer!r}; use one of "
                              f"{sorted(INITIALIZERS)} or pass a callable "
                              "fn(shape, fan_in, fan_out, seed)")
        return key, INITIALIZERS[key]
    if callable(initializer):
        return getattr(initializer, "__name__", "custom"), initializer
    raise ConfigError(f"kernel_initializer must be a name or a callable, got {initializer!r}")
