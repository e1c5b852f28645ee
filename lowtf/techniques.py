"""The training techniques the step loop applies, and their one check.

`Techniques` holds what a run trains with beyond model, loss and optimizer:
- `l2`: an L2 penalty `l2 * sum(w**2)` over the kernels (variables of rank >= 2, as a
  Keras `kernel_regularizer`), added to the objective but logged apart as `l2_loss`, so
  the `loss` curve stays the data loss and runs with and without it compare.
- `accumulate`: each update sums the gradients of `accumulate` micro-batches of
  `batch_size` examples (the memory of one micro-batch, the update of one batch of
  `accumulate * batch_size`).
- `ema`: the decay of a moving average of the weights (`lowtf.ema`), or None.
- `precision`: the mixed-precision policy (`lowtf.precision`).

All four are part of the run's recorded configuration: a run resumes only with the same.
"""

import dataclasses

import tensorflow as tf

from lowtf import precision as lt_precision
from lowtf.ema import check_decay
from lowtf.errors import ConfigError, check_count


@dataclasses.dataclass(frozen=True)
class Techniques:
    l2: float = 0.0
    accumulate: int = 1
    ema: float = None
    precision: str = "float32"

    def __post_init__(self):
        if isinstance(self.l2, bool) or not isinstance(self.l2, (int, float)) or \
                not 0 <= self.l2 < float("inf"):
            raise ConfigError(f"l2 must be a number >= 0 (the penalty's factor), got {self.l2!r}")
        object.__setattr__(self, "l2", float(self.l2))
        object.__setattr__(self, "accumulate", check_count("accumulate", self.accumulate))
        object.__setattr__(self, "ema", check_decay(self.ema))
        object.__setattr__(self, "precision", lt_precision.check_policy(self.precision))

    def config(self):
        """The recorded configuration (JSON values)."""
        return dataclasses.asdict(self)


# What a run recorded before these settings existed trained with these values.
DEFAULTS = Techniques().config()


def l2_penalty(variables, factor):
    """`factor * sum(w**2)` over the kernels (rank >= 2) among `variables`, in float32."""
    kernels = [v for v in variables if len(v.shape) >= 2]
    if not kernels:
        raise ConfigError("l2 applies to kernels (variables of rank >= 2) and this model "
                          "has none")
    return factor * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                              for v in kernels])


def micro_batches(x, y, k):
    """`k` slices of the batch `(x, y)`, in order (the last ones shorter when it does not
    divide: each example's loss is weighted by the whole batch, so the sum is exact)."""
    n = tf.shape(x)[0]
    size = (n + k - 1) // k
    return [(x[j * size:(j + 1) * size], y[j * size:(j + 1) * size]) for j in range(k)]


class DynamicLossScale(tf.Module):
    """The loss scale of `mixed_float16`: float16 gradients underflow without one.

    The loss is multiplied by `scale` before the gradients are taken and the gradients
    divided after. A step whose scaled gradients are not finite is skipped and halves the
    scale; `growth_interval` applied steps in a row double it (Keras's
    `LossScaleOptimizer`). Both counters are checkpointed.
    """

    def __init__(self, initial=2.0 ** 15, growth_interval=2000):
        super().__init__(name="loss_scale")
        self.growth_interval = int(growth_interval)
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        with self.name_scope:
            self.scale = tf.Variable(initial, dtype=tf.float32, trainable=False, name="scale",
                                     aggregation=first)
            self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                          name="good_steps", aggregation=first)

    def applied(self):
        self.good_steps.assign_add(1)
        grow = self.good_steps >= self.growth_interval
        self.scale.assign(tf.where(grow, self.scale * 2.0, self.scale))
        self.good_steps.assign(tf.where(grow, tf.zeros_like(self.good_steps), self.good_steps))

    def overflowed(self):
        self.scale.assign(tf.maximum(self.scale / 2.0, 1.0))
        self.good_steps.assign(0)
