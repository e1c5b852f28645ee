"""A `tf.data` pipeline of fixed-shape batches trains through a buffer of chunks, compiled
like the resident loop (`lowtf.batch_buffer`): same batches, same order, same weights,
whatever the chunk and call boundaries, and an exact resume after `kill -9`."""

import json

import numpy as np
import pytest
import tensorflow as tf

from lowtf import batch_buffer
from lowtf.feeds import array_batches, array_chunks
from test_resume import assert_same_checkpoint, straight_and_killed
from test_trainer import assert_same_weights, trainer_for
from conftest import make_classification


def test_a_chunk_holds_at_most_8_mib_and_64_batches():
    spec = lambda *shape: (tf.TensorSpec(shape, tf.uint8), tf.TensorSpec(shape[:1], tf.int32))  # noqa: E731
    assert batch_buffer.capacity_for(spec(50, 784)) == 64
    assert batch_buffer.capacity_for(spec(1024, 784)) == 8 * 2**20 // (1024 * 784 + 4096)
    assert batch_buffer.capacity_for(spec(4096, 4096)) == 1
    float_batch = (tf.TensorSpec([256, 784], tf.float32), tf.TensorSpec([256], tf.int64))
    assert batch_buffer.capacity_for(float_batch) == 8 * 2**20 // (256 * 784 * 4 + 256 * 8)


def test_only_plain_batches_of_one_static_shape_are_buffered():
    fixed = (tf.TensorSpec([32, 784], tf.float32), tf.TensorSpec([32], tf.int32))
    assert batch_buffer.buffer_spec(fixed) == fixed
    assert batch_buffer.buffer_spec((tf.TensorSpec([None, 784]), fixed[1])) is None
    assert batch_buffer.buffer_spec(({"a": fixed[0]}, fixed[1])) is None
    assert batch_buffer.buffer_spec(fixed[0]) is None


@pytest.mark.parametrize("source", ["arrays", "pipeline"])
@pytest.mark.parametrize("capacity", [5, 64])
def test_chunks_across_calls_train_like_the_resident_loop(small_data, monkeypatch, capacity,
                                                          source):
    # 500 examples in batches of 40: 12 steps an epoch, chunks of 5, 5, 2 (or one of 12)
    # and calls of 3 steps, so calls end mid-chunk and chunks mid-call. Arrays with
    # resident=False are gathered a chunk at a time (feeds.array_chunks); a pipeline's
    # batches are stacked into chunks (BatchBuffer.chunks).
    monkeypatch.setattr(batch_buffer, "MAX_BATCHES", capacity)
    (x, y), _ = small_data
    resident, piped = trainer_for(seed=4, steps_per_call=3), trainer_for(seed=4, steps_per_call=3)
    resident.fit((x, y), epochs=2, batch_size=40, resident=True)
    if source == "arrays":
        history = piped.fit((x, y), epochs=2, batch_size=40, resident=False)
    else:
        history = piped.fit(lambda epoch: array_batches(x, y, 40, seed=4, epoch=epoch,
                                                        drop_remainder=True), epochs=2)
    assert piped.loop.xla == {"xla": True, "why": "forced"}
    assert piped.loop._buffer.capacity == min(capacity, 64)
    assert history["step"] == [12, 24]
    assert_same_weights(resident, piped)


def test_array_chunks_are_the_batches_of_the_pipeline_a_chunk_at_a_time():
    x = np.arange(230 * 3, dtype=np.float32).reshape(230, 3)
    y = np.arange(230, dtype=np.int32)
    batches = list(array_batches(x, y, 20, seed=3, epoch=2, drop_remainder=True).skip(3))
    chunks = list(array_chunks(x, y, 20, 4, seed=3, epoch=2, position=3))
    assert [int(c[2]) for c in chunks] == [4, 4]  # 11 batches, from the 4th: 8
    assert all(c[0].shape == (4, 20, 3) and c[1].shape == (4, 20) for c in chunks)
    flat = [(xs[i], ys[i]) for xs, ys, count in chunks for i in range(int(count))]
    assert len(flat) == len(batches) == 8
    for (xc, yc), (xb, yb) in zip(flat, batches):
        np.testing.assert_array_equal(xc, xb)
        np.testing.assert_array_equal(yc, yb)
    last = list(array_chunks(x, y, 20, 3, seed=3, epoch=2, position=9))
    assert [int(c[2]) for c in last] == [2]
    np.testing.assert_array_equal(last[0][1][2], np.zeros(20))  # padding, not trained on


def test_a_user_pipeline_batched_with_drop_remainder_is_compiled(small_data):
    (x, y), _ = small_data
    trainer = trainer_for(steps_per_call=4)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(30, drop_remainder=True)
    history = trainer.fit(dataset, epochs=2)
    assert history["step"] == [16, 32]
    assert trainer.loop.xla["xla"] is True and trainer.train_traces == 1


def test_a_pipeline_with_a_partial_last_batch_keeps_the_per_step_loop(small_data):
    (x, y), _ = small_data
    trainer = trainer_for(steps_per_call=4)
    history = trainer.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(30), epochs=1)
    assert history["step"] == [17]
    assert trainer.loop.xla == {"xla": False, "why": "tf.data batches of varying shape"}


def test_timing_the_choice_on_a_pipeline_loses_no_batch(small_data):
    """xla=None's trial steps run on buffered batches and are put back: the run equals
    one forced to the same choice from the start."""
    (x, y), _ = small_data
    chosen = trainer_for(seed=5, xla=None)
    chosen.fit((x, y), epochs=2, batch_size=40, resident=False)
    assert chosen.loop.xla["why"] == "measured"
    forced = trainer_for(seed=5, xla=chosen.loop.xla["xla"])
    forced.fit((x, y), epochs=2, batch_size=40, resident=False)
    assert_same_weights(chosen, forced)


def test_a_pipeline_shorter_than_the_timed_steps_is_still_timed_on_its_own_batches():
    x, y = make_classification(100, seed=2)
    trainer = trainer_for(seed=1, xla=None)
    history = trainer.fit(lambda epoch: array_batches(x, y, 50, epoch=epoch,
                                                      drop_remainder=True), epochs=2)
    assert history["step"] == [2, 4]
    assert trainer.loop.xla["why"] == "measured"
    forced = trainer_for(seed=1, xla=trainer.loop.xla["xla"])
    forced.fit(lambda epoch: array_batches(x, y, 50, epoch=epoch, drop_remainder=True),
               epochs=2)
    assert_same_weights(trainer, forced)


SCRIPT = """
import sys
import numpy as np
import lowtf as lt
from lowtf import batch_buffer
from lowtf.determinism import enable_determinism

batch_buffer.MAX_BATCHES = 3  # chunks of 3 batches: checkpoints fall mid-chunk
enable_determinism(7)
data = np.load(sys.argv[2])
trainer = lt.Trainer(lt.dnn(784, (32,), 10, seed=7), optimizer=lt.optimizers.Adam(0.01),
                     run_dir=sys.argv[1], steps_per_call=1)
trainer.fit((data["x"], data["y"]), (data["xv"], data["yv"]), epochs=5, batch_size=20,
            save_every_steps=2, resident=False)
"""


@pytest.mark.numerics
def test_a_buffered_pipeline_resumes_bit_identically_after_kills(tmp_path):
    x, y = make_classification(260, seed=6)
    # 10 steps an epoch in chunks of 3, 3, 3, 1; killed mid-chunk in epochs 2 and 4 (the
    # checkpoints at position 4)
    straight, killed, _ = straight_and_killed(
        tmp_path, SCRIPT, dict(x=x[:200], y=y[:200], xv=x[200:], yv=y[200:]),
        kill_at=(13, 33))
    histories = [json.loads((d / "history.json").read_text()) for d in (straight, killed)]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert histories[1][key] == histories[0][key], key
    final = [tf.train.latest_checkpoint(str(d / "checkpoints")) for d in (straight, killed)]
    assert_same_checkpoint(*final)
    keys = tf.train.load_checkpoint(final[0]).get_variable_to_shape_map()
    assert not any("buffer" in k for k in keys), "the transient chunk is in the checkpoint"


def test_the_buffer_is_not_part_of_the_model_or_its_checkpoint(small_data):
    (x, y), _ = small_data
    trainer = trainer_for()
    trainer.fit((x, y), epochs=1, batch_size=40, resident=False)
    names = [v.name for v in trainer.loop.variables]
    assert trainer.loop._buffer is not None
    assert not any("buffer" in n for n in names), names
    assert np.isfinite(trainer.evaluate((x, y))["loss"])
