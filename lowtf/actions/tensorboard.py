"""TensorBoard as actions: scalars, histograms, the graph and HParams; validation images."""

from lowtf import figures
from lowtf.actions.base import Action
from lowtf.storage import WriteError


class TensorBoard(Action):
    """Writes the run's TensorBoard logs (`<run>/train`, `<run>/validation`).

    At the start of every `fit` a session-start marker (TensorBoard drops points a killed
    run wrote after its last checkpoint); on a fresh run the traced step graph and the
    HParams of the run (`hparams`). Every epoch the scalars of `train` and `validation`
    and, with `histograms`, the weights and the gradients of one batch. With
    `every_steps`, also every that many steps: the running training metrics, the
    learning rate and the scalars the step logged (`lt.log_scalar`).
    """

    def __init__(self, hparams=None, trial_id=None, histograms=True, every_steps=None):
        super().__init__(every_steps=every_steps, name="tensorboard")
        self.hparams, self.trial_id, self.histograms = hparams, trial_id, histograms

    def on_steps(self, run, logs):
        if run.at_epoch_end:  # the epoch's own scalars follow at this step
            return
        with run.writing_logs():
            run.writer.scalars("train", run.step, {
                **logs, "learning_rate": float(run.optimizer.learning_rate.numpy()),
                **run.loop.scalars.read()})

    def on_start(self, run):
        with run.writing_logs():
            run.writer.session_start(run.step + 1, ("train",) if not run.validating
                                     else ("train", "validation"))
            if run.fresh:
                run.writer.graph(run.loop.concrete_function().graph)
                run.writer.hparams(self.hparams or {}, trial_id=self.trial_id)

    def on_epoch(self, run, logs):
        step = run.step
        with run.writing_logs():
            train = {k: v for k, v in logs.items()
                     if not k.startswith("val_") and k not in ("epoch", "step")}
            train.update(run.loop.scalars.read())
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

    def on_end(self, run, failed):
        try:
            with run.writing_logs():
                run.writer.flush()
        except WriteError:
            if not failed:  # else the error that stopped the run is the one to report
                raise


class ValidationImages(Action):
    """Images of every evaluation in `<run>/validation`: sample inputs with their labels,
    the most confidently wrong images and the confusion matrix (`lowtf.figures`).

    Args:
        x, y: the validation arrays shown (checked; the first 10,000 examples at most).
    """

    def __init__(self, x, y, limit=10000):
        super().__init__(name="validation_images")
        self.x, self.y = x[:limit], y[:limit]

    def on_epoch(self, run, logs):
        with run.writing_logs():
            with run.evaluation_weights():
                probabilities = run.predictor.probabilities(self.x)
            figures.write_evaluation_images(
                run.writer.writer("validation"), run.step, self.x, self.y,
                probabilities, run.metadata.get("class_names"))
            run.writer.flush()
