"""The learning rate of an optimizer: a number, or a schedule times a scale.

`Optimizer` creates the variables (`_learning_rate`, and with a schedule
`_learning_rate_scale`) and `_schedule`; this mixin reads and changes the rate.
"""

import math

import tensorflow as tf

from lowtf.optimizers.checks import _check_number, _config_error, check_learning_rate


class LearningRate:
    """The optimizer's rate: `learning_rate`, `schedule`, `scale_learning_rate`."""

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise _config_error(
                f"{type(self).__name__}: the learning rate follows its schedule "
                f"{self._schedule!r} and cannot be set; use "
                "optimizer.scale_learning_rate(factor) to scale it"
            )
        # Assign rather than rebind: traced functions keep reading the variable.
        if not tf.is_tensor(value):
            value = check_learning_rate(value, type(self).__name__)
        self._learning_rate.assign(value)

    @property
    def schedule(self):
        """The learning-rate schedule, or None for a number."""
        return self._schedule

    @property
    def learning_rate_scale(self):
        return getattr(self, "_learning_rate_scale", None)

    def scale_learning_rate(self, factor):
        """Multiplies the learning rate of the next updates by `factor` (> 0), eagerly.

        With a number it assigns `learning_rate * factor`; with a schedule it multiplies
        `learning_rate_scale`, which multiplies every later rate of the schedule. Either
        way the change is state saved in checkpoints, not configuration.

        Returns:
            The rate the next update will use (a Python float).
        """
        owner = type(self).__name__
        factor = _check_number(owner, "scale_learning_rate factor", factor, 0.0, math.inf,
                               low_open=True)
        if self._schedule is None:
            new = float(self._learning_rate.numpy()) * factor
            check_learning_rate(new, f"{owner}.scale_learning_rate")
            self._learning_rate.assign(new)
        else:
            scale = self._learning_rate_scale
            new = float(scale.numpy()) * factor
            _check_number(owner, "learning_rate_scale", new, 0.0, math.inf, low_open=True)
            scale.assign(new)
        return self.next_learning_rate()

    def next_learning_rate(self):
        """The rate the next update will use, as a Python float (call eagerly)."""
        return float(self._rate().numpy())

    def _rate(self):
        """The float32 rate of the update after `iterations` updates."""
        if self._schedule is None:
            return self._learning_rate.read_value()
        return self._schedule(self._iterations) * self._learning_rate_scale
