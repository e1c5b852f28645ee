"""Trainers with the same traced loop share one XLA compilation (`lowtf.xla_share`), and
each still trains its own variables on its own data, exactly as it would alone."""

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf import xla_share
from conftest import make_classification
from test_trainer import assert_same_weights, weights


def trainer(seed, hidden=(32,), activation="relu", **kw):
    return lt.Trainer(lt.dnn(784, hidden, 10, activation=activation, seed=seed),
                      optimizer=lt.optimizers.SGD(0.05), seed=seed, verbose=0, xla=True, **kw)


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(xla_share, "_SHARED", {})


def test_a_second_trainer_of_the_same_loop_runs_the_first_ones_compilation(
        small_data, fresh_cache, monkeypatch):
    (x, y), _ = small_data
    first = trainer(1)
    first.fit((x, y), epochs=1, batch_size=50)
    before = weights(first)
    second = trainer(2)
    second.fit((x, y), epochs=2, batch_size=50)
    assert (first.loop._fn.shared, second.loop._fn.shared) == (False, True)
    assert xla_share.cached_loops() == 1
    for key, value in weights(first).items():  # the first trainer's weights are untouched
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    monkeypatch.setattr(xla_share, "_SHARED", {})
    alone = trainer(2)
    alone.fit((x, y), epochs=2, batch_size=50)
    assert alone.loop._fn.shared is False
    assert_same_weights(second, alone)
    assert second.history["loss"] == alone.history["loss"]


def test_a_shared_loop_reads_its_own_trainers_data(fresh_cache):
    x1, y1 = make_classification(200, seed=1)
    x2, y2 = make_classification(200, seed=2)
    trainer(3).fit((x1, y1), epochs=1, batch_size=50)
    shared = trainer(3)
    shared.fit((x2, y2), epochs=1, batch_size=50)
    assert shared.loop._fn.shared is True
    xla_share._SHARED.clear()
    alone = trainer(3)
    alone.fit((x2, y2), epochs=1, batch_size=50)
    assert_same_weights(shared, alone)


@pytest.mark.parametrize("change", [dict(hidden=(16,)), dict(activation="tanh"),
                                    dict(l2=1e-3), dict(batch_size=40), dict(examples=250)])
def test_loops_that_differ_in_anything_but_names_are_not_shared(fresh_cache, change):
    change = dict(change)
    batch_size, examples = change.pop("batch_size", 50), change.pop("examples", 200)
    x, y = make_classification(250, seed=4)
    trainer(5).fit((x[:200], y[:200]), epochs=1, batch_size=50)
    other = trainer(5, **change)
    other.fit((x[:examples], y[:examples]), epochs=1, batch_size=batch_size)
    assert other.loop._fn.shared is False
    assert xla_share.cached_loops() == 2


def test_the_fingerprint_ignores_names_and_sees_constants():
    def traced(scale):
        v = tf.Variable(tf.ones([3]))
        return tf.function(lambda: v.assign(v * scale)).get_concrete_function()

    assert xla_share.fingerprint(traced(2.0)) == xla_share.fingerprint(traced(2.0))
    assert xla_share.fingerprint(traced(2.0)) != xla_share.fingerprint(traced(3.0))


def test_without_tensorflows_internals_the_loop_runs_unshared(small_data, fresh_cache,
                                                              monkeypatch):
    (x, y), _ = small_data
    monkeypatch.setattr(xla_share, "fingerprint", lambda concrete: (_ for _ in ()).throw(
        AttributeError("no such internal")))
    t = trainer(6)
    t.fit((x, y), epochs=1, batch_size=50)
    assert t.loop._fn.shared is False and xla_share.cached_loops() == 0
    assert np.isfinite(t.history["loss"][-1])
