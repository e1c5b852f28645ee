"""The trainer: tracing, data paths, resume, early stopping, checkpoints and bad input."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_classification


def trainer_for(run_dir=None, seed=0, lr=0.05, hidden=(32,), **kw):
    # XLA fixed: tests here compare independent runs, and xla=None's timed choice could
    # differ between them on a busy machine (it is recorded for a resume of the same run).
    kw.setdefault("xla", True)
    model = lt.dnn(784, hidden, 10, seed=seed)
    return lt.Trainer(model, optimizer=lt.optimizers.SGD(lr), run_dir=run_dir, seed=seed, verbose=0,
                      eval_batch_size=64, **kw)


def weights(trainer):
    return trainer.model.get_weights()


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def test_training_learns_and_reports_history(small_data):
    train, val = small_data
    trainer = trainer_for()
    history = trainer.fit(train, val, epochs=4, batch_size=25)
    assert len(history["loss"]) == 4 and history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    assert history["step"] == [20, 40, 60, 80]
    assert trainer.evaluate(val)["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert trainer.predict(val[0]).shape == (200, 10)


@pytest.mark.parametrize("resident", [True, False])
def test_one_trace_for_a_whole_run(small_data, resident):
    (x, y), (xv, yv) = small_data
    trainer = trainer_for(steps_per_call=3, xla=None)
    # 500 examples in batches of 40: 12 steps per epoch, uneven calls of 3; 200 validation
    # examples in batches of 64 end with a partial batch of 8; the test set is smaller still.
    trainer.fit((x, y), (xv, yv), epochs=3, batch_size=40, resident=resident)
    trainer.evaluate((xv[:37], yv[:37]))
    trainer.predict(xv[:5])
    trainer.predict(xv)
    # xla=None: the XLA loop and the plain one, each traced once (the first steps time
    # both, lowtf.xla_choice); the tf.data pipeline's batches are buffered in chunks.
    assert trainer.train_traces == 2
    assert trainer.evaluator.trace_count == 1


def test_a_dataset_with_a_partial_last_batch_traces_once(small_data):
    (x, y), _ = small_data
    trainer = trainer_for(steps_per_call=4)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(30)  # 16 full + one of 20
    history = trainer.fit(dataset, epochs=2)
    assert trainer.train_traces == 1
    assert history["step"] == [17, 34]


@pytest.mark.numerics
def test_resident_and_tf_data_paths_give_the_same_weights(small_data):
    train, _ = small_data
    a, b = trainer_for(seed=3), trainer_for(seed=3)
    a.fit(train, epochs=2, batch_size=50, resident=True, shuffle=True)
    b.fit(train, epochs=2, batch_size=50, resident=False, shuffle=True)
    wa, wb = weights(a), weights(b)
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.numerics
def test_xla_and_plain_graph_agree(small_data):
    train, _ = small_data
    a, b = trainer_for(seed=4, xla=True), trainer_for(seed=4, xla=False)
    a.fit(train, epochs=1, batch_size=50)
    b.fit(train, epochs=1, batch_size=50)
    for key, value in weights(a).items():
        np.testing.assert_allclose(value, weights(b)[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.numerics
def test_uint8_and_float_inputs_train_identically():
    x8, y = make_classification(300, dtype=np.uint8)
    xf = x8.astype(np.float32) / 255.0
    a, b = trainer_for(seed=5), trainer_for(seed=5)
    a.fit((x8, y), epochs=1, batch_size=30)
    b.fit((xf, y), epochs=1, batch_size=30)
    # XLA fuses the uint8 scaling into the matmul: equal up to float32 rounding.
    for key, value in weights(a).items():
        np.testing.assert_allclose(value, weights(b)[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.numerics
def test_resume_continues_exactly_where_it_stopped(tmp_path, small_data):
    train, val = small_data
    straight = trainer_for(tmp_path / "straight")
    straight.fit(train, val, epochs=4, batch_size=50)
    first = trainer_for(tmp_path / "resumed")
    first.fit(train, val, epochs=2, batch_size=50)
    second = trainer_for(tmp_path / "resumed", seed=0)
    history = second.fit(train, val, epochs=4, batch_size=50)
    assert_same_weights(straight, second)
    assert history["step"] == [10, 20, 30, 40]
    assert history["val_accuracy"] == straight.history["val_accuracy"]
    assert int(second.optimizer.iterations.numpy()) == 40


@pytest.mark.numerics
def test_resume_mid_epoch_from_a_step_checkpoint(tmp_path, small_data):
    train, _ = small_data
    straight = trainer_for(tmp_path / "a", steps_per_call=2)
    straight.fit(train, epochs=2, batch_size=50)
    interrupted = trainer_for(tmp_path / "b", steps_per_call=2)
    interrupted.fit(train, epochs=1, batch_size=50, save_every_steps=4)
    # Pretend the run died at step 17: the newest checkpoint is the mid-epoch one at step 16
    # (checkpoints fall on multiples of save_every_steps: 12 and 16 in epoch 2).
    interrupted.fit(train, epochs=2, batch_size=50, save_every_steps=4)
    keeper_dir = tmp_path / "b" / "checkpoints"
    mid = [p for p in tf.train.get_checkpoint_state(str(keeper_dir)).all_model_checkpoint_paths
           if p.endswith("ckpt-16")]
    assert mid, "expected a mid-epoch checkpoint at step 16"
    resumed = trainer_for(tmp_path / "c", steps_per_call=2)
    resumed.checkpoint.restore(mid[0])
    assert int(resumed.state.position.numpy()) == 6
    resumed.keeper.save()
    shutil.copy(tmp_path / "b" / "history.json", tmp_path / "c")  # epoch 1's, and more
    resumed.fit(train, epochs=2, batch_size=50)
    assert_same_weights(straight, resumed)


def test_resume_with_a_different_configuration_is_refused(tmp_path, small_data):
    train, _ = small_data
    trainer_for(tmp_path).fit(train, epochs=1, batch_size=50)
    with pytest.raises(lt.CheckpointError, match="batch_size: checkpoint 50 vs now 25"):
        trainer_for(tmp_path).fit(train, epochs=2, batch_size=25)
    with pytest.raises(lt.CheckpointError, match="learning_rate"):
        trainer_for(tmp_path, lr=0.5).fit(train, epochs=2, batch_size=50)


def test_resume_into_a_different_architecture_names_the_variable(tmp_path, small_data):
    train, _ = small_data
    trainer_for(tmp_path).fit(train, epochs=1, batch_size=50)
    with pytest.raises(lt.CheckpointError,
                       match=r"dnn/hidden1/kernel has shape \[784, 32\] there but \[784, 16\]"):
        trainer_for(tmp_path, hidden=(16,)).fit(train, epochs=2, batch_size=50)


def test_resume_false_never_overwrites_checkpoints(tmp_path, small_data):
    train, _ = small_data
    first = trainer_for(tmp_path)
    first.fit(train, epochs=1, batch_size=50)
    before = sorted(os.listdir(tmp_path / "checkpoints"))
    with pytest.raises(lt.CheckpointError, match="never overwrites"):
        trainer_for(tmp_path).fit(train, epochs=1, batch_size=50, resume=False)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == before


def test_checkpoints_keep_the_last_n_and_the_best(tmp_path, small_data):
    train, val = small_data
    trainer = trainer_for(tmp_path, max_to_keep=2)
    trainer.fit(train, val, epochs=4, batch_size=50)
    state = tf.train.get_checkpoint_state(str(tmp_path / "checkpoints"))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-30", "ckpt-40"]
    best = tf.train.latest_checkpoint(str(tmp_path / "checkpoints" / "best"))
    best_epoch = int(np.argmax(trainer.history["val_accuracy"]))
    assert best.endswith(f"ckpt-{trainer.history['step'][best_epoch]}")
    keys = [k for k, _ in tf.train.list_variables(state.model_checkpoint_path)]
    assert any(k.startswith("optimizer/") for k in keys)
    assert "state/position/.ATTRIBUTES/VARIABLE_VALUE" in keys
    with open(tmp_path / "history.json") as f:
        assert json.load(f)["val_accuracy"] == trainer.history["val_accuracy"]


def test_early_stopping_stops_after_patience_and_restores_the_best(tmp_path, small_data):
    train, val = small_data
    trainer = trainer_for(tmp_path, lr=1e-9)  # nothing improves after the first epoch
    history = trainer.fit(train, val, epochs=20, batch_size=50,
                          early_stopping=lt.actions.EarlyStopping(monitor="val_loss", patience=2,
                                                          min_delta=0.01))
    assert len(history["loss"]) == 3
    resumed = trainer_for(tmp_path, lr=1e-9)
    again = resumed.fit(train, val, epochs=20, batch_size=50,
                        early_stopping=lt.actions.EarlyStopping(monitor="val_loss", patience=2,
                                                        min_delta=0.01))
    assert len(again["loss"]) == 3, "a stopped run stays stopped when resumed"


def test_monitor_rejects_unknown_metrics_and_bad_settings(small_data):
    train, _ = small_data
    with pytest.raises(lt.ConfigError, match="cannot monitor 'val_accuracy'"):
        trainer_for().fit(train, epochs=1, batch_size=50, early_stopping=lt.actions.EarlyStopping())
    with pytest.raises(lt.ConfigError, match="patience"):
        lt.actions.EarlyStopping(patience=0)
    with pytest.raises(lt.ConfigError, match="mode"):
        lt.actions.Monitor(mode="up")


@pytest.mark.numerics
def test_non_finite_loss_stops_at_the_step_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                              small_data):
    (x, _), _ = small_data
    train = (x, x.sum(axis=1) / 784)               # a regression, so divergence is geometric
    model = lt.Network(784, [("outputs", 1, None)], seed=0)
    trainer = lt.Trainer(model, loss="mse", optimizer=lt.optimizers.SGD(1e-4), metrics=(),
                         run_dir=tmp_path, verbose=0, steps_per_call=1)
    trainer.fit(train, epochs=1, batch_size=50)
    good = trainer.keeper.latest
    good_weights = model.get_weights()
    trainer.optimizer.learning_rate.assign(10.0)   # each step now multiplies the error
    with pytest.raises(lt.NonFiniteLossError, match=r"at step (\d+).*ckpt-10") as info:
        trainer.fit(train, epochs=5, batch_size=50)
    bad = info.value.step
    assert bad == int(trainer.state.step.numpy()) + 1 and bad > 10
    assert all(np.isfinite(w).all() for w in model.get_weights().values())
    assert trainer.keeper.latest == good
    restored = lt.restore(good)
    for key, value in restored.model.get_weights().items():
        np.testing.assert_array_equal(value, good_weights[key])


@pytest.mark.numerics
def test_nan_in_a_dataset_is_reported_as_a_non_finite_loss(small_data):
    (x, y), _ = small_data
    x = x.copy()
    x[130] = np.nan
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(50)
    trainer = trainer_for()
    with pytest.raises(lt.NonFiniteLossError, match="at step 3"):
        trainer.fit(dataset, epochs=1)


def test_bad_arrays_are_refused_before_training(small_data):
    (x, y), _ = small_data
    trainer = trainer_for()
    with pytest.raises(lt.DataError, match="label 12"):
        trainer.fit((x, np.where(y == 3, 12, y)), epochs=1)
    with pytest.raises(lt.DataError, match="NaN"):
        bad = x.copy()
        bad[0, 0] = np.inf
        trainer.fit((bad, y), epochs=1)
    with pytest.raises(lt.DataError, match="takes 784"):
        trainer.fit((x[:, :100], y), epochs=1)
    with pytest.raises(lt.DataError, match="float64"):
        trainer.fit((x.astype(np.float64), y), epochs=1)
    with pytest.raises(lt.DataError, match=r"\(x, y\) pair"):
        trainer.fit(x, epochs=1)
    with pytest.raises(lt.ConfigError, match="batch_size 1000 exceeds"):
        trainer.fit((x, y), epochs=1, batch_size=1000)
    with pytest.raises(lt.ConfigError, match="epochs"):
        trainer.fit((x, y), epochs=0)
    assert int(trainer.state.step.numpy()) == 0


def test_bad_labels_in_a_dataset_become_a_data_error(small_data):
    (x, y), _ = small_data
    dataset = tf.data.Dataset.from_tensor_slices((x, np.where(y == 3, 12, y))).batch(50)
    with pytest.raises(lt.DataError, match=r"label 12 outside \[0, 10\)"):
        trainer_for().fit(dataset, epochs=1)


def test_unwritable_run_directory_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(lt.ConfigError, match="cannot write the logs"):
        trainer_for(blocker / "run")


def test_trainer_accepts_a_model_builder_and_a_metric_list(small_data):
    train, val = small_data
    trainer = lt.Trainer(lambda: lt.dnn(784, (16,), 10, seed=0), optimizer="adam",
                         metrics=("accuracy", "top3_accuracy"), verbose=0)
    history = trainer.fit(train, val, epochs=1, batch_size=50)
    assert history["val_top3_accuracy"][0] >= history["val_accuracy"][0]
    with pytest.raises(lt.ConfigError, match="given twice"):
        lt.Trainer(lt.dnn(784, (4,), 10), metrics=("accuracy", "accuracy"))


def test_xor_single_layer_fails_and_two_two_one_sigmoid_succeeds():
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "experiments", "xor.py")
    spec = importlib.util.spec_from_file_location("xor_experiment", path)
    xor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(xor)
    _, single = xor.train_xor(hidden_units=0, steps=500, epochs=2)
    _, hidden = xor.train_xor(hidden_units=2)
    assert single <= 0.75
    assert hidden == 1.0


def test_xla_falls_back_with_a_warning_when_an_op_cannot_compile(small_data):
    train, _ = small_data

    def host_loss(labels, logits):  # py_function runs in Python: no XLA kernel
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return tf.reshape(tf.py_function(lambda v: v, [ce], tf.float32), [-1])

    auto = lt.Trainer(lt.dnn(784, (8,), 10, seed=0), loss=host_loss, verbose=0)
    with pytest.warns(UserWarning, match="XLA cannot compile"):
        history = auto.fit(train, epochs=1, batch_size=50)
    assert history["step"] == [10]
    forced = lt.Trainer(lt.dnn(784, (8,), 10, seed=0), loss=host_loss, xla=True, verbose=0)
    with pytest.raises(Exception):
        forced.fit(train, epochs=1, batch_size=50)


def test_fitting_again_on_the_same_arrays_reuses_the_traced_loop(small_data):
    (x, y), _ = small_data
    trainer = trainer_for(xla=False)
    for epochs in (1, 2, 3):
        trainer.fit((x, y), epochs=epochs, batch_size=50)
    assert trainer.train_traces == 1
    trainer.fit((x.copy(), y), epochs=4, batch_size=50)   # other arrays: a new feed
    assert trainer.train_traces == 2
    trainer.fit((x.copy(), y), epochs=5, batch_size=25)
    assert trainer.train_traces == 3


def test_the_resident_loop_count_is_not_a_compile_time_constant():
    # A tf.range loop feeds `steps` into the While op's maximum_iterations, which XLA
    # compiles as a constant: every new steps value (an epoch's last, shorter call)
    # recompiled the loop. The loop must keep maximum_iterations a fixed constant.
    x, y = make_classification(100)
    trainer = trainer_for(hidden=(8,))
    trainer.loop.build(trainer.data.feed((x, y), 50, True, None), xla=True)
    graph = trainer.loop.concrete_function().graph
    loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    assert loops
    for loop in loops:
        assert loop.inputs[1].op.type == "Const", loop.inputs[1].op.name
