"""Batches from a `tf.data` iterator, a chunk at a time, for a compiled step loop.

XLA cannot compile an iterator's `get_next`, so a `tf.data` feed used to run its steps
one traced op at a time, at about 0.6-0.7 of the resident loop's speed. Here the
pipeline yields chunks of up to `capacity` batches (`dataset.batch(capacity)`); a chunk
goes into two variables, and the step loop, compiled like the resident one, reads its
batches from them by position. A call may stop mid-chunk (an action is due): the rest
of the chunk waits in the buffer for the next call, so every batch is trained once, in
the pipeline's order.

Only batches of one static shape can be stacked, so a pipeline must batch with
`drop_remainder=True` (lowtf's own array pipelines do); others keep the per-step loop.
"""

import tensorflow as tf

BYTES = 8 * 2**20    # the most one chunk of batches may hold
MAX_BATCHES = 64     # enough that a chunk's overhead is lost in its steps


def buffer_spec(element_spec):
    """`(x_spec, y_spec)` if the feed's batches can be buffered, else None: plain tensors of
    fully static shapes (a variable batch size, a dict of features or a ragged label
    cannot be stacked into one variable)."""
    if not (isinstance(element_spec, tuple) and len(element_spec) == 2):
        return None
    if not all(isinstance(s, tf.TensorSpec) and s.shape.is_fully_defined()
               for s in element_spec):
        return None
    return element_spec


def capacity_for(element_spec):
    """How many batches one chunk holds: as many as fit in `BYTES`, 1 to `MAX_BATCHES`."""
    size = sum(s.shape.num_elements() * s.dtype.size for s in element_spec)
    return max(1, min(MAX_BATCHES, BYTES // max(size, 1)))


class BatchBuffer:
    """One chunk of batches and the position of the next one to train on.

    Not a `tf.Module` on purpose: the chunk is transient, so it stays out of checkpoints
    (a resume rebuilds it from the pipeline at the checkpoint's position).
    """

    def __init__(self, element_spec):
        self.capacity = capacity = capacity_for(element_spec)
        self.specs = element_spec
        self.x, self.y = (tf.Variable(tf.zeros([capacity, *s.shape], s.dtype), trainable=False,
                                      name=name)
                          for s, name in zip(element_spec, ("buffer_x", "buffer_y")))
        self.count = tf.Variable(0, trainable=False, name="buffer_count")
        self.offset = tf.Variable(0, trainable=False, name="buffer_offset")

    def chunks_of(self, feed, epoch, position):
        """The feed's batches of `epoch` from `position` on, as chunks: from its arrays
        directly where it has them (`feeds.array_chunks`), else from its pipeline."""
        if getattr(feed, "array_chunks", None):
            return feed.array_chunks(epoch, position, self.capacity)
        return self.chunks(feed.dataset(epoch, position))

    def chunks(self, dataset):
        """`dataset` of batches as chunks padded to `capacity` batches: `(xs, ys, count)`."""
        capacity = self.capacity

        def pad(xs, ys):
            count = tf.shape(xs)[0]
            padded = [tf.pad(t, [[0, capacity - count]] + [[0, 0]] * (t.shape.rank - 1))
                      for t in (xs, ys)]
            for t, s in zip(padded, self.specs):
                t.set_shape([capacity, *s.shape])
            return padded[0], padded[1], count

        return dataset.batch(capacity).map(pad).prefetch(1)

    def reset(self):
        """Empties the buffer (a new iterator starts)."""
        self.count.assign(0)
        self.offset.assign(0)

    def left(self):
        """Graph-side: how many buffered batches have not been trained on."""
        return self.count - self.offset

    def fill(self, chunk):
        """Graph-side: takes the next chunk `(xs, ys, count)` from the pipeline."""
        xs, ys, count = chunk
        self.x.assign(xs)
        self.y.assign(ys)
        self.count.assign(count)
        self.offset.assign(0)

    def take(self):
        """Graph-side: the next buffered batch `(x, y)`; the position moves on."""
        position = self.offset.read_value()
        self.offset.assign_add(1)
        # gather, not `self.x[position]`: XLA takes a strided slice's start as a compile-time
        # constant and compiled the loop again at every call.
        return tf.gather(self.x, position), tf.gather(self.y, position)
