"""The data a run trains and evaluates on, checked against the model before any step.

Arrays are checked here (shapes, dtypes, NaN, labels in range) and become a resident
feed or a `tf.data` pipeline (`lowtf.feeds`); pipelines are checked from their
`element_spec`. The class count comes from the model (`n_outputs`, else its outputs)
and the run records the example shape and dtype it trained on (`input_spec`).
"""

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError, DataError
from lowtf.feeds import ArrayFeed, DatasetFeed, array_batches, array_chunks, replica_batches
from lowtf.inputs import check_element_spec, check_features, check_labels, to_model_input
from lowtf.losses import takes_class_ids
from lowtf.models import input_spec, input_width, output_width


class RunData:
    """Checks data for `model` and makes feeds of it.

    Args:
        model: the model (`lowtf.models`).
        class_labels: whether labels are class ids (`losses.class_label_mode`).
        replicas: the replicas a global batch is split over.
        seed: keys the per-epoch shuffle.
    """

    def __init__(self, model, class_labels, replicas=1, seed=0):
        self.model, self.class_labels = model, class_labels
        self.replicas, self.seed = replicas, seed
        self.n_classes = output_width(model) if class_labels is not False else None
        self.input_spec = None  # the example shape and dtype of the training data

    def arrays(self, data, what):
        """Checked `(x, y)` numpy arrays from a pair or a lowtf `Split`."""
        if hasattr(data, "images") and hasattr(data, "labels"):  # a lowtf Split
            data = (data.images, data.labels)
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise DataError(f"{what} data must be an (x, y) pair of arrays or a tf.data.Dataset "
                            f"of (x, y) batches, got {type(data).__name__}")
        x = check_features(data[0], input_width(self.model), f"{what} features")
        labels = np.asarray(data[1])
        as_classes = takes_class_ids(self.class_labels, labels)
        if as_classes and self.n_classes is None:  # read from the model's outputs
            self.n_classes = output_width(self.model,
                                          to_model_input(tf.convert_to_tensor(x[:1])))
        y = check_labels(labels, len(x), self.n_classes if as_classes else None,
                         f"{what} labels")
        return x, y

    def feed(self, train, batch_size, shuffle, resident):
        """The feed of training batches: resident arrays, or a `tf.data` pipeline."""
        if isinstance(train, tf.data.Dataset) or callable(train):
            if resident:
                raise ConfigError("resident=True needs (x, y) arrays, not a tf.data pipeline")
            feed = DatasetFeed(train, check=True, n_inputs=input_width(self.model),
                               class_labels=self.class_labels)
            features = feed.element_spec[0]
            self.input_spec = input_spec(features.shape, features.dtype)
            return feed
        x, y = self.arrays(train, "training")
        self.input_spec = input_spec(x.shape, x.dtype)
        if batch_size % self.replicas:
            raise ConfigError(f"batch_size {batch_size} is the global batch and must divide "
                              f"evenly over the {self.replicas} replicas; use a multiple of "
                              f"{self.replicas}")
        if resident is False:
            if self.replicas > 1:
                feed = DatasetFeed(lambda epoch: replica_batches(
                    x, y, batch_size, self.seed, epoch, shuffle), per_replica=True)
            else:
                feed = DatasetFeed(lambda epoch: array_batches(
                    x, y, batch_size, self.seed, epoch, shuffle, drop_remainder=True))
                feed.array_chunks = lambda epoch, position, capacity: array_chunks(
                    x, y, batch_size, capacity, self.seed, epoch, shuffle, position)
            feed.batch_size = batch_size
            return feed
        return ArrayFeed(x, y, batch_size, seed=self.seed, shuffle=shuffle)

    def evaluation(self, data):
        """Checked `(x, y)` arrays as tensors, evaluated in-graph; Datasets pass through."""
        if isinstance(data, tf.data.Dataset):
            check_element_spec(data.element_spec, input_width(self.model), self.class_labels,
                               "the evaluation dataset")
            return data
        x, y = self.arrays(data, "evaluation")
        return tf.convert_to_tensor(x), tf.convert_to_tensor(y)
