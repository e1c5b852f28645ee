"""Evaluation over a whole data set in one traced call, shared by training and inference."""

import tensorflow as tf

from lowtf.errors import ConfigError, DataError
from lowtf.inputs import to_model_input
from lowtf.metrics import Mean, get_metric


def make_metrics(names):
    """`{"loss": Mean, <name>: Metric, ...}` from metric names or objects."""
    metrics = {"loss": Mean("loss")}
    for name in names:
        metric = get_metric(name)
        if metric.name in metrics:
            raise ConfigError(f"metric {metric.name!r} is given twice")
        metrics[metric.name] = metric
    return metrics


def update_metrics(metrics, labels, outputs, per_example_loss):
    for name, metric in metrics.items():
        if name == "loss":
            metric.update_state(per_example_loss)
        else:
            metric.update_state(labels, outputs)


class Evaluator:
    """Loss and metrics of `model` over a `tf.data.Dataset` of `(x, y)` batches.

    The loop over batches is one `tf.function`, traced once per batch signature, so the
    last partial batch and every later data set of the same kind reuse the trace.
    """

    def __init__(self, model, loss_fn, metric_names):
        self.model, self.loss_fn = model, loss_fn
        self.metrics = make_metrics(metric_names)
        self.trace_count = 0
        self._loop = tf.function(self._eval_loop)

    def _eval_loop(self, dataset):
        self.trace_count += 1
        for x, y in dataset:
            outputs = self.model(to_model_input(x, self.model.n_inputs))
            update_metrics(self.metrics, y, outputs, self.loss_fn(y, outputs))

    def __call__(self, dataset, n_classes=None):
        for metric in self.metrics.values():
            metric.reset_state()
        try:
            self._loop(dataset)
        except tf.errors.InvalidArgumentError as e:
            raise DataError(f"evaluation failed: {str(e).splitlines()[0]}; check that labels "
                            f"lie in [0, {n_classes}) and inputs have the model's shape") from None
        return {k: float(m.result()) for k, m in self.metrics.items()}
