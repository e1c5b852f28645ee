"""Streaming metrics whose state lives in `tf.Variable`s (usable inside `tf.function`)."""

import tensorflow as tf

from lowtf.errors import ConfigError


class Metric(tf.Module):
    """A running statistic: `update_state` in the step, `result` and `reset_state` outside.

    State is a weighted `total` and `count`, so padded examples can be masked out with
    a zero `sample_weight` and results do not depend on how the data was batched.
    """

    def __init__(self, name):
        super().__init__(name=name)
        with self.name_scope:
            self.total = tf.Variable(0.0, trainable=False, name="total",
                                     synchronization=tf.VariableSynchronization.ON_READ,
                                     aggregation=tf.VariableAggregation.SUM)
            self.count = tf.Variable(0.0, trainable=False, name="count",
                                     synchronization=tf.VariableSynchronization.ON_READ,
                                     aggregation=tf.VariableAggregation.SUM)

    def _add(self, values, sample_weight):
        values = tf.cast(values, tf.float32)
        if sample_weight is None:
            self.total.assign_add(tf.reduce_sum(values))
            self.count.assign_add(tf.cast(tf.size(values), tf.float32))
        else:
            w = tf.cast(sample_weight, tf.float32)
            self.total.assign_add(tf.reduce_sum(values * w))
            self.count.assign_add(tf.reduce_sum(w))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


class Mean(Metric):
    """The mean of the values passed in (e.g. per-example losses)."""

    def update_state(self, values, sample_weight=None):
        self._add(values, sample_weight)


class TopKAccuracy(Metric):
    """Fraction of examples whose label is among the top `k` logits.

    Exactly `tf.math.in_top_k`: ties with the k-th value count as a hit, and a row
    with a non-finite logit counts as a miss.
    """

    def __init__(self, k=1, name=None):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"top-k accuracy needs an int k >= 1, got {k!r}")
        super().__init__(name or ("accuracy" if k == 1 else f"top{k}_accuracy"))
        self.k = k

    def update_state(self, labels, logits, sample_weight=None):
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        hits = tf.math.in_top_k(targets=labels, predictions=logits, k=self.k)
        self._add(hits, sample_weight)


class BinaryAccuracy(Metric):
    """Fraction of outputs on the right side of `threshold` (for sigmoid outputs)."""

    def __init__(self, threshold=0.5, name="accuracy"):
        super().__init__(name)
        self.threshold = threshold

    def update_state(self, targets, outputs, sample_weight=None):
        targets = tf.reshape(tf.cast(targets, tf.float32), tf.shape(outputs))
        hits = tf.equal(tf.cast(outputs > self.threshold, tf.float32), targets)
        hits = tf.reduce_mean(tf.cast(hits, tf.float32), axis=-1)
        self._add(hits, sample_weight)


def get_metric(metric):
    """A `Metric` from a name: `accuracy`, `top<k>_accuracy` (e.g. `top5_accuracy`),
    `binary_accuracy`; a `Metric` instance passes through."""
    if isinstance(metric, Metric):
        return metric
    if metric == "accuracy":
        return TopKAccuracy(1)
    if metric == "binary_accuracy":
        return BinaryAccuracy()
    if isinstance(metric, str) and metric.startswith("top") and metric.endswith("_accuracy"):
        k = metric[3:-len("_accuracy")]
        if k.isdigit() and int(k) >= 1:
            return TopKAccuracy(int(k))
    raise ConfigError(f"unknown metric {metric!r}; use 'accuracy', 'top<k>_accuracy' "
                      "(e.g. 'top5_accuracy'), 'binary_accuracy' or a lowtf Metric")
