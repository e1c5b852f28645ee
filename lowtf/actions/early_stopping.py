"""Early stopping: stop after `patience` epochs without improvement, keep the best weights."""

import tensorflow as tf

from lowtf.actions.base import Action
from lowtf.errors import ConfigError
from lowtf.monitor import Monitor


class EarlyStopping(Action):
    """Stops training after `patience` epochs without improvement of `monitor`.

    It is also the run's monitor: "improvement" is what it says (`improved`), and the
    best epoch's checkpoint is kept in `<run>/checkpoints/best`; with `restore_best` the
    model holds those weights when training stops. The count of epochs without
    improvement is a `tf.Variable`, saved in the checkpoint: a resumed run stops when the
    uninterrupted one would. Its settings are part of the run's configuration.

    Args:
        monitor, mode, min_delta: what improves, as in `lowtf.actions.Monitor`.
        patience: epochs without improvement before stopping (an int >= 1).
        restore_best: load the best checkpoint into the model at the end.
    """

    def __init__(self, monitor="val_accuracy", mode="auto", min_delta=0.0, patience=5,
                 restore_best=True, name="early_stopping"):
        super().__init__(name=name)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"patience must be an int >= 1, got {patience!r}")
        self.criterion = Monitor(monitor, mode, min_delta)
        self.patience, self.restore_best = patience, bool(restore_best)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="wait")

    # The run's monitor: what counts as better.
    monitor = property(lambda self: self.criterion.monitor)
    mode = property(lambda self: self.criterion.mode)
    min_delta = property(lambda self: self.criterion.min_delta)
    maximize = property(lambda self: self.criterion.maximize)
    worst = property(lambda self: self.criterion.worst)

    def improved(self, value, best):
        return self.criterion.improved(value, best)

    def value(self, logs):
        return self.criterion.value(logs)

    def settings(self):
        """What a resumed run must keep (`restore_best` only changes the end result)."""
        return {"monitor": self.monitor, "mode": self.mode, "min_delta": self.min_delta,
                "patience": self.patience}

    def __repr__(self):
        return f"EarlyStopping({self.settings()}, restore_best={self.restore_best})"

    def on_start(self, run):
        if run.fresh:
            self.wait.assign(0)
        if int(self.wait.numpy()) >= self.patience:  # a resumed run that had stopped
            run.stop(None)

    def on_epoch(self, run, logs):
        if run.improved:
            self.wait.assign(0)
        else:
            self.wait.assign_add(1)
        if int(self.wait.numpy()) >= self.patience:
            run.stop(f"early stop: no {self.monitor} gain in {self.patience} epochs")

    def on_end(self, run, failed):
        if not failed and self.restore_best:
            run.restore_best()
