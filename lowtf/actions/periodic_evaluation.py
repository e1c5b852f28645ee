"""Evaluation every N steps, not only at the end of each epoch."""

from lowtf.actions.base import Action
from lowtf.errors import ConfigError, check_count


class EvaluateEvery(Action):
    """Evaluates the validation data every `steps` global steps (with the weights
    evaluation uses: the moving averages with `ema`) and writes the results to
    TensorBoard's `validation` curves at that step; `fit(eval_every_steps=N)` adds one.

    The epoch's own evaluation still decides the best checkpoint and early stopping;
    these in-between points show how validation moves within an epoch. They are kept in
    `results` as `(step, {metric: value})` pairs and shown on the console.
    """

    def __init__(self, steps, name="evaluate_every"):
        super().__init__(every_steps=check_count("eval_every_steps", steps), name=name)
        self.results = []

    def on_start(self, run):
        if not run.validating:
            raise ConfigError("eval_every_steps needs validation data: pass validation=... "
                              "to fit")

    def on_steps(self, run, logs):
        if run.at_epoch_end:  # the epoch's evaluation follows at this very step
            return
        results = run.validate(run.validation_data)
        self.results.append((run.step, results))
        if run.writer:
            with run.writing_logs():
                run.writer.scalars("validation", run.step, results)
        if run.verbose and run.chief:
            shown = "  ".join(f"val_{k} {v:.4f}" for k, v in results.items())
            print(f"\n  step {run.step}  {shown}", flush=True)
