"""Where training batches come from: resident arrays or a `tf.data` pipeline.

Both kinds share one idea of the data position: batches of an epoch follow an order
keyed by `(seed, epoch)`, so `(epoch, position)` in the checkpoint is enough to
resume exactly, and the two feeds produce the same batches for the same order.
"""

import tensorflow as tf

from lowtf.errors import ConfigError, DataError
from lowtf.inputs import check_element_spec, to_model_input

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

    def batch(self, position, replica=0, replicas=1):
        """Graph-side: one replica's share of the batch at `position` (an int64 tensor).

        Every replica (on every worker) holds the data and the epoch order, so each
        gathers its own slice of the global batch and nothing is sent between devices.
        """
        share = self.batch_size // replicas
        start = tf.cast(position, tf.int32) * self.batch_size + tf.cast(replica, tf.int32) * share
        idx = tf.gather(self.order, start + tf.range(share))
        return tf.gather(self.x, idx), tf.gather(self.y, idx)

    def probe_batch(self):
        return self.x[:self.batch_size], self.y[:self.batch_size]


class DatasetFeed:
    """Batches from a `tf.data.Dataset`, re-iterated every epoch.

    Args:
        make_dataset: `fn(epoch) -> Dataset` of `(x, y)` batches, or a Dataset (then its
            own shuffle decides the order, and a resume mid-epoch skips batches of a
            possibly different order).
        check: check the first epoch's pipeline here, before any step, against what the
            model takes (`n_inputs`, `class_labels`: see `inputs.check_element_spec`).
    """

    resident = False

    def __init__(self, make_dataset, per_replica=False, check=False, n_inputs=None,
                 class_labels=None):
        if isinstance(make_dataset, tf.data.Dataset):
            dataset = make_dataset
            make_dataset = lambda epoch: dataset  # noqa: E731
        elif not per_replica:
            make_dataset = _returning_datasets(make_dataset)
        self.make_dataset = make_dataset
        # per_replica: make_dataset(epoch) is fn(tf.distribute.InputContext) -> Dataset.
        self.per_replica = per_replica
        first = make_dataset(0)(tf.distribute.InputContext()) if per_replica else make_dataset(0)
        self.element_spec = spec = first.element_spec
        if check:
            check_element_spec(spec, n_inputs, class_labels)
        elif not (isinstance(spec, tuple) and len(spec) == 2):
            raise DataError(f"a training dataset must yield (features, labels) batches, "
                            f"got elements of {spec}")
        n = int(first.cardinality())
        if n == 0:
            raise DataError("the training dataset is empty (it yields no batches); check its "
                            "source and any .take/.filter/.batch(drop_remainder=True) steps")
        self.steps_per_epoch = n if n >= 0 else None

    def dataset(self, epoch, position):
        """The epoch's batches from `position` on (one pipeline, not per replica)."""
        return self.make_dataset(epoch).skip(position)

    def probe_batch(self):
        first = self.make_dataset(0)
        if self.per_replica:
            first = first(tf.distribute.InputContext())
        return next(iter(first))


def _returning_datasets(make_dataset):
    """`make_dataset`, checked at every call to return a `tf.data.Dataset`."""
    if not callable(make_dataset):
        raise DataError(f"training data must be (x, y) arrays, a tf.data.Dataset or "
                        f"fn(epoch) -> Dataset, got {type(make_dataset).__name__}")

    def checked(epoch):
        dataset = make_dataset(epoch)
        if not isinstance(dataset, tf.data.Dataset):
            got = "None" if dataset is None else f"a {type(dataset).__name__}"
            raise DataError(f"the training data function returned {got} for epoch {epoch}; "
                            "fn(epoch) must return a tf.data.Dataset of (x, y) batches "
                            "(a missing `return`?)")
        return dataset

    return checked


def replica_batches(x, y, batch_size, seed=0, epoch=0, shuffle=True):
    """`fn(input_context) -> Dataset` of per-replica batches for `distribute_datasets_from_function`.

    Each input pipeline (one per worker) yields, global batch by global batch, the
    slices of its own replicas, so all workers together cover exactly the batches of
    the single-device order and the result does not depend on the replica count.
    """
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    def dataset_fn(context):
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        share = batch_size // replicas
        steps = len(x) // batch_size
        order = epoch_order(len(x), seed, epoch, shuffle)[:steps * batch_size]
        slices = tf.reshape(order, [steps, replicas, share])
        first = context.input_pipeline_id * local
        mine = tf.reshape(slices[:, first:first + local, :], [steps * local, share])
        return (tf.data.Dataset.from_tensor_slices(mine)
                .map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)))
                .prefetch(AUTOTUNE))

    return dataset_fn


def index_batches(n, batch_size, seed=0, epoch=0, shuffle=True, drop_remainder=False):
    """A `tf.data` pipeline of the epoch's example indices, a batch at a time."""
    return (tf.data.Dataset.from_tensor_slices(epoch_order(n, seed, epoch, shuffle))
            .batch(batch_size, drop_remainder=drop_remainder))


def array_batches(x, y, batch_size, seed=0, epoch=0, shuffle=True, drop_remainder=False):
    """A `tf.data` pipeline over arrays in the epoch's seeded order: batch, gather, prefetch.

    Batches of indices are gathered in one op each (much faster than slicing examples
    one by one); with `drop_remainder=True` the batches equal `ArrayFeed`'s.
    """
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    return (index_batches(len(x), batch_size, seed, epoch, shuffle, drop_remainder)
            .map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)))
            .prefetch(AUTOTUNE))


def array_chunks(x, y, batch_size, capacity, seed=0, epoch=0, shuffle=True, position=0):
    """`array_batches(..., drop_remainder=True)` from batch `position` on, `capacity` batches
    at a time, as `lowtf.batch_buffer` takes them: `(xs, ys, count)`, padded to `capacity`.

    One gather per chunk: a third of the CPU time of gathering batch by batch, which on
    two cores is time the training step loses.
    """
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    def gather(idx):
        count = tf.shape(idx)[0]
        idx = tf.pad(idx, [[0, capacity - count], [0, 0]])
        return tf.gather(x, idx), tf.gather(y, idx), count

    options = tf.data.Options()
    options.autotune.enabled = False  # its threads took CPU time from the training step
    return (index_batches(len(x), batch_size, seed, epoch, shuffle, drop_remainder=True)
            .skip(position).batch(capacity).map(gather).prefetch(1).with_options(options))


def eval_batches(x, y, batch_size, n_inputs=None):
    """In-order batches for evaluation: the last partial batch is kept, uint8 is scaled to
    float32 and, with `n_inputs`, every batch is `[None, n_inputs]`, so validation and
    test sets share one traced step."""
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    def batch(idx):
        features = to_model_input(tf.gather(x, idx))
        if n_inputs is not None:
            features = tf.reshape(features, [-1, n_inputs])
        return features, tf.gather(y, idx)

    return tf.data.Dataset.range(len(x)).batch(batch_size).map(batch).prefetch(AUTOTUNE)
