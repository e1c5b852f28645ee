"""`xla=None`: the loop times both ways on trial steps it rolls back, keeps the faster,
records the choice for a resume, and says which in the log."""

import time

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_classification
from lowtf.xla_choice import XlaChoice, describe


class FakeLoops:
    """`make_fn(jit)` for XlaChoice: loops that count steps in a variable and sleep."""

    def __init__(self, ms_xla, ms_graph, fail_compile=False):
        self.ms = {True: ms_xla, False: ms_graph}
        self.steps = tf.Variable(0, dtype=tf.int64)
        self.calls = {True: 0, False: 0}
        self.fail_compile = fail_compile

    def make_fn(self, jit):
        def run(steps):
            if jit and self.fail_compile:
                raise tf.errors.InvalidArgumentError(None, None, "could not compile: no kernel")
            self.calls[jit] += 1
            time.sleep(self.ms[jit] * int(steps) / 1000)
            self.steps.assign_add(int(steps))
        return run


def test_the_faster_loop_is_kept_and_the_trial_steps_are_rolled_back():
    loops = FakeLoops(ms_xla=6, ms_graph=1)
    record = tf.Variable(-1, dtype=tf.int64)
    choice = XlaChoice(loops.make_fn, [loops.steps], record)
    choice.run(20)
    assert choice.decision["xla"] is False and choice.decision["why"] == "measured"
    assert choice.decision["ms_per_step"]["xla"] > 3 * choice.decision["ms_per_step"]["graph"]
    assert int(loops.steps.numpy()) == 20  # only the real steps count
    assert int(record.numpy()) == 0
    assert loops.calls == {True: 2, False: 3}  # warm-ups, one round (a clear winner), the run
    assert describe(choice.decision).startswith("XLA off: measured")


def test_a_recorded_choice_is_kept_without_timing():
    loops = FakeLoops(ms_xla=1, ms_graph=6)
    choice = XlaChoice(loops.make_fn, [loops.steps], tf.Variable(0, dtype=tf.int64))
    choice.run(5)
    assert choice.decision == {"xla": False, "why": "recorded in the run"}
    assert loops.calls == {True: 0, False: 1}


def test_without_measuring_it_is_xla_unless_xla_cannot_compile():
    loops = FakeLoops(ms_xla=5, ms_graph=1)
    choice = XlaChoice(loops.make_fn, [loops.steps], tf.Variable(-1, dtype=tf.int64),
                       measure=False)
    choice.run(3)
    assert choice.decision["why"] == "deterministic mode" and choice.decision["xla"]
    broken = FakeLoops(ms_xla=0, ms_graph=0, fail_compile=True)
    record = tf.Variable(-1, dtype=tf.int64)
    choice = XlaChoice(broken.make_fn, [broken.steps], record)
    with pytest.warns(UserWarning, match="XLA cannot compile"):
        choice.run(4)
    assert choice.decision["xla"] is False and int(broken.steps.numpy()) == 4
    assert int(record.numpy()) == 0


def test_measuring_leaves_no_trace_in_the_run(tmp_path):
    """The measured run equals, bit for bit, a run forced to the loop it chose."""
    x, y = make_classification(600)

    def trainer(xla, run_dir=None):
        return lt.Trainer(lt.dnn(784, (32,), 10, seed=2), optimizer=lt.optimizers.Adam(0.01),
                          xla=xla, verbose=0, run_dir=run_dir, steps_per_call=5)

    measured = trainer(None, tmp_path / "run")
    measured.fit((x, y), epochs=1, batch_size=50)
    decision = measured.loop.xla
    assert decision["why"] == "measured"
    forced = trainer(decision["xla"])
    forced.fit((x, y), epochs=1, batch_size=50)
    for a, b in zip(measured.model.trainable_variables, forced.model.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(measured.optimizer.iterations.numpy()) == 12
    resumed = trainer(None, tmp_path / "run")
    resumed.fit((x, y), epochs=2, batch_size=50)
    assert resumed.loop.xla == {"xla": decision["xla"], "why": "recorded in the run"}
