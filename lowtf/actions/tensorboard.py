"""TensorBoard as actions: scalars, histograms, the graph and HParams; validation images."""

import os
import time

from lowtf import figures
from lowtf import history as run_history
from lowtf.actions.base import Action
from lowtf.errors import ConfigError
from lowtf.storage import WriteError


class TensorBoard(Action):
    """Writes the run's TensorBoard logs (`<run>/train`, `<run>/validation`, `<run>/summary`).

    At the start of every `fit` a session-start marker (TensorBoard drops points a killed
    run wrote after its last checkpoint); on a fresh run the traced step graph and the
    run's HParams session (`hparams`; its trial id is `trial_id`, else the run folder's
    name). Every epoch the scalars of `train` and `validation` and, with `histograms`,
    the weights and the gradients of one batch. With `every_steps`, also every that many
    steps: the running training metrics, the learning rate, the gradients' global norm,
    examples/second since the last point and the scalars the step logged
    (`lt.log_scalar`). At the end of `fit`, for the HParams table: the best validation
    values, the epochs trained and whether the fit finished (`<run>/summary`).
    """

    def __init__(self, hparams=None, trial_id=None, histograms=True, every_steps=None):
        super().__init__(every_steps=every_steps, name="tensorboard")
        self.hparams, self.trial_id, self.histograms = hparams, trial_id, histograms
        self._since = None  # (step, time) of the last per-step point

    def on_steps(self, run, logs):
        if run.at_epoch_end:  # the epoch's own scalars follow at this step
            return
        values = {**logs, "learning_rate": float(run.optimizer.learning_rate.numpy()),
                  "gradient_norm": float(run.loop.gradient_norm.numpy())}
        step, now = run.step, time.perf_counter()
        batch = getattr(run.loop.feed, "batch_size", None)
        if batch and self._since and step > self._since[0]:
            values["examples_per_second"] = \
                (step - self._since[0]) * batch / max(now - self._since[1], 1e-9)
        self._since = (step, now)
        with run.writing_logs():
            run.writer.scalars("train", step, {**values, **run.loop.scalars.read()})

    def on_start(self, run):
        self._since = (run.step, time.perf_counter())
        with run.writing_logs():
            run.writer.session_start(run.step + 1, ("train",) if not run.validating
                                     else ("train", "validation"))
            if run.fresh:
                run.writer.graph(run.loop.concrete_function().graph)
                run.writer.hparams(self.hparams or {}, trial_id=self.trial_id or os.path.basename(
                    os.path.abspath(run.run_dir)))

    def on_epoch(self, run, logs):
        step = run.step
        with run.writing_logs():
            train = {k: v for k, v in logs.items()
                     if not k.startswith("val_") and k not in ("epoch", "step")}
            train.update(run.loop.scalars.read())
            if self.every_steps and step % self.every_steps == 0:  # kept at this step
                train["gradient_norm"] = float(run.loop.gradient_norm.numpy())
            run.writer.scalars("train", step, train)
            val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
            if val:
                run.writer.scalars("validation", step, val)
            if self.histograms:
                variables = run.model.trainable_variables
                x, y = run.loop.feed.probe_batch()
                grads = run.loop.gradients(x, y)
                names = [v.name.split(":")[0] for v in variables]
                run.writer.histograms("train", step, dict(zip(names, variables)))
                run.writer.histograms("train", step, {"gradients/" + n: g
                                                      for n, g in zip(names, grads)})
            run.writer.flush()
        self._since = (step, time.perf_counter())  # the epoch's evaluation is not training

    def on_end(self, run, failed):
        try:
            with run.writing_logs():
                run.writer.scalars("summary", run.step, run_summary(run.history, failed))
                run.writer.session_end(run.step, finished=not failed)
                run.writer.flush()
        except WriteError:
            if not failed:  # else the error that stopped the run is the one to report
                raise


def run_summary(history, failed):
    """The run's values for the HParams table: the best of each validation metric over its
    epochs (`best_val_loss` the lowest, the others the highest), the epochs trained and
    whether the fit finished (1) or stopped on an error (0)."""
    summary = run_history.best_values(history)
    summary["epochs_trained"] = len(history.get("loss", []))
    summary["finished"] = 0.0 if failed else 1.0
    return summary


class ValidationImages(Action):
    """Figures of the evaluations in `<run>/validation`: sample inputs with their labels,
    the most confidently wrong images and the confusion matrix (`lowtf.figures`).

    Drawing the three takes about half a second on 2 cores, as long as an epoch of the
    reference network, so by default they cost at most `max_share` of the run's time: an
    evaluation is drawn when the time since the last drawing is at least
    `(1 - max_share) / max_share` times what that drawing took, else skipped. The first
    evaluation of a `fit` and its last (at the end, with the weights and step it had)
    are always drawn. `max_share=None` draws every evaluation.

    Args:
        x, y: the validation arrays shown (checked; the first 10,000 examples at most).
        max_share: the share of the run's time the figures may take, or None.
    """

    def __init__(self, x, y, limit=10000, max_share=0.1):
        super().__init__(name="validation_images")
        self.x, self.y = x[:limit], y[:limit]
        if max_share is not None and not 0 < max_share <= 1:
            raise ConfigError(f"max_share must be in (0, 1] or None, got {max_share!r}")
        self.max_share = max_share
        self._skipped = self._next = None

    def on_start(self, run):
        self._skipped = self._next = None

    def on_epoch(self, run, logs):
        with run.evaluation_weights():
            probabilities = run.predictor.probabilities(self.x)
        if self._next is not None and time.perf_counter() < self._next:
            self._skipped = (run.step, probabilities)  # drawn at the end if it is the last
            return
        self._draw(run, run.step, probabilities)

    def on_end(self, run, failed):
        if self._skipped is not None and not failed:
            self._draw(run, *self._skipped)

    def _draw(self, run, step, probabilities):
        start = time.perf_counter()
        with run.writing_logs():
            figures.write_evaluation_images(
                run.writer.writer("validation"), step, self.x, self.y,
                probabilities, run.metadata.get("class_names"))
            run.writer.flush()
        self._skipped = None
        if self.max_share:
            took = time.perf_counter() - start
            self._next = time.perf_counter() + took * (1 - self.max_share) / self.max_share
