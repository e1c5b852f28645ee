"""Evaluation over a whole data set in one traced call, shared by training and inference.

Arrays are evaluated by a loop over slices inside the graph, traced once per input
dtype and example shape: a `tf.data` pipeline built per call would register new
functions with TensorFlow every time, and a run that evaluates every epoch would
grow by megabytes per epoch.
"""

import tensorflow as tf

from lowtf.errors import ConfigError, DataError, add_context
from lowtf.inputs import explain_input_error, to_model_input
from lowtf.metrics import Mean, get_metric
from lowtf.models import call_model, input_width


def make_metrics(names, with_loss=True):
    """`{"loss": Mean, <name>: Metric, ...}` from metric names or objects."""
    metrics = {"loss": Mean("loss")} if with_loss else {}
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


def array_signature(x, *rest):
    """`TensorSpec`s of `x` (and `rest`) with the example count left open."""
    return [tf.TensorSpec([None] + list(a.shape[1:]), a.dtype) for a in (x, *rest)]


class SliceLoops:
    """One `tf.function` per array signature (dtype and example shape), made on demand."""

    def __init__(self, fn):
        self.fn, self.functions = fn, {}

    def __call__(self, *arrays):
        tensors = [tf.convert_to_tensor(a) for a in arrays]
        key = tuple((t.dtype, tuple(t.shape[1:])) for t in tensors)
        if key not in self.functions:
            self.functions[key] = tf.function(self.fn, input_signature=array_signature(*tensors))
        return self.functions[key](*tensors)


class Evaluator:
    """Loss and metrics of `model` over `(x, y)` arrays or a `tf.data.Dataset` of batches.

    Each loop over batches is one `tf.function`, traced once per batch signature, so the
    last partial batch and every later data set of the same kind reuse the trace.
    """

    def __init__(self, model, loss_fn, metric_names, batch_size=1000):
        self.model, self.loss_fn = model, loss_fn  # loss_fn None: metrics only
        self.metrics = make_metrics(metric_names, with_loss=loss_fn is not None)
        self.batch_size = int(batch_size)
        self.trace_count = 0
        self._loop = tf.function(self._eval_loop)
        self._array_loop = SliceLoops(self._eval_arrays)

    def _update(self, x, y):
        outputs = call_model(self.model, to_model_input(x), training=False)
        update_metrics(self.metrics, y, outputs,
                       None if self.loss_fn is None else self.loss_fn(y, outputs))

    def _eval_loop(self, dataset):
        self.trace_count += 1
        for x, y in dataset:
            self._update(x, y)

    def _eval_arrays(self, x, y):
        self.trace_count += 1
        for start in tf.range(0, tf.shape(x)[0], self.batch_size):
            self._update(x[start:start + self.batch_size], y[start:start + self.batch_size])

    def __call__(self, data, n_classes=None):
        """Evaluates `data`: a Dataset of `(x, y)` batches, or a checked `(x, y)` array pair."""
        for metric in self.metrics.values():
            metric.reset_state()
        try:
            if isinstance(data, tf.data.Dataset):
                self._loop(data)
            else:
                self._array_loop(*data)
        except tf.errors.InvalidArgumentError as e:
            explained = explain_input_error(e, input_width(self.model), n_classes)
            if explained is None:  # the user's model, loss, metric or pipeline: theirs
                raise add_context(e, "lowtf: raised while evaluating")
            raise DataError(f"evaluation failed: {explained}") from None
        return {k: float(m.result()) for k, m in self.metrics.items()}
