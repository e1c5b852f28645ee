"""Watching for NaN/Inf updates: the error that stops a run, and skip mode's limit.

The step loop refuses any update whose loss, gradient or new weight is not finite
(`Optimizer.apply(if_finite=...)`) and records the step (`state.bad_step`), or, with
`skip_nonfinite`, counts it (`state.skipped`) and goes on. After each traced call the
controller asks this module whether the run must stop: at a refused step, or once more
than half of an epoch's steps were skipped (that is not training any more).
"""

from lowtf.errors import NonFiniteLossError


class NonFiniteWatch:
    """Turns the loop state's records of refused steps into `NonFiniteLossError`s.

    Args:
        state: the loop state (`bad_step`, `skipped`, `epoch`).
        last_good: `() -> prefix or None`, the checkpoint the error names as safe.
    """

    def __init__(self, state, last_good):
        self.state, self.last_good = state, last_good
        self.skip = False

    def error(self, what, step=None):
        """A NonFiniteLossError: `what` happened, the last good checkpoint, the usual fixes."""
        kept = self.last_good()
        return NonFiniteLossError(
            f"{what}. Last good checkpoint: {kept or 'none written yet'}. Lower the learning "
            "rate, or check the inputs for NaN/Inf and extreme values", step=step)

    def check_step(self):
        """Raises if the last call stopped at a refused step."""
        bad = int(self.state.bad_step.numpy())
        if bad:
            raise self.error(
                f"the training loss, a gradient or an updated weight became NaN or Inf at "
                f"step {bad} (epoch {int(self.state.epoch.numpy()) + 1}); that update was "
                "not applied and training stopped", step=bad)

    def skipped_before(self, epoch, position, history):
        """The count of skipped steps when this epoch began.

        Resumed mid-epoch, it is the count the history recorded at the previous epoch's
        end; where that is unknown, the count now (only later skips are counted).
        """
        now = int(self.state.skipped.numpy())
        if position == 0 or not self.skip:
            return now
        if epoch == 0:
            return 0
        recorded = history.get("skipped_steps", [])
        return recorded[epoch - 1] if len(recorded) >= epoch else now

    def check_skipped(self, epoch, skipped_before, steps):
        """Raises once more than half of an epoch's `steps` were skipped.

        `skip_nonfinite` is for a rare bad batch; a run that skips most of its steps
        is not training, and calling it a success would keep its result.
        """
        skipped = int(self.state.skipped.numpy()) - skipped_before
        if not self.skip or 2 * skipped <= steps:
            return
        raise self.error(
            f"skipped {skipped} of the {steps} steps of epoch {epoch + 1} ({skipped / steps:.0%}"
            ") because their loss, a gradient or an updated weight was NaN or Inf; a run "
            "that skips more than half of an epoch's steps has failed, and training stopped")
