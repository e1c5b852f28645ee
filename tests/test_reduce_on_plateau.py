"""ReduceLROnPlateau: Keras's decisions on the same monitored values, in a real run, with a
schedule, and resumed exactly after kill -9."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_classification
from lowtf.errors import ConfigError
from test_resume import assert_same_checkpoint, straight_and_killed

ReduceLROnPlateau = lt.actions.ReduceLROnPlateau


def keras_rates(values, **kwargs):
    """The learning rate after each epoch of Keras's callback fed `values`."""
    optimizer = keras.optimizers.SGD(0.1)

    class FakeModel:
        pass

    model = FakeModel()
    model.optimizer = optimizer
    if "accuracy" in kwargs.get("monitor", "") and "mode" not in kwargs:
        kwargs = {**kwargs, "mode": "max"}  # what Keras reads from its accuracy metric
    callback = keras.callbacks.ReduceLROnPlateau(**kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {kwargs.get("monitor", "val_loss"): value})
        rates.append(float(optimizer.learning_rate.numpy()))
    return rates


def our_rates(values, optimizer=None, **kwargs):
    optimizer = optimizer or lt.optimizers.SGD(0.1)
    action = ReduceLROnPlateau(verbose=False, **kwargs)
    rates = []
    for value in values:
        action.update(optimizer, value)
        rates.append(optimizer.next_learning_rate())
    return rates


rng = np.random.default_rng(0)
SEQUENCES = {
    "plateau": [1.0, 0.9, 0.85, 0.85, 0.86, 0.87, 0.84, 0.84, 0.84, 0.9, 0.9, 0.9, 0.9,
                0.83, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
    "noisy": list(np.round(1 / np.arange(1, 41) + rng.normal(0, 0.02, 40), 3)),
    "nan": [1.0, 0.9, float("nan"), 0.95, 0.95, 0.95, 0.95, 0.8, 0.9, 0.9],
}
SETTINGS = [
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"patience": 0, "factor": 0.5, "min_lr": 0.02},
    {"patience": 2, "min_delta": 0.05, "factor": 0.3, "cooldown": 1, "min_lr": 0.001},
    {"patience": 3, "mode": "max", "monitor": "val_accuracy"},
    {"patience": 1, "monitor": "val_accuracy", "factor": 0.2},  # auto: max for accuracy
]


@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
@pytest.mark.parametrize("kwargs", SETTINGS, ids=[str(s) for s in SETTINGS])
def test_matches_keras_decisions(sequence, kwargs):
    values = SEQUENCES[sequence]
    theirs = keras_rates(values, **kwargs)
    ours = our_rates(values, **kwargs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    if sequence == "plateau" and kwargs.get("mode") != "max" and \
            kwargs.get("monitor") != "val_accuracy":
        assert ours[-1] < 0.1  # the comparison is not of constant rates


def test_with_a_schedule_scales_it_and_keeps_the_schedule():
    schedule = lt.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5)
    optimizer = lt.optimizers.Adam(schedule)
    action = ReduceLROnPlateau(patience=1, factor=0.5, min_lr=0.03, verbose=False)
    action.update(optimizer, 1.0)
    assert action.update(optimizer, 1.0) == pytest.approx(0.05)
    assert float(optimizer.learning_rate_scale.numpy()) == pytest.approx(0.5)
    # min_lr bounds the effective rate: 0.05 * 0.5 < 0.03.
    action.update(optimizer, 1.0)
    assert optimizer.next_learning_rate() == pytest.approx(0.03)
    action.update(optimizer, 1.0)  # at min_lr: no lower
    assert optimizer.next_learning_rate() == pytest.approx(0.03)
    assert optimizer.get_config()["learning_rate"] == schedule.get_config()


@pytest.mark.parametrize("kwargs,message", [
    ({"factor": 1.0}, "factor"), ({"factor": 0}, "factor"), ({"patience": -1}, "patience"),
    ({"patience": 1.5}, "patience"), ({"cooldown": True}, "cooldown"),
    ({"min_lr": -1}, "min_lr"), ({"mode": "up"}, "mode"), ({"min_delta": -1}, "min_delta"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ReduceLROnPlateau(**kwargs)


def trainer_for(run_dir=None, optimizer=None):
    return lt.Trainer(lt.dnn(784, (16,), 10, seed=0), optimizer=optimizer or lt.optimizers.SGD(0.1),
                      run_dir=run_dir, verbose=0, steps_per_call=4, xla=False)


def data(n=300):
    x, y = make_classification(n + 100)
    return (x[:n], y[:n]), (x[n:], y[n:])


def test_in_a_real_run_lowers_the_logged_rate_and_saves_its_state(tmp_path, capsys):
    train, val = data()
    trainer = trainer_for(tmp_path)
    trainer.verbose = 1
    # min_delta = 10: no epoch after the first improves, so the rate falls every 2 epochs.
    action = ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5, min_delta=10.0)
    history = trainer.fit(train, val, epochs=6, batch_size=50, actions=[action])
    assert history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert "learning rate 0.1 -> 0.05" in capsys.readouterr().out
    assert int(action.wait.numpy()) == 1 and int(action.cooldown_counter.numpy()) == 0
    keys = [k for k, _ in tf.train.list_variables(tf.train.latest_checkpoint(
        str(tmp_path / "checkpoints")))]
    for name in ("wait", "cooldown_counter", "best"):
        assert f"actions/reduce_lr_on_plateau/{name}/.ATTRIBUTES/VARIABLE_VALUE" in keys
    # Resumed in a new trainer: the state comes back from the checkpoint.
    again = ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5, min_delta=10.0)
    history = trainer_for(tmp_path).fit(train, val, epochs=7, batch_size=50, actions=[again])
    assert history["learning_rate"][-1] == pytest.approx(0.025)
    assert int(again.wait.numpy()) == 0  # 2 epochs of waiting: lowered to 0.0125 after epoch 7


SCRIPT = """
import sys
import numpy as np
import lowtf as lt
from lowtf.determinism import enable_determinism
enable_determinism(3)
data = np.load(sys.argv[2])
schedule = lt.optimizers.schedules.Warmup(5, after=lt.optimizers.schedules.CosineDecay(0.5, 80))
trainer = lt.Trainer(lambda: lt.dnn(784, (64,), 10, seed=3),
                     optimizer=lt.optimizers.SGD(schedule, momentum=0.5),
                     run_dir=sys.argv[1], steps_per_call=1)
trainer.fit((data["x"], data["y"]), (data["xv"], data["yv"]), epochs=8, batch_size=20,
            save_every_steps=4,
            actions=[lt.actions.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=0.05)])
"""


@pytest.mark.numerics
def test_resumes_exactly_after_a_kill(tmp_path):
    """With a schedule and ReduceLROnPlateau, killed twice mid-epoch: the same rates,
    losses and a bit-identical final checkpoint as an uninterrupted run."""
    x, y = make_classification(300, seed=4)
    # 10 steps an epoch: killed mid-epoch 3 and mid-epoch 6
    straight, killed, output = straight_and_killed(
        tmp_path, SCRIPT, dict(x=x[:200], y=y[:200], xv=x[200:], yv=y[200:]),
        kill_at=(23, 51))
    histories = [json.loads((d / "history.json").read_text()) for d in (straight, killed)]
    assert "learning rate" in output, f"the plateau never came: {histories[0]}"
    assert histories[1]["learning_rate"] == histories[0]["learning_rate"]
    assert histories[1]["val_loss"] == histories[0]["val_loss"]
    assert_same_checkpoint(tf.train.latest_checkpoint(str(straight / "checkpoints")),
                           tf.train.latest_checkpoint(str(killed / "checkpoints")))
