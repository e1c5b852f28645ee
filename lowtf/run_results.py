"""A run's test results, the record `Trainer.evaluate` keeps of a test split.

`<run>/test` gets the test metrics as scalars and the evaluation figures (samples,
most confidently wrong, confusion matrix) at the run's step; `<run>/results.json` the
metrics, the epochs and step trained and the checkpoint the evaluated weights come from
(`run_experiment` rewrites it with its settings and timing added).
"""

from lowtf import figures
from lowtf.run_dir import RunDir


def record_test(run, x, y, metrics):
    """Writes `metrics` of `run`'s weights (a Trainer with a run directory), with figures of
    `(x, y)` when the run writes figures; returns the results.json record."""
    step = run.step
    with run.writing_logs():
        run.writer.scalars("test", step, metrics)
        if run.image_summaries and run.n_classes:
            with run.evaluation_weights():
                probabilities = run.predictor.probabilities(x)
            figures.write_evaluation_images(run.writer.writer("test"), step, x, y,
                                             probabilities, run.metadata.get("class_names"))
        run.writer.flush()
    results = {"test": dict(metrics), "epochs": run.epoch, "step": step,
               "checkpoint": run.weights_checkpoint}
    if run.chief:
        RunDir(run.run_dir).write_results(results, run.storage.last_good)
    return results
