"""No NaN or Inf ever reaches a weight or an optimizer slot, whatever produced it.

The guard must not rely on how a kernel treats NaN: oneDNN's fused matmul+ReLU (on by
default on CPUs with AVX-512 VNNI/AMX) can turn a NaN input into a finite loss while the
gradient is NaN. `poisoned_loss` reproduces that on any CPU: a finite loss whose
gradient is NaN.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt

pytestmark = pytest.mark.numerics  # also run with oneDNN switched the other way


@tf.custom_gradient
def _nan_gradient(outputs):
    return outputs, lambda upstream: upstream * float("nan")


def poisoned_loss(labels, outputs):
    """Sparse softmax cross-entropy with a NaN gradient when any label is 0."""
    poisoned = tf.reduce_any(tf.equal(labels, 0))
    outputs = tf.cond(poisoned, lambda: _nan_gradient(outputs), lambda: tf.identity(outputs))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs)


def data(n=200, first_label_zero_at=None):
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(1, 10, n).astype(np.int32)
    if first_label_zero_at is not None:
        y[first_label_zero_at] = 0
    return x, y


def all_values_finite(trainer):
    values = [v.numpy() for v in trainer.model.trainable_variables]
    values += [s.numpy() for slots in trainer.optimizer._slots for s in slots.values()]
    return all(np.isfinite(v).all() for v in values)


def make_trainer(optimizer, activation="relu"):
    model = lt.dnn(784, (16,), 10, activation=activation, seed=0)
    return lt.Trainer(model, loss=poisoned_loss, optimizer=optimizer, verbose=0,
                      histograms=False)


@pytest.mark.parametrize("resident", [True, False], ids=["resident", "tf.data"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_finite_loss_with_nan_gradients_stops_before_touching_the_weights(resident,
                                                                            optimizer):
    x, y = data(first_label_zero_at=120)  # batch 3 of 20 (no shuffle) has a 0 label
    trainer = make_trainer(optimizer)
    train = (x, y) if resident else tf.data.Dataset.from_tensor_slices((x, y)).batch(20)
    with pytest.raises(lt.NonFiniteLossError, match="at step 7 .*not applied") as info:
        trainer.fit(train, epochs=1, batch_size=20, shuffle=False)
    assert info.value.step == 7
    assert all_values_finite(trainer)
    assert int(trainer.state.step.numpy()) == 6
    assert int(trainer.optimizer.iterations.numpy()) == 6


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "elu"])
def test_skipping_drops_exactly_the_poisoned_batch_for_every_activation(activation):
    x, y = data(first_label_zero_at=120)
    trainer = make_trainer(lt.optimizers.SGD(0.05, momentum=0.9), activation)
    history = trainer.fit((x, y), epochs=2, batch_size=20, shuffle=False,
                          skip_nonfinite=True)
    assert history["skipped_steps"] == [1, 2]
    assert int(trainer.state.step.numpy()) == 18
    assert all_values_finite(trainer)


def test_an_update_that_overflows_is_refused_even_with_finite_gradients():
    variable = tf.Variable([1.0, 2.0])
    optimizer = lt.optimizers.SGD(1e38)
    optimizer.build([variable])
    applied = optimizer.apply([tf.constant([10.0, 0.0])], [variable], if_finite=True)
    assert not bool(applied)
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])
    assert int(optimizer.iterations.numpy()) == 0
    applied = optimizer.apply([tf.constant([1e-37, 0.0])], [variable], if_finite=True)
    assert bool(applied) and int(optimizer.iterations.numpy()) == 1
    assert variable.numpy()[0] == pytest.approx(-9.0)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "rmsprop", "adam"])
def test_no_optimizer_writes_a_non_finite_slot(name):
    variable = tf.Variable([1.0, 2.0])
    optimizer = lt.optimizers.get_optimizer(name)
    optimizer.build([variable])
    before = [s.numpy() for s in optimizer._slots[0].values()]

    @tf.function(jit_compile=True)
    def step(gradient):
        return optimizer.apply([gradient], [variable], if_finite=tf.constant(True))

    assert not bool(step(tf.constant([np.inf, 1.0])))
    assert not bool(step(tf.constant([np.nan, 1.0])))
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])
    for slot, old in zip(optimizer._slots[0].values(), before):
        np.testing.assert_array_equal(slot.numpy(), old)
    assert bool(step(tf.constant([0.5, 1.0])))
    assert not np.array_equal(variable.numpy(), [1.0, 2.0])


def test_an_unguarded_apply_still_updates_unconditionally():
    variable = tf.Variable([1.0])
    optimizer = lt.optimizers.SGD(1.0)
    optimizer.build([variable])
    assert optimizer.apply([tf.constant([0.5])], [variable]) is None
    np.testing.assert_array_equal(variable.numpy(), [0.5])


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_finiteness_check_finds_one_bad_value_anywhere_and_nothing_in_huge_ones(mode, bad):
    from lowtf.optimizers.base import Optimizer

    def check(value, slot):
        return Optimizer._all_finite(tf.constant(True), [(value, {"m": slot})])

    fn = {"eager": check, "graph": tf.function(check),
          "xla": tf.function(check, jit_compile=True)}[mode]
    huge = np.full([7, 5], np.finfo(np.float32).max, np.float32)  # sums would overflow
    assert bool(fn(tf.constant(huge), tf.constant(-huge[0])))
    assert bool(fn(tf.constant(3.0), tf.constant(np.zeros([0, 4], np.float32))))
    for shape, index in [((7, 5), (6, 4)), ((7, 5), (0, 0)), ((13,), (5,)), ((), ())]:
        value = np.ones(shape, np.float32)
        value[index] = bad
        assert not bool(fn(tf.constant(value), tf.constant(huge[0])))
        assert not bool(fn(tf.constant(huge), tf.constant(value)))
    assert not bool(Optimizer._all_finite(tf.constant(False), [(tf.constant(1.0), {})]))
