"""Where a run keeps what it writes: its checkpoints and its TensorBoard logs.

Every worker of a distributed run restores from the chief's checkpoints and saves
(saving is collective), but only the chief's copies are kept: a worker's go to a
temporary folder, removed at once. Only the chief writes logs. A write that fails names
the last checkpoint that is safe (`writing_logs`).
"""

import os

import tensorflow as tf

from lowtf import checkpoints as ckpt
from lowtf.checkpoint_keeper import CheckpointKeeper
from lowtf.distribute import remove_worker_directory, worker_directory
from lowtf.storage import ensure_writable, writing
from lowtf.summaries import RunWriter


class RunStorage:
    """The checkpoint keepers and the TensorBoard writer of a run (none without `run_dir`).

    Args:
        checkpoint: the run's `tf.train.Checkpoint`.
        run_dir: the run directory, or None to keep nothing on disk.
        strategy: the run's `tf.distribute.Strategy`.
        step: the global step variable (numbers the checkpoints).
        max_to_keep: how many recent checkpoints to keep (the best is kept apart).
        chief: whether this process is the chief (or the only one).
    """

    def __init__(self, checkpoint, run_dir, strategy, step, max_to_keep, chief):
        self.run_dir, self.strategy, self.chief = run_dir, strategy, chief
        self.keeper = self.writer = self.restore_keeper = None
        if run_dir is None:
            return
        real_dir = ckpt.checkpoint_dir(run_dir)
        if chief:
            ensure_writable(run_dir, "logs")
            ensure_writable(real_dir, "checkpoints")
            self.writer = RunWriter(run_dir)
        self._save_dir = worker_directory(real_dir, strategy)
        self.keeper = CheckpointKeeper(checkpoint, self._save_dir, step, max_to_keep=max_to_keep)
        self.restore_keeper = self.keeper if chief else CheckpointKeeper(
            checkpoint, real_dir, step, max_to_keep=max_to_keep)

    def save(self, best=False):
        """Saves the latest (or the best) checkpoint; returns its file name (None: no run dir)."""
        if not self.keeper:
            return None
        prefix = self.keeper.save_best() if best else self.keeper.save()
        if not self.chief:  # a non-chief worker's copy goes to a temporary folder
            remove_worker_directory(self._save_dir, self.strategy)
        return os.path.basename(prefix)

    @property
    def last_good(self):
        """The checkpoint a write error names as safe (None: none yet)."""
        return self.restore_keeper.last_complete() if self.restore_keeper else None

    @property
    def final(self):
        """The checkpoint that holds the run's model: the best one, else the latest
        (a damaged one is reported and skipped, see `CheckpointKeeper.final`)."""
        return self.restore_keeper.final() if self.restore_keeper else None

    def restore_best(self, **objects):
        """Loads the best checkpoint's `objects` (the model, its moving averages) if there
        is a best one."""
        if self.restore_keeper and self.restore_keeper.best:
            tf.train.Checkpoint(**objects).restore(self.restore_keeper.final()).expect_partial()

    def writing_logs(self):
        """A context for TensorBoard writes: a failure names the last good checkpoint."""
        # `last_good` reads the checkpoint state file: only when a write failed
        return writing("the TensorBoard logs", self.run_dir, lambda: self.last_good)
