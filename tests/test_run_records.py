"""What a resumed or failing run keeps straight: its settings, its history, its verdict.

Resuming with other early-stopping settings is refused; a lost or garbage history.json
is rebuilt from the TensorBoard logs (or refused when they cannot rebuild it); a run
that skips most of its steps has failed; the JSON files a run writes are strict JSON.
"""

import json
import math

import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_prototype_data
from lowtf import history as run_history
from lowtf.storage import write_json

TRAIN, VALIDATION = make_prototype_data(n=160, n_train=100, noise=0.35, seed=4)
TIMING = ("epoch_time", "examples_per_second")


def make_trainer(run_dir, lr=0.01):
    # Per-step points every 2 steps, some at an epoch's last step: the history is rebuilt
    # from the epochs' points alone.
    return lt.Trainer(lt.dnn(784, (8,), 10, seed=3), optimizer=lt.optimizers.SGD(lr), run_dir=run_dir,
                      seed=5, verbose=0, xla=False, steps_per_call=2, eval_batch_size=100,
                      log_every_steps=2)


def fit(trainer, epochs, early_stopping=None, **kw):
    return trainer.fit(TRAIN, VALIDATION, epochs=epochs, batch_size=20,
                       early_stopping=early_stopping, **kw)


# ---- early stopping is part of the run's configuration ----------------------------------

@pytest.mark.parametrize("now", [None, lt.actions.EarlyStopping(patience=4),
                                 lt.actions.EarlyStopping(monitor="val_loss", patience=3)])
def test_resuming_with_other_early_stopping_is_refused(tmp_path, now):
    fit(make_trainer(tmp_path), 1, lt.actions.EarlyStopping(patience=3))
    with pytest.raises(lt.CheckpointError, match=r"different configuration \(early_stopping: "
                                                 r"checkpoint .*patience.*3.* vs now"):
        fit(make_trainer(tmp_path), 2, now)
    history = fit(make_trainer(tmp_path), 2, lt.actions.EarlyStopping(patience=3))  # same: resumes
    assert history["epoch"] == [1, 2]


# ---- history.json -----------------------------------------------------------------------

def without_timing(history):
    return {k: v for k, v in history.items() if k not in TIMING}


def assert_close(rebuilt, original):
    assert sorted(rebuilt) == sorted(original)
    for key, values in original.items():
        assert rebuilt[key] == pytest.approx(values, rel=1e-6), key


@pytest.mark.parametrize("damage", ["missing", "garbage", "not-a-history", "too-short",
                                    "missing-after-a-lost-checkpoint"])
def test_a_lost_history_is_rebuilt_from_the_tensorboard_logs(tmp_path, damage):
    straight = fit(make_trainer(tmp_path / "straight"), 3, save_every_steps=3)
    lost_checkpoint = damage == "missing-after-a-lost-checkpoint"
    fit(make_trainer(tmp_path / "run"), 3 if lost_checkpoint else 2, save_every_steps=3)
    path = tmp_path / "run" / "history.json"
    if lost_checkpoint:  # epoch 3 is in the logs, but the run resumes from step 12
        path.unlink()
        prefix = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
        assert prefix.endswith("ckpt-15")
        with open(prefix + ".data-00000-of-00001", "r+b") as f:
            f.truncate(10)
    elif damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\x00{not json")
    elif damage == "not-a-history":
        path.write_text('{"loss": [1], "x": "__import__(\'os\')"}')
    else:
        path.write_text(json.dumps({k: v[:1] for k, v in json.loads(path.read_text()).items()}))
    with pytest.warns(UserWarning, match=r"history.json .*rebuilt .*2 epochs .*TensorBoard"):
        resumed = fit(make_trainer(tmp_path / "run"), 3, save_every_steps=3)
    assert_close(without_timing(resumed), without_timing(straight))
    assert_close(without_timing(run_history.read(tmp_path / "run")), without_timing(straight))


def test_a_lost_history_without_logs_to_rebuild_it_is_refused(tmp_path):
    fit(make_trainer(tmp_path), 2)
    (tmp_path / "history.json").write_text("[]")
    for split in ("train", "validation"):
        for event_file in (tmp_path / split).iterdir():
            event_file.unlink()
    with pytest.raises(lt.CheckpointError, match=r"history.json .*not a lowtf history.*"
                                                 r"cannot be rebuilt.*Put back"):
        fit(make_trainer(tmp_path), 3)


# ---- a run that skips most of its steps has failed --------------------------------------

@pytest.mark.numerics
def test_skipping_most_steps_is_a_failure_not_a_success(tmp_path):
    trainer = make_trainer(tmp_path, lr=1e30)
    with pytest.raises(lt.NonFiniteLossError, match=r"skipped \d+ of the 5 steps of epoch 1 "
                                                   r"\(\d+%\).*more than half.*Lower the "
                                                   r"learning rate") as info:
        fit(trainer, 2, skip_nonfinite=True)
    assert "Last good checkpoint: none written yet" in str(info.value)
    assert trainer.keeper.best is None and trainer.keeper.latest is None


def test_a_nan_validation_loss_never_makes_a_best_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.evaluator = lambda data, n_classes: {"loss": math.nan, "accuracy": 0.5}
    history = fit(trainer, 1)
    assert trainer.keeper.best is None and trainer.keeper.latest
    assert math.isnan(history["val_loss"][0])
    text = (tmp_path / "history.json").read_text()
    assert '"val_loss": [null]' in text
    assert math.isnan(run_history.read(tmp_path)["val_loss"][0])


def test_json_files_are_strict_json(tmp_path):
    path = tmp_path / "results.json"
    write_json(path, {"test": {"loss": math.nan, "accuracy": 0.0}, "curve": [1.0, math.inf],
                      "nested": [{"a": -math.inf}]})

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {
        "test": {"loss": None, "accuracy": 0.0}, "curve": [1.0, None], "nested": [{"a": None}]}


# ---- the test accuracy reported is the best checkpoint's --------------------------------

class ZeroTheWeightsBeforeEpoch3(lt.actions.Action):
    def on_epoch_start(self, run):
        if run.epoch == 2:  # the last epoch trains from zeros: the best is epoch 2
            for variable in run.model.trainable_variables:
                variable.assign(tf.zeros_like(variable))


def test_an_experiment_reports_the_test_accuracy_of_the_checkpoint_it_names(tmp_path):
    from fake_data import write_fake_fashion_mnist
    data_dir = write_fake_fashion_mnist(tmp_path / "data")
    experiment = lt.Experiment(hidden=(16,), epochs=3, patience=None, learning_rate=0.1,
                               data_dir=str(data_dir), run_dir=str(tmp_path / "run"),
                               xla=False, image_summaries=False,
                               actions=(ZeroTheWeightsBeforeEpoch3(),))
    results = lt.run_experiment(experiment, verbose=0)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["val_accuracy"][2] < max(history["val_accuracy"][:2])
    assert results["checkpoint"].endswith(f"best/ckpt-{history['step'][1]}")
    data = lt.load_dataset("fashion_mnist", data_dir=str(data_dir), raw=True)
    again = lt.restore(tmp_path / "run").evaluate(data.test.images, data.test.labels)
    assert results["test"] == pytest.approx(again, rel=1e-6)


def test_a_resumed_experiment_counts_the_training_time_of_its_earlier_calls(tmp_path):
    from fake_data import write_fake_fashion_mnist
    experiment = lt.Experiment(hidden=(16,), epochs=2, patience=None, xla=False,
                               data_dir=str(write_fake_fashion_mnist(tmp_path / "data")),
                               run_dir=str(tmp_path / "run"), image_summaries=False)
    first = lt.run_experiment(experiment, verbose=0)["train_seconds"]
    again = lt.run_experiment(experiment, verbose=0)["train_seconds"]  # nothing left to train
    assert again >= first > 0
    more = lt.run_experiment(experiment.replace(epochs=3), verbose=0)["train_seconds"]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["loss"]) == 3 and more >= again + history["epoch_time"][2]


def test_best_values_skip_non_finite_epochs():
    history = {"loss": [1.0, 0.5, 0.4], "val_loss": [0.9, math.nan, math.inf],
               "val_accuracy": [0.5, math.nan, 0.7], "val_top3_accuracy": [math.nan] * 3,
               "accuracy": [0.1, 0.9, 0.95]}
    assert run_history.best_values(history) == {"best_val_loss": 0.9,
                                                "best_val_accuracy": 0.7}
