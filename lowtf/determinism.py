"""Deterministic mode: the same seed gives the same weights, bit for bit, run after run.

lowtf's training needs no random state of its own beyond its seeds: initial weights
come from `stateless_truncated_normal` keyed by `(seed, layer name)`, and each epoch's
example order is a stateless permutation keyed by `(seed, epoch)`, stored in a
checkpoint as `(epoch, position)`. What is left to pin down is TensorFlow itself: ops
whose kernels may add floating-point numbers in a different order from run to run
(GPU atomics, some parallel reductions) and the global seeds of code that draws from
stateful generators (user losses or layers, `tf.random.uniform`, NumPy).
`enable_determinism` does both, once per process, before the trainer is built.

With op determinism on, TensorFlow refuses to run (or XLA-compile) a random op that
has no seed; `enable_determinism` sets the global seed, so lowtf's automatic XLA keeps
working. Deterministic results are equal to other deterministic runs with the same
seed, settings and TensorFlow build, not to runs without determinism (XLA and some
kernels then order float additions differently, which changes the last bits).
"""

import os
import random

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError

_SEED_RANGE = (0, 2**63 - 1)  # int64, as stateless seeds take


def check_seed(seed, what="seed"):
    """Returns `seed` as an int if it is one lowtf and TensorFlow accept, else raises."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not _SEED_RANGE[0] <= int(seed) <= _SEED_RANGE[1]:
        raise ConfigError(f"{what} must be an integer from {_SEED_RANGE[0]} to "
                          f"{_SEED_RANGE[1]}, got {seed!r}")
    return int(seed)


def enable_determinism(seed):
    """Seeds every generator and makes TensorFlow's ops deterministic, for this process.

    Sets `tf.random.set_seed`, NumPy's and Python's global seeds, and calls
    `tf.config.experimental.enable_op_determinism()`, after which an op without a
    deterministic kernel raises instead of running. It cannot be turned off again.

    Args:
        seed: an int from 0 to 2**63 - 1 (the run's seed).

    Returns:
        A dict describing what was set, e.g. for the run's log.
    """
    seed = check_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))  # for subprocesses; too late for this one
    os.environ["TF_DETERMINISTIC_OPS"] = "1"
    random.seed(seed)
    np.random.seed(seed % 2**32)
    tf.random.set_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return {"seed": seed, "op_determinism": True}


def is_deterministic():
    """Whether op determinism is on in this process."""
    try:
        from tensorflow.python.framework import config as tf_config
        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):  # pragma: no cover - older TensorFlow
        return os.environ.get("TF_DETERMINISTIC_OPS") in ("1", "true", "True")
