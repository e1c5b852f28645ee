"""Where training batches come from: resident arrays or a `tf.data` pipeline.

Both kinds share one idea of the data position: batches of an epoch follow an order
keyed by `(seed, epoch)`, so `(epoch, position)` in the checkpoint is enough to
resume exactly, and the two feeds produce the same batches for the same order.
"""

import tensorflow as tf

from lowtf.errors import ConfigError, DataError
from lowtf.inputs import to_model_input

AUTOTUNE = tf.data.AUTOTUNE


def epoch_order(n, seed, epoch, shuffle=True):
    """The example order of one epoch: a permutation keyed by `(seed, epoch)`."""
    if not shuffle:
        return tf.range(n, dtype=tf.int32)
    return tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int32), seed=[int(seed), int(epoch)])


class ArrayFeed:
    """Examples held in memory as tensors; each batch is gathered inside the graph.

    uint8 images stay uint8 (4x smaller than float32) and are scaled per batch. Only
    full batches are used, so every step has the same static shape (what XLA needs);
    the `n % batch_size` examples left over differ from epoch to epoch.
    """

    resident = True

    def __init__(self, x, y, batch_size, seed=0, shuffle=True):
        if batch_size > len(x):
            raise ConfigError(f"batch_size {batch_size} exceeds the {len(x)} training examples; "
                              "use a smaller batch_size")
        self.x = tf.convert_to_tensor(x)
        self.y = tf.convert_to_tensor(y)
        self.n = len(x)
        self.batch_size = batch_size
        self.seed, self.shuffle = seed, shuffle
        self.steps_per_epoch = self.n // batch_size
        self.order = tf.Variable(epoch_order(self.n, seed, 0, shuffle), trainable=False,
                                 name="epoch_order")

    def start_epoch(self, epoch):
        self.order.assign(epoch_order(self.n, self.seed, epoch, self.shuffle))

    def batch(self, position):
        """Graph-side: the batch at `position` (an int64 tensor) of the current epoch."""
        start = tf.cast(position, tf.int32) * self.batch_size
        idx = tf.gather(self.order, start + tf.range(self.batch_size))
        return tf.gather(self.x, idx), tf.gather(self.y, idx)

    def probe_batch(self):
        return self.x[:self.batch_size], self.y[:self.batch_size]


class DatasetFeed:
    """Batches from a `tf.data.Dataset`, re-iterated every epoch.

    Args:
        make_dataset: `fn(epoch) -> Dataset` of `(x, y)` batches, or a Dataset (then its
            own shuffle decides the order, and a resume mid-epoch skips batches of a
            possibly different order).
    """

    resident = False

    def __init__(self, make_dataset):
        if isinstance(make_dataset, tf.data.Dataset):
            dataset = make_dataset
            make_dataset = lambda epoch: dataset  # noqa: E731
        self.make_dataset = make_dataset
        first = make_dataset(0)
        spec = first.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise DataError(f"a training dataset must yield (features, labels) batches, "
                            f"got elements of {spec}")
        n = int(first.cardinality())
        self.steps_per_epoch = n if n >= 0 else None

    def iterator(self, epoch, position):
        return iter(self.make_dataset(epoch).skip(position))

    def probe_batch(self):
        return next(iter(self.make_dataset(0)))


def array_batches(x, y, batch_size, seed=0, epoch=0, shuffle=True, drop_remainder=False):
    """A `tf.data` pipeline over arrays in the epoch's seeded order: batch, gather, prefetch.

    Batches of indices are gathered in one op each (much faster than slicing examples
    one by one); with `drop_remainder=True` the batches equal `ArrayFeed`'s.
    """
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    order = epoch_order(len(x), seed, epoch, shuffle)
    return (tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size, drop_remainder=drop_remainder)
            .map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)))
            .prefetch(AUTOTUNE))


def eval_batches(x, y, batch_size, n_inputs):
    """In-order batches for evaluation: the last partial batch is kept, and every batch
    is float32 `[None, n_inputs]`, so validation and test sets share one traced step."""
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    return (tf.data.Dataset.range(len(x))
            .batch(batch_size)
            .map(lambda idx: (to_model_input(tf.gather(x, idx), n_inputs), tf.gather(y, idx)))
            .prefetch(AUTOTUNE))
