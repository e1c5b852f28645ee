"""Scalars logged from inside the training step: `lt.log_scalar(name, value)`.

A model, a loss or a layer calls `lt.log_scalar("attention_entropy", h)` in its own code.
While the training step runs, the value (its mean, as float32) is kept in a variable of
the loop; the TensorBoard action writes the latest values to `<run>/train` every
`log_every_steps` steps. Outside the training step (evaluation, prediction, export, your
own calls) `log_scalar` does nothing, so the same model code works everywhere.

How: before the loop is traced, the step is traced once more into a throwaway graph to
learn the names (`discover`); the loop then owns one variable per name, and the real
trace only assigns to them: no summary op in the step, nothing to retrace, and it
compiles with XLA.
"""

import contextlib
import re

import tensorflow as tf

from lowtf.errors import ConfigError

_recorders = []


def log_scalar(name, value):
    """Records `value` (a tensor; its mean is logged) under `name` for the current step."""
    if not _recorders:
        return
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-/]+", name):
        raise ConfigError(f"log_scalar: name must be letters, digits and _ . - /, got {name!r}")
    _recorders[-1](name, value)


class StepScalars(tf.Module):
    """The loop's variables for the scalars its step logs, one per name."""

    def __init__(self):
        super().__init__(name="step_scalars")
        self.values = {}

    def discover(self, trace, *specs):
        """Traces `trace(*specs)` into a throwaway graph (nothing runs) and creates a
        variable per name it logs."""
        names = []

        def note(name, value):
            if name not in names:
                names.append(name)

        with _recording(note):
            tf.function(trace).get_concrete_function(*specs)
        with self.name_scope:
            for name in names:
                if name not in self.values:
                    self.values[name] = tf.Variable(
                        0.0, trainable=False, name=re.sub(r"[^A-Za-z0-9_]", "_", name),
                        synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.MEAN)
        return names

    def recording(self):
        """A context in which `log_scalar` assigns to the variables (inside the step)."""
        def assign(name, value):
            if name not in self.values:
                raise ConfigError(
                    f"log_scalar({name!r}) was not called when the step was first traced; "
                    "log the same names on every trace (log a 0 when there is nothing)")
            self.values[name].assign(tf.reduce_mean(tf.cast(value, tf.float32)))
        return _recording(assign)

    def read(self):
        """`{name: float}` of the latest values."""
        return {name: float(v.numpy()) for name, v in self.values.items()}


@contextlib.contextmanager
def _recording(fn):
    _recorders.append(fn)
    try:
        yield
    finally:
        _recorders.pop()
