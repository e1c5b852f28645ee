"""TensorBoard output of a run: scalars, histograms, the step graph and hparams.

Layout: `<run>/train` and `<run>/validation` hold the curves of each split (so
TensorBoard overlays them), `<run>/summary` the run's best values and how it ended,
`<run>` itself the run's HParams session (`lowtf.run_dir`).
"""

import time

import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hp_summary
from tensorboard.plugins.scalar import metadata as scalar_metadata

from lowtf.run_dir import RunDir


class RunWriter:
    """Writes a run's summaries; writers are opened lazily, one per split."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self._writers = {}
        self._scalar_writers = {}

    def writer(self, split):
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(RunDir(self.run_dir).split(split))
        return self._writers[split]

    def scalars(self, split, step, values):
        """Writes `{tag: number}` at `step` (as float32) in one traced call: eager
        `tf.summary.scalar`s cost about half a millisecond each, which every
        `log_every_steps` adds up to a measurable share of a fast step loop."""
        tags = tuple(values)
        write = self._scalar_writers.get((split, tags))
        if write is None:
            write = self._scalar_writers[(split, tags)] = self._scalar_writer(split, tags)
        write(tf.constant(step, tf.int64), tf.constant([float(values[t]) for t in tags],
                                                       tf.float32))

    def _scalar_writer(self, split, tags):
        writer, scalar = self.writer(split), scalar_metadata.create_summary_metadata(None, None)

        @tf.function(autograph=False)
        def write(step, vector):
            with writer.as_default(step=step):
                for i, tag in enumerate(tags):  # the tag as given: no name scope
                    tf.summary.write(tag, vector[i], metadata=scalar)
        # the concrete function: a call skips tf.function's signature matching
        return write.get_concrete_function(tf.TensorSpec([], tf.int64),
                                           tf.TensorSpec([len(tags)], tf.float32))

    def histograms(self, split, step, values):
        with self.writer(split).as_default(step=step):
            for tag, value in values.items():
                tf.summary.histogram(tag, value)

    def graph(self, graph):
        with self.writer("train").as_default():
            tf.summary.graph(graph)

    def hparams(self, values, trial_id=None):
        with self.writer("").as_default():
            hp.hparams(values, trial_id=trial_id)

    def session_end(self, step, finished):
        """Ends the run's HParams session: success, or failure (the fit raised)."""
        status = api_pb2.STATUS_SUCCESS if finished else api_pb2.STATUS_FAILURE
        with self.writer("").as_default(step=step):
            tf.summary.experimental.write_raw_pb(
                hp_summary.session_end_pb(status).SerializeToString(), step=step)

    def session_start(self, step, splits):
        """Marks a (re)start before `step`: TensorBoard drops points that an earlier,
        abandoned attempt wrote at `step` or later, so a resumed run shows each step once."""
        event = event_pb2.Event(wall_time=time.time(), step=step, session_log=event_pb2.SessionLog(
            status=event_pb2.SessionLog.START)).SerializeToString()
        for split in splits:
            tf.raw_ops.ImportEvent(writer=self.writer(split)._resource, event=event)

    def flush(self):
        for w in self._writers.values():
            w.flush()

    def close(self):
        for w in self._writers.values():
            w.close()
        self._writers.clear()
        self._scalar_writers.clear()
