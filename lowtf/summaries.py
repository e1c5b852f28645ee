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

from lowtf.run_dir import RunDir


class RunWriter:
    """Writes a run's summaries; writers are opened lazily, one per split."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self._writers = {}

    def writer(self, split):
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(RunDir(self.run_dir).split(split))
        return self._writers[split]

    def scalars(self, split, step, values):
        with self.writer(split).as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

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
