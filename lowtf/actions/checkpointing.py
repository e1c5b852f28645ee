"""Checkpointing as an action: the latest every epoch (and every N steps), the best apart."""

from lowtf.actions.base import Action


class Checkpoints(Action):
    """Saves `<run>/checkpoints/ckpt-<step>` at the end of every epoch and, with
    `every_steps`, within epochs at every multiple of it; `checkpoints/best` on a new best.

    The epoch's latest checkpoint is written last: it commits the epoch. Killed before
    it, the run resumes from the previous checkpoint and redoes the epoch's records.
    """

    def __init__(self, every_steps=None):
        super().__init__(every_steps=every_steps, name="checkpoints")
        self.saved = None

    def on_steps(self, run, logs):
        if not run.at_epoch_end:  # there the epoch's own checkpoint follows
            run.save_checkpoint()

    def on_best(self, run, logs):
        run.save_checkpoint(best=True)

    def on_epoch(self, run, logs):
        self.saved = run.save_checkpoint()
