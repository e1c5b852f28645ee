"""The console as an action: a progress bar while an epoch trains, one line per epoch."""

import sys
import time

from lowtf.actions.base import Action
from lowtf.progress import ProgressBar
from lowtf.xla_choice import describe

QUIET_KEYS = ("epoch", "step", "epoch_time", "examples_per_second", "learning_rate",
              "skipped_steps")


class Console(Action):
    """`Epoch 3  step 3300  loss 0.41  accuracy 0.85  val_accuracy 0.84  2.1s  52,000 ex/s`."""

    def __init__(self, epochs):
        super().__init__(name="console")
        self.epochs, self.bar, self.start, self._said_xla = epochs, None, None, False

    def on_start(self, run):
        self.start = time.perf_counter()

    def on_epoch_start(self, run):
        self.bar = ProgressBar(run.loop.feed.steps_per_epoch,
                               f"Epoch {run.epoch + 1}/{self.epochs} ")

    def on_progress(self, run):
        self.bar.update(run.position, loss=float(run.loop.metrics["loss"].result()))

    def on_epoch(self, run, logs):
        self.bar.close()
        if not run.chief:
            return
        if not self._said_xla and run.loop.xla and run.loop.feed.resident:
            print(describe(run.loop.xla), flush=True)
            self._said_xla = True
        shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k not in QUIET_KEYS)
        rate, skipped = logs.get("examples_per_second"), logs.get("skipped_steps")
        saved = run.last_saved
        print(f"Epoch {logs['epoch']}  step {logs['step']}  {shown}  {logs['epoch_time']:.1f}s"
              + (f"  {rate:,.0f} ex/s" if rate else "")
              + (f"  {skipped} non-finite step(s) skipped so far" if skipped else "")
              + (f"  [saved {saved}{', best' if run.improved else ''}]" if saved else "")
              + (f"  {run.stop_reason}" if run.stop_reason else ""), flush=True)

    def on_end(self, run, failed):
        if self.bar:
            self.bar.close()
        if not failed:
            print(f"Trained {run.epoch} epochs, {run.step} steps in "
                  f"{time.perf_counter() - self.start:.1f}s", file=sys.stdout)
