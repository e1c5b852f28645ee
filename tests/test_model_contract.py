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
    trainer = lt.Trainer(model, optimizer=lt.optimizers.SGD(0.1), verbose=0, histograms=False,
                         xla=False, eval_batch_size=40)
    x, y = data()
    trainer.fit((x, y), epochs=1, batch_size=20)
    assert True in model.seen and False not in model.seen
    first, second = trainer.evaluate((x, y)), trainer.evaluate((x, y))
    assert False in model.seen
    assert first == second  # no dropout outside training
    np.testing.assert_array_equal(trainer.predict(x), trainer.predict(x))


def test_a_model_without_a_training_argument_still_trains():
    trainer = lt.Trainer(dnn_like(PlainCallNet), optimizer=lt.optimizers.SGD(0.1), verbose=0,
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


# ---- a run with its own loss and metric restores, evaluates and exports -------------------

def smoothed_cross_entropy(labels, outputs):
    targets = tf.one_hot(labels, 10) * 0.9 + 0.01
    return tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=outputs)


class MeanConfidence(lt.metrics.Metric):
    def __init__(self):
        super().__init__("mean_confidence")

    def update_state(self, labels, logits, sample_weight=None):
        self._add(tf.reduce_max(tf.nn.softmax(logits), axis=-1), sample_weight)


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory):
    from conftest import make_classification

    run = tmp_path_factory.mktemp("custom") / "run"
    x, y = make_classification(200)
    trainer = lt.Trainer(lt.dnn(784, (16,), 10, seed=0), loss=smoothed_cross_entropy,
                         metrics=("accuracy", MeanConfidence()), run_dir=run, verbose=0,
                         histograms=False)
    trainer.fit((x, y), epochs=1, batch_size=50)
    return run, (x, y), trainer.evaluate((x, y))


def test_a_run_with_its_own_loss_and_metric_restores_and_evaluates(custom_run):
    run, (x, y), trained = custom_run
    with pytest.warns(UserWarning) as caught:
        predictor = lt.restore(run)
    said = " ".join(str(w.message) for w in caught)
    assert "own loss 'smoothed_cross_entropy'" in said and "own metric 'mean_confidence'" in said
    metrics = predictor.evaluate(x, y)
    assert set(metrics) == {"accuracy"}
    assert metrics["accuracy"] == pytest.approx(trained["accuracy"])
    given = lt.restore(run, loss=smoothed_cross_entropy, metrics=("accuracy", MeanConfidence()))
    again = given.evaluate(x, y)
    for name in ("loss", "accuracy", "mean_confidence"):
        assert again[name] == pytest.approx(trained[name], rel=1e-5), name


def test_a_run_with_its_own_loss_exports_and_evaluates_from_the_command_line(
        custom_run, tmp_path, capsys):
    from lowtf.cli import main

    run = custom_run[0]
    with pytest.warns(UserWarning):
        lt.export_saved_model(lt.restore(run), tmp_path / "exported")
    assert (tmp_path / "exported" / "saved_model.pb").exists()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data-dir", "/usr/share/datasets/fashion-mnist"]) == 0
    out, err = capsys.readouterr()
    assert "lowtf evaluate: warning: the run of " in err and "own loss" in err
    assert "Test accuracy: " in out and "loss" not in out.split("Test accuracy: ")[1]
