"""The TensorFlow profiler on a range of steps, for TensorBoard's Profile tab."""

import tensorflow as tf

from lowtf.actions.base import Action
from lowtf.errors import ConfigError, check_count


class Profile(Action):
    """Profiles global steps `start + 1` to `stop` (`tf.profiler.experimental`).

    The trace goes to `<run>/plugins/profile/<time>/`, where TensorBoard's Profile tab
    (the `tensorboard-plugin-profile` package, installed with lowtf's `dev` extra) finds
    it: the time each op took, on which device, and the input pipeline's share. While it
    profiles, the loop runs one step per traced call, each marked as a step (`train`,
    with its number), so the tab's overview shows the step time. Skip the first steps:
    they include tracing and XLA compilation. A run that resumes past `stop` profiles
    nothing.
    """

    def __init__(self, start=10, stop=20, name="profile"):
        super().__init__(name=name)
        start = check_count("start", start) if start else 0
        stop = check_count("stop", stop)
        if stop <= start:
            raise ConfigError(f"profile steps: stop ({stop}) must be after start ({start})")
        self.start, self.stop, self.active, self.logdir = start, stop, False, None

    def next_due(self, step):
        if self.active:  # one step per traced call: the profile marks every step
            return step + 1 if step < self.stop else None
        return self.start if step < self.start else None

    def on_start(self, run):
        if run.run_dir is None:
            raise ConfigError("Profile needs a run directory (run_dir=...) to write to")
        if run.step == self.start == 0:
            self._begin(run)

    def on_steps(self, run, logs):
        if run.step == self.start and not self.active:
            self._begin(run)
        elif run.step >= self.stop and self.active:
            self._end()

    def on_end(self, run, failed):
        if self.active:
            self._end()

    def _begin(self, run):
        self.logdir = run.run_dir
        tf.profiler.experimental.start(self.logdir)
        self.active = True

    def _end(self):
        tf.profiler.experimental.stop()
        self.active = False
