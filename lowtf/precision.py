"""Mixed precision: the dtype layers compute in, while variables stay float32.

A policy is a name: `float32` (the default), `mixed_bfloat16` (CPUs with bf16 support and
GPUs) or `mixed_float16` (GPUs; the loop scales the loss dynamically so small gradients
do not underflow). Under a mixed policy `lt.layers` cast their inputs and variables to the
compute dtype when called; variables, optimizer slots, losses and metrics stay float32
(the loop casts the model's outputs back before the loss). Your own model does the same
with `lt.precision.cast(x)`.

The policy is read when a step is traced: the loop traces under `using(policy)`.
"""

import contextlib

import tensorflow as tf

from lowtf.errors import ConfigError

POLICIES = {"float32": tf.float32, "mixed_bfloat16": tf.bfloat16, "mixed_float16": tf.float16}

_stack = ["float32"]


def check_policy(name):
    """Returns `name` (None is `float32`); raises ConfigError for an unknown policy or one
    this machine cannot run (`mixed_float16` needs a GPU: CPU kernels for float16 are
    emulated, slower than float32, so a CPU run asks for `mixed_bfloat16` instead)."""
    name = "float32" if name is None else name
    if name not in POLICIES:
        raise ConfigError(f"unknown precision policy {name!r}; use one of {', '.join(POLICIES)}")
    if name == "mixed_float16" and not tf.config.list_logical_devices("GPU"):
        raise ConfigError(
            "precision 'mixed_float16' needs a GPU (this machine has none: CPU float16 "
            "kernels are emulated and slower than float32); use 'mixed_bfloat16' on a CPU")
    return name


def current():
    """The policy in force (its name)."""
    return _stack[-1]


def compute_dtype():
    """The dtype layers compute in under the current policy."""
    return POLICIES[_stack[-1]]


def loss_scaling():
    """Whether the current policy needs a scaled loss (float16 underflows)."""
    return _stack[-1] == "mixed_float16"


@contextlib.contextmanager
def using(name):
    """A context in which layers compute under policy `name` (checked)."""
    _stack.append(check_policy(name))
    try:
        yield
    finally:
        _stack.pop()


def cast(x):
    """`x` (a tensor or variable) in the compute dtype if it is floating point, else as is."""
    dtype = compute_dtype()
    x = tf.convert_to_tensor(x) if isinstance(x, tf.Variable) else x
    if isinstance(x, tf.Tensor) and x.dtype.is_floating and x.dtype != dtype:
        return tf.cast(x, dtype)
    return x


def to_float32(x):
    """`x` as float32 if it is floating point (outputs before the loss and metrics)."""
    if x.dtype.is_floating and x.dtype != tf.float32:
        return tf.cast(x, tf.float32)
    return x
