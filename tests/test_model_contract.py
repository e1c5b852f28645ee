"""The model contract (issue 10, first part): `training=` reaches the model, and errors of
the user's own code come out as they were raised."""

import sys

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf.models import accepts_training, call_model


class DropoutNet(lt.Network):
    """lowtf's DNN with dropout on the hidden layers while training."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []  # the `training` values of each trace

    def __call__(self, x, training=None):
        self.seen.append(training)
        for layer in self.layers[:-1]:
            x = layer(x)
            if training:
                x = tf.nn.dropout(x, rate=0.5)
        return self.layers[-1](x)


class PlainCallNet(lt.Network):
    def __call__(self, x):  # no `training`: called with its input alone
        return super().__call__(x)


def dnn_like(cls, seed=0):
    """A 20-16-3 ReLU network of class `cls`."""
    return cls(20, [("hidden1", 16, "relu"), ("outputs", 3, None)], seed=seed)


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 20), dtype=np.float32)
    return x, (x[:, :3].argmax(axis=1)).astype(np.int32)


def test_accepts_training_reads_the_signature():
    assert accepts_training(lambda x, training=None: x)
    assert accepts_training(lambda x, **kwargs: x)
    assert not accepts_training(lambda x: x)
    assert accepts_training(tf.function(lambda x, training=False: x))
    assert call_model(lambda x: x + 1, 1, training=True) == 2
    assert call_model(lambda x, training: training, 1, training=False) is False


def test_training_steps_see_training_true_and_evaluation_sees_false():
    model = dnn_like(DropoutNet)
    trainer = lt.Trainer(model, optimizer=lt.SGD(0.1), verbose=0, histograms=False,
                         xla=False, eval_batch_size=40)
    x, y = data()
    trainer.fit((x, y), epochs=1, batch_size=20)
    assert True in model.seen and False not in model.seen
    first, second = trainer.evaluate((x, y)), trainer.evaluate((x, y))
    assert False in model.seen
    assert first == second  # no dropout outside training
    np.testing.assert_array_equal(trainer.predict(x), trainer.predict(x))


def test_a_model_without_a_training_argument_still_trains():
    trainer = lt.Trainer(dnn_like(PlainCallNet), optimizer=lt.SGD(0.1), verbose=0,
                         histograms=False)
    x, y = data()
    history = trainer.fit((x, y), epochs=2, batch_size=20)
    assert history["loss"][-1] < history["loss"][0]


def loss_with_a_user_assertion(labels, outputs):
    check = tf.debugging.assert_less(tf.reduce_max(labels), -1,  # fails on every batch
                                     message="my own assertion fired")
    with tf.control_dependencies([check]):
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs)


def raised_with_note(error_info, where):
    error = error_info.value
    assert "my own assertion fired" in str(error)
    assert not isinstance(error, lt.LowtfError)
    if sys.version_info >= (3, 11):
        assert any(where in note for note in getattr(error, "__notes__", []))


@pytest.mark.parametrize("resident", [True, False], ids=["resident", "tf.data"])
def test_an_error_of_the_users_own_code_keeps_its_type_and_message(resident):
    x, y = data()
    trainer = lt.Trainer(lt.dnn(20, (16,), 3, seed=0), loss=loss_with_a_user_assertion,
                         verbose=0, histograms=False, xla=False)
    train = (x, y) if resident else tf.data.Dataset.from_tensor_slices((x, y)).batch(20)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        trainer.fit(train, epochs=1, batch_size=20)
    raised_with_note(info, "lowtf: raised while training step 1 (epoch 1)")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        trainer.evaluate((x, y))
    raised_with_note(info, "lowtf: raised while evaluating")


def test_an_assertion_in_the_users_pipeline_keeps_its_message():
    x, y = data()

    def check(features, labels):
        tf.debugging.assert_less(tf.reduce_max(labels), -1,
                                 message="my own assertion fired")
        return features, labels

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(20).map(check)
    trainer = lt.Trainer(lt.dnn(20, (16,), 3, seed=0), verbose=0, histograms=False)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        trainer.fit(dataset, epochs=1)
    raised_with_note(info, "lowtf: raised while training step 1")
