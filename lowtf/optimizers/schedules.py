"""Learning-rate schedules: the rate as a function of the optimizer's step.

    schedule = lt.optimizers.schedules.Warmup(
        500, after=lt.optimizers.schedules.CosineDecay(0.1, decay_steps=10_000))
    optimizer = lt.optimizers.SGD(schedule, momentum=0.9)

A schedule is called with the optimizer's `iterations` (an int64 tensor: the updates
applied before this one) inside the traced training step and returns a float32 scalar.
It is made of TensorFlow ops only (no Python branch on a tensor value), so the step is
traced once and compiles with XLA. The arithmetic mirrors
`keras.optimizers.schedules` operation for operation, so rates match Keras to float32
rounding.

`get_config()` is a JSON-serialisable dict naming the class under "class";
`from_config(config)` rebuilds the schedule (the trainer records it in checkpoints).
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from lowtf.optimizers.checks import (
    _check_bool,
    _check_number,
    _config_error,
    check_learning_rate,
)

__all__ = ["Schedule", "Constant", "PiecewiseConstant", "ExponentialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "Warmup",
           "ExponentialRamp", "from_config"]


def _check_steps(owner, arg, value, low=1):
    """Returns `value` as an int; raises ConfigError unless it is an int >= low."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise _config_error(f"{owner}: {arg} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_rate(owner, arg, value, zero_ok=False):
    """A positive number (>= 0 with `zero_ok`) that float32 holds."""
    return _check_number(owner, arg, value, 0.0, math.inf, low_open=not zero_ok)


class Schedule:
    """Base class: `schedule(step)` is the float32 rate of the update after `step` updates.

    Subclasses implement `_rate(step)` (step: an int64 scalar tensor) and `get_config`.
    """

    def __call__(self, step):
        step = tf.cast(tf.convert_to_tensor(step), tf.int64)
        return tf.cast(self._rate(step), tf.float32)

    def _rate(self, step):
        raise NotImplementedError

    def get_config(self):
        """A JSON-serialisable dict: {"class": <class name>, <constructor arguments>}."""
        return {"class": type(self).__name__, **self._arguments()}

    def _arguments(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        """Rebuilds a schedule from `get_config()` (of this class or, on the base, any)."""
        schedule = from_config(config)
        if not isinstance(schedule, cls):
            raise _config_error(f"{cls.__name__}.from_config: got a config of "
                                f"{type(schedule).__name__}")
        return schedule

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._arguments().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    __hash__ = None


class Constant(Schedule):
    """The same rate at every step (e.g. what `Warmup` warms up to)."""

    def __init__(self, learning_rate):
        self.learning_rate = check_learning_rate(learning_rate, "Constant")

    def _rate(self, step):
        return tf.constant(self.learning_rate, tf.float32)

    def _arguments(self):
        return {"learning_rate": self.learning_rate}


class PiecewiseConstant(Schedule):
    """`values[0]` up to step `boundaries[0]` (inclusive), then `values[1]` up to
    `boundaries[1]`, ..., `values[-1]` after the last boundary; as
    `keras.optimizers.schedules.PiecewiseConstantDecay`.

    Args:
        boundaries: strictly increasing step numbers (ints >= 0).
        values: learning rates (> 0), one more than boundaries.
    """

    def __init__(self, boundaries, values):
        owner = "PiecewiseConstant"
        if not isinstance(boundaries, (list, tuple)) or not boundaries:
            raise _config_error(f"{owner}: boundaries must be a non-empty list of step "
                                f"numbers, got {boundaries!r}")
        if not isinstance(values, (list, tuple)) or len(values) != len(boundaries) + 1:
            raise _config_error(f"{owner}: values must be a list of len(boundaries) + 1 = "
                                f"{len(boundaries) + 1} learning rates, got {values!r}")
        self.boundaries = tuple(_check_steps(owner, "boundaries", b, 0) for b in boundaries)
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise _config_error(f"{owner}: boundaries must increase strictly, got "
                                f"{list(self.boundaries)}")
        self.values = tuple(check_learning_rate(v, owner) for v in values)

    def _rate(self, step):
        # Keras's sum of indicator products: exactly one term is non-zero.
        boundaries = [tf.constant(b, tf.int64) for b in self.boundaries]
        values = [tf.constant(v, tf.float32) for v in self.values]
        result = tf.cast(step <= boundaries[0], tf.float32) * values[0]
        result += tf.cast(step > boundaries[-1], tf.float32) * values[-1]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            result += tf.cast((step > low) & (step <= high), tf.float32) * value
        return result

    def _arguments(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class ExponentialDecay(Schedule):
    """`initial * decay_rate ** (step / decay_steps)` (the exponent floored with
    `staircase`), as `keras.optimizers.schedules.ExponentialDecay`.

    Args:
        initial_learning_rate: the rate at step 0, > 0.
        decay_steps: steps per factor of `decay_rate`, an int >= 1.
        decay_rate: > 0 (< 1 decays).
        staircase: change the rate every `decay_steps` steps instead of every step.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        owner = type(self).__name__
        self.initial_learning_rate = check_learning_rate(initial_learning_rate, owner)
        self.decay_steps = _check_steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _check_rate(owner, "decay_rate", decay_rate)
        self.staircase = _check_bool(owner, "staircase", staircase)

    def _exponent(self, step):
        p = tf.cast(step, tf.float32) / tf.constant(self.decay_steps, tf.float32)
        return tf.floor(p) if self.staircase else p

    def _rate(self, step):
        return tf.constant(self.initial_learning_rate, tf.float32) * tf.pow(
            tf.constant(self.decay_rate, tf.float32), self._exponent(step))

    def _arguments(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}


class InverseTimeDecay(ExponentialDecay):
    """`initial / (1 + decay_rate * step / decay_steps)` (floored with `staircase`), as
    `keras.optimizers.schedules.InverseTimeDecay`. Arguments as `ExponentialDecay`."""

    def _rate(self, step):
        denominator = 1.0 + tf.constant(self.decay_rate, tf.float32) * self._exponent(step)
        return tf.constant(self.initial_learning_rate, tf.float32) / denominator


def _cosine(fraction, alpha):
    """`(1 - alpha) * (1 + cos(pi * fraction)) / 2 + alpha`, in Keras's order."""
    cosine = 0.5 * (1.0 + tf.cos(tf.constant(math.pi, tf.float32) * fraction))
    return (1 - alpha) * cosine + alpha


class CosineDecay(Schedule):
    """Half a cosine from `initial` down to `initial * alpha` over `decay_steps`, then
    constant; as `keras.optimizers.schedules.CosineDecay` (without its warmup: use
    `Warmup(steps, after=CosineDecay(...))`).

    Args:
        initial_learning_rate: the rate at step 0, > 0.
        decay_steps: an int >= 1.
        alpha: the final rate as a fraction of the initial one, in [0, 1].
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        owner = "CosineDecay"
        self.initial_learning_rate = check_learning_rate(initial_learning_rate, owner)
        self.decay_steps = _check_steps(owner, "decay_steps", decay_steps)
        self.alpha = _check_number(owner, "alpha", alpha, 0.0, 1.0, high_open=False)

    def _rate(self, step):
        decay_steps = tf.constant(self.decay_steps, tf.float32)
        step = tf.minimum(tf.cast(step, tf.float32), decay_steps)
        return tf.constant(self.initial_learning_rate, tf.float32) * _cosine(
            step / decay_steps, self.alpha)

    def _arguments(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha}


class CosineDecayRestarts(Schedule):
    """Cosine decay with warm restarts (SGDR), as
    `keras.optimizers.schedules.CosineDecayRestarts`: the first period lasts
    `first_decay_steps`, each next one `t_mul` times longer and starts `m_mul` times
    lower.

    Args:
        initial_learning_rate: > 0.
        first_decay_steps: an int >= 1.
        t_mul: >= 1 (shorter and shorter periods would end in NaN rates).
        m_mul: > 0.
        alpha: the lowest rate of each period as a fraction of its start, in [0, 1].
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0):
        owner = "CosineDecayRestarts"
        self.initial_learning_rate = check_learning_rate(initial_learning_rate, owner)
        self.first_decay_steps = _check_steps(owner, "first_decay_steps", first_decay_steps)
        self.t_mul = _check_number(owner, "t_mul", t_mul, 1.0, math.inf)
        self.m_mul = _check_rate(owner, "m_mul", m_mul)
        self.alpha = _check_number(owner, "alpha", alpha, 0.0, 1.0, high_open=False)

    def _rate(self, step):
        t_mul = tf.constant(self.t_mul, tf.float32)
        fraction = tf.cast(step, tf.float32) / tf.constant(self.first_decay_steps, tf.float32)
        if self.t_mul == 1.0:  # a constant of the schedule, not a tensor value
            i_restart = tf.floor(fraction)
            fraction -= i_restart
        else:
            i_restart = tf.floor(tf.math.log(1.0 - fraction * (1.0 - t_mul)) / tf.math.log(t_mul))
            sum_r = (1.0 - tf.pow(t_mul, i_restart)) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / tf.pow(t_mul, i_restart)
        m_fac = tf.pow(tf.constant(self.m_mul, tf.float32), i_restart)
        cosine = 0.5 * m_fac * (1.0 + tf.cos(tf.constant(math.pi, tf.float32) * fraction))
        alpha = tf.constant(self.alpha, tf.float32)  # a tensor here in Keras
        decayed = (1 - alpha) * cosine + alpha
        return tf.constant(self.initial_learning_rate, tf.float32) * decayed

    def _arguments(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha}


class Warmup(Schedule):
    """A linear warmup from `initial` to `after`'s first rate over `warmup_steps`, then
    `after` (which sees `step - warmup_steps`, so it starts from its own step 0).

    `Warmup(w, after=CosineDecay(peak, d, alpha))` is Keras's
    `CosineDecay(0.0, d, alpha, warmup_target=peak, warmup_steps=w)`.

    Args:
        warmup_steps: an int >= 1.
        after: a schedule, or a number (a `Constant` rate).
        initial: the rate at step 0, >= 0.
    """

    def __init__(self, warmup_steps, after, initial=0.0):
        owner = "Warmup"
        self.warmup_steps = _check_steps(owner, "warmup_steps", warmup_steps)
        if isinstance(after, dict):
            after = from_config(after)
        elif not isinstance(after, Schedule):
            if not isinstance(after, numbers.Real) or isinstance(after, bool):
                raise _config_error(f"{owner}: after must be a schedule or a learning "
                                    f"rate, got {after!r}")
            after = Constant(check_learning_rate(after, owner))
        self.after = after
        self.initial = _check_rate(owner, "initial", initial, zero_ok=True)

    def _rate(self, step):
        warmup_steps = tf.constant(self.warmup_steps, tf.int64)
        initial = tf.constant(self.initial, tf.float32)
        target = self.after(tf.constant(0, tf.int64))
        fraction = tf.cast(step, tf.float32) / tf.cast(warmup_steps, tf.float32)
        warming = (target - initial) * fraction + initial
        # Both are computed; `after` never sees a negative step.
        later = self.after(tf.maximum(step - warmup_steps, 0))
        return tf.where(step < warmup_steps, warming, later)

    def _arguments(self):
        return {"warmup_steps": self.warmup_steps, "after": self.after.get_config(),
                "initial": self.initial}


class ExponentialRamp(Schedule):
    """`start * (end / start) ** (min(step, steps) / steps)`: from `start` at step 0 to
    `end` at step `steps` (and after), a constant factor per step; the learning-rate
    range test's ramp (`lowtf.lr_finder`).

    Args:
        start, end: rates > 0 (end < start ramps down).
        steps: an int >= 1.
    """

    def __init__(self, start, end, steps):
        owner = "ExponentialRamp"
        self.start = _check_rate(owner, "start", start)
        self.end = _check_rate(owner, "end", end)
        self.steps = _check_steps(owner, "steps", steps)

    def _rate(self, step):
        steps = tf.constant(self.steps, tf.float32)
        fraction = tf.minimum(tf.cast(step, tf.float32), steps) / steps
        return tf.constant(self.start, tf.float32) * tf.pow(
            tf.constant(self.end / self.start, tf.float32), fraction)

    def _arguments(self):
        return {"start": self.start, "end": self.end, "steps": self.steps}


SCHEDULES = {cls.__name__: cls for cls in (
    Constant, PiecewiseConstant, ExponentialDecay, InverseTimeDecay, CosineDecay,
    CosineDecayRestarts, Warmup, ExponentialRamp)}


def from_config(config):
    """Rebuilds a schedule from its `get_config()` dict ({"class": name, arguments}).

    Raises:
        ConfigError: not such a dict, an unknown class, or bad arguments.
    """
    from lowtf.optimizers.checks import _check_kwargs

    if not isinstance(config, dict) or not isinstance(config.get("class"), str):
        raise _config_error(f"a schedule config must be a dict with a 'class' key naming "
                            f"one of {', '.join(SCHEDULES)}, got {config!r}")
    cls = SCHEDULES.get(config["class"])
    if cls is None:
        raise _config_error(f"unknown schedule class {config['class']!r}; valid classes "
                            f"are {', '.join(SCHEDULES)}")
    arguments = {k: v for k, v in config.items() if k != "class"}
    _check_kwargs(cls, arguments, f"{cls.__name__}.from_config")
    return cls(**arguments)
