"""ReduceLROnPlateau: lower the learning rate when a monitored metric stops improving."""

import math
import numbers

import numpy as np
import tensorflow as tf

from lowtf.actions.base import Action
from lowtf.errors import ConfigError
from lowtf.monitor import Monitor


def _count(arg, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 0:
        raise ConfigError(f"ReduceLROnPlateau: {arg} must be an int >= 0, got {value!r}")
    return int(value)


class ReduceLROnPlateau(Action):
    """Multiplies the learning rate by `factor` after `patience` epochs without improvement
    of `monitor`, as `keras.callbacks.ReduceLROnPlateau`.

    At the end of each epoch: during a cooldown the wait is reset; an improvement (by more
    than `min_delta`) becomes the best and resets the wait; otherwise, out of cooldown,
    the wait grows and on reaching `patience` the rate is lowered to
    `max(rate * factor, min_lr)` (only while it is above `min_lr`), then the cooldown
    starts. The rate is lowered through `optimizer.scale_learning_rate`, so it works with
    a number (assigned) and with a schedule (its scale; `min_lr` bounds the rate at the
    moment of the reduction, a decaying schedule may go lower later).

    Its state (wait, cooldown counter, best) is in `tf.Variable`s, saved in the run's
    checkpoint: a run killed and resumed lowers the rate when the uninterrupted one
    would. It is reset when a run starts fresh.

    Args:
        monitor, mode, min_delta: what improves, as in `lowtf.actions.Monitor` (`auto`:
            max for accuracies, min otherwise); min_delta defaults to Keras's 1e-4.
        factor: in (0, 1).
        patience: epochs without improvement before lowering (an int >= 0).
        cooldown: epochs after a reduction during which no waiting is counted.
        min_lr: the rate is never lowered below this (>= 0).
        verbose: print each reduction (also needs the trainer's verbose).
        name: the action's name in the checkpoint.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, verbose=True,
                 name="reduce_lr_on_plateau"):
        super().__init__(name=name)
        self.criterion = Monitor(monitor, mode, min_delta)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) \
                or not 0 < factor < 1:
            raise ConfigError(f"ReduceLROnPlateau: factor must be a number in (0, 1), got "
                              f"{factor!r} (the new rate is rate * factor)")
        if isinstance(min_lr, bool) or not isinstance(min_lr, numbers.Real) \
                or not (min_lr >= 0 and math.isfinite(min_lr)):
            raise ConfigError(f"ReduceLROnPlateau: min_lr must be a number >= 0, got "
                              f"{min_lr!r}")
        self.factor, self.min_lr = float(factor), float(min_lr)
        self.patience = _count("patience", patience)
        self.cooldown = _count("cooldown", cooldown)
        self.verbose = bool(verbose)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="wait")
        self.cooldown_counter = tf.Variable(0, dtype=tf.int64, trainable=False,
                                            name="cooldown_counter")
        self.best = tf.Variable(self.criterion.worst, dtype=tf.float64, trainable=False,
                                name="best")

    monitor = property(lambda self: self.criterion.monitor)

    def settings(self):
        """What a resumed run must keep: lowering the rate differently is another run."""
        return {"monitor": self.monitor, "mode": self.criterion.mode,
                "min_delta": self.criterion.min_delta, "factor": self.factor,
                "patience": self.patience, "cooldown": self.cooldown, "min_lr": self.min_lr}

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
                f"patience={self.patience}, cooldown={self.cooldown}, min_lr={self.min_lr})")

    def reset(self):
        self.wait.assign(0)
        self.cooldown_counter.assign(0)
        self.best.assign(self.criterion.worst)

    def on_start(self, run):
        if run.fresh:
            self.reset()

    def on_epoch(self, run, logs):
        self.update(run.optimizer, self.criterion.value(logs),
                    verbose=self.verbose and getattr(run, "verbose", 0),
                    epoch=getattr(run, "epoch", None))

    def update(self, optimizer, value, verbose=False, epoch=None):
        """One epoch's decision on the monitored `value`; returns the new rate, or None
        when the rate was not lowered."""
        cooling = int(self.cooldown_counter.numpy()) > 0
        if cooling:
            self.cooldown_counter.assign_sub(1)
            self.wait.assign(0)
        if self.criterion.improved(value, float(self.best.numpy())):
            self.best.assign(value)
            self.wait.assign(0)
            return None
        if int(self.cooldown_counter.numpy()) > 0:  # Keras reads it after the decrement
            return None
        self.wait.assign_add(1)
        if int(self.wait.numpy()) < self.patience:
            return None
        old = optimizer.next_learning_rate()
        if not old > np.float32(self.min_lr):
            return None
        new = max(old * self.factor, self.min_lr)
        rate = optimizer.scale_learning_rate(new / old)
        self.cooldown_counter.assign(self.cooldown)
        self.wait.assign(0)
        if verbose:
            when = "" if epoch is None else f"epoch {epoch}: "
            print(f"{when}{self.monitor} has not improved in {self.patience} epochs: "
                  f"learning rate {old:.4g} -> {rate:.4g}")
        return rate
