"""An exponential moving average (EMA) of the weights, for evaluation, export and restore.

After every applied update `average = decay * average + (1 - decay) * weight` (the first
update copies the weight), as `keras.optimizers.Optimizer(use_ema=True)` does. Training
itself never sees the averages: evaluation swaps them into the model and back
(`swapped`), bit for bit, so a run with EMA resumes exactly like one without. The
averages live in the checkpoint under `ema/`, so the best checkpoint is the best
*averaged* model and `lt.restore` / export can load them (`load_into`).
"""

import contextlib

import tensorflow as tf

from lowtf.errors import ConfigError


def check_decay(decay):
    """Returns `decay` as a float (None: no EMA); raises ConfigError unless it is in (0, 1)."""
    if decay is None:
        return None
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1:
        raise ConfigError(f"ema must be a decay in (0, 1) such as 0.999 (None: no average), "
                          f"got {decay!r}")
    return float(decay)


class WeightAverage(tf.Module):
    """The moving averages of `variables` (the model's trainable variables).

    Create it eagerly, under the strategy scope, after the model.
    """

    def __init__(self, variables, decay):
        super().__init__(name="ema")
        self.decay = check_decay(decay)
        # References, not the variables: tracked here, the model's weights would be saved
        # under `ema/` in the checkpoint rather than under `model/`.
        self._weight_refs = tuple(v.ref() for v in variables)
        with self.name_scope:
            self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.averages = [tf.Variable(v.read_value(), trainable=False,
                                         name=v.name.split(":")[0].replace("/", "_"))
                             for v in variables]

    @property
    def _weights(self):
        return [ref.deref() for ref in self._weight_refs]

    def update(self):
        """One step of the averages towards the current weights (after an applied update)."""
        momentum = tf.cast(tf.not_equal(self.updates, 0), tf.float32) * self.decay
        for weight, average in zip(self._weights, self.averages):
            m = tf.cast(momentum, average.dtype)
            average.assign(m * average + (1 - m) * weight)
        self.updates.assign_add(1)
        return tf.constant(True)

    def _swap(self):
        for weight, average in zip(self._weights, self.averages):
            held = tf.identity(weight.read_value())
            weight.assign(average.read_value())
            average.assign(held)

    @contextlib.contextmanager
    def swapped(self):
        """A context in which the model holds the averaged weights (restored after, exactly)."""
        self._swap()
        try:
            yield
        finally:
            self._swap()


def load_into(prefix, model, variables=None):
    """Assigns the averaged weights saved at checkpoint `prefix` to `model`'s variables.

    Raises ConfigError when the checkpoint holds no averages (the run had no EMA).
    """
    variables = list(model.trainable_variables if variables is None else variables)
    average = WeightAverage(variables, 0.5)
    status = tf.train.Checkpoint(ema=average).restore(prefix).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        raise ConfigError(f"checkpoint {prefix} holds no moving averages of the weights (the "
                          "run did not use ema=...); restore it with averaged=False") from None
    for weight, value in zip(variables, average.averages):
        weight.assign(value)
