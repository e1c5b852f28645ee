"""The argument checks of optimizers, shared with `Experiment` and sweeps.

Every bad argument raises `ConfigError`, built so that tf.function tracing re-raises
it unchanged.
"""

import inspect
import math
import numbers

import numpy as np

from lowtf.errors import ConfigError

# The magnitudes a float32 holds as normal numbers: hyperparameters must lie in between.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _config_error(message):
    """Returns a ConfigError that tf.function tracing re-raises unchanged.

    AutoGraph turns exceptions whose class has a custom __init__ (ConfigError
    inherits ValueError's) into StagingError unless they carry `ag_pass_through`.
    """
    error = ConfigError(message)
    error.ag_pass_through = True
    return error


def _check_number(owner, arg, value, low, high, low_open=False, high_open=True):
    """Returns `value` as a float; raises ConfigError unless it lies in the range."""
    valid = (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )
    if valid:
        number = float(value)
        valid = (number > low if low_open else number >= low) and (
            number < high if high_open else number <= high
        )
    if not valid:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise _config_error(
            f"{owner}: {arg} must be a number in {interval}, got {value!r}"
        )
    # The value is used as float32: one it cannot hold would silently become 0 or inf
    # (or a subnormal, which CPU kernels flush to 0).
    if number != 0 and not FLOAT32_TINY <= abs(number) <= FLOAT32_MAX:
        becomes = "inf" if abs(number) > FLOAT32_MAX else "0.0 or a subnormal flushed to 0.0"
        raise _config_error(
            f"{owner}: {arg} {value!r} is outside the range of float32, in which lowtf "
            f"computes (it would become {becomes}); use a value between "
            f"{FLOAT32_TINY:.3g} and {FLOAT32_MAX:.3g}"
        )
    return number


def check_learning_rate(value, owner="learning_rate"):
    """Returns `value` as a float; raises ConfigError unless it is > 0 and float32 holds it.

    The one check of a learning rate: optimizers, `Experiment` and sweeps all use it.
    """
    return _check_number(owner, "learning_rate", value, 0.0, math.inf, low_open=True)


def _check_bool(owner, arg, value):
    """Returns `value`; raises ConfigError unless it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise _config_error(f"{owner}: {arg} must be True or False, got {value!r}")
    return bool(value)


def _check_kwargs(cls, kwargs, what):
    """Raises ConfigError naming any keyword argument `cls` does not accept."""
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise _config_error(
            f"{what}: unknown argument(s) {', '.join(unknown)}; "
            f"{cls.__name__} accepts {', '.join(accepted)}"
        )


def _rate_or_schedule(value, owner):
    """`(schedule, None)` for a schedule (or its config dict), `(None, rate)` for a number."""
    from lowtf.optimizers import schedules  # it uses these checks

    if isinstance(value, dict):
        value = schedules.from_config(value)
    if isinstance(value, schedules.Schedule):
        return value, None
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise _config_error(
            f"{owner}: learning_rate must be a number in (0.0, inf) or a schedule from "
            f"lowtf.optimizers.schedules, got {value!r}"
        )
    return None, check_learning_rate(value, owner)


def _check_names(owner, names):
    """A tuple of variable-name substrings."""
    if not isinstance(names, (list, tuple)) or \
            not all(isinstance(n, str) and n for n in names):
        raise _config_error(
            f"{owner}: exclude_from_weight_decay must be a list of variable-name "
            f"substrings, e.g. ('bias', 'beta', 'gamma'), got {names!r}"
        )
    return tuple(names)
