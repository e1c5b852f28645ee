"""Hostile input that used to hang, crash with a raw traceback, get a vague message or be
accepted silently (issue 9): each case now ends in a `LowtfError` naming the value and the
fix, fast, or in a warning where the input may be legitimate."""

import argparse
import json
import re
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf import cli
from lowtf.cli.arguments import layer_sizes
from lowtf.distribute import make_strategy
from lowtf.experiment import load_experiment
from lowtf.inputs import check_features
from lowtf.sweep import load_target, normalize


def one_line_error(argv, capsys):
    """Runs the CLI in this process; returns its single stderr line (exit status 2)."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lowtf {argv[0]}: error: "), err
    return err[0]


@pytest.fixture
def no_training(monkeypatch):
    """`lowtf train` validates its arguments but trains nothing."""
    started = []
    monkeypatch.setattr("lowtf.experiment.run_experiment",
                        lambda experiment, verbose=1: started.append(experiment) or
                        {"test": {"accuracy": 0.5}})
    return started


# ---- 1. --devices is checked before any logical device is made -----------------------------

def test_a_huge_device_count_is_refused_at_once(no_training, capsys):
    start = time.perf_counter()
    line = one_line_error(["train", "--strategy", "mirrored", "--devices", "100000"], capsys)
    assert time.perf_counter() - start < 1.0
    assert "devices 100000" in line and "batch" in line
    with pytest.raises(lt.ConfigError, match="devices 64 .*divide.* batch_size 100"):
        lt.Experiment(strategy="mirrored", devices=64, batch_size=100)
    with pytest.raises(lt.ConfigError, match="devices 4096 .*at most"):
        lt.Experiment(strategy="mirrored", devices=4096, batch_size=4096)
    for bad in (0, -2, True, 2.0):
        with pytest.raises(lt.ConfigError, match="devices"):
            lt.Experiment(strategy="mirrored", devices=bad)
    assert lt.Experiment(strategy="mirrored", devices=5, batch_size=50).devices == 5


def test_make_strategy_checks_devices_before_making_them():
    start = time.perf_counter()
    with pytest.raises(lt.ConfigError, match="devices 1000 .* batch_size 50"):
        make_strategy("mirrored", devices=1000, batch_size=50)
    with pytest.raises(lt.ConfigError, match="at most"):
        make_strategy("mirrored", devices=100000)
    assert time.perf_counter() - start < 1.0


# ---- 2. experiment files: one line for what is wrong with the file, the user's own errors
# ---- pass through ----------------------------------------------------------------------------

GOOD = "import lowtf\nexperiment = lowtf.Experiment(name='from_file', epochs=2)\n"


def test_an_experiment_file_without_py_is_refused_by_name(tmp_path, capsys):
    path = tmp_path / "dir" / "file_without_ext"
    path.parent.mkdir()
    path.write_text(GOOD)
    with pytest.raises(lt.ConfigError, match=r"file_without_ext.* not a \.py file"):
        load_experiment(str(path))
    with pytest.raises(lt.ConfigError, match=r"not a \.py file"):
        load_target(str(path))
    with pytest.raises(lt.ConfigError, match="does not exist"):
        load_experiment(str(tmp_path / "missing" / "file"))
    with pytest.raises(lt.ConfigError, match="is a folder"):
        load_experiment(str(tmp_path / "dir") + "/")
    assert "not a .py file" in one_line_error(["train", str(path)], capsys)
    (tmp_path / "good.py").write_text(GOOD)
    assert load_experiment(str(tmp_path / "good.py")).name == "from_file"


def test_a_syntax_error_is_one_line_with_file_and_line(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("import lowtf\nexperiment = lowtf.Experiment(epochs=2\nx = 1\n")
    with pytest.raises(lt.ConfigError, match=rf"syntax error in {path}, line \d: "):
        load_experiment(str(path))
    with pytest.raises(lt.ConfigError, match=rf"syntax error in {path}"):
        load_target(str(path))
    line = one_line_error(["train", str(path)], capsys)
    assert str(path) in line and "line" in line


def test_errors_of_the_experiment_code_itself_pass_through(tmp_path):
    raising = tmp_path / "raising.py"
    raising.write_text("raise KeyError('the user wrote this')\n")
    with pytest.raises(KeyError, match="the user wrote this"):
        load_experiment(str(raising))
    importing = tmp_path / "importing.py"
    importing.write_text("import lowtf_no_such_package_xyz\n")
    with pytest.raises(ModuleNotFoundError, match="lowtf_no_such_package_xyz"):
        load_experiment(str(importing))
    with pytest.raises(lt.ConfigError, match="no experiment 'lowtf_no_such_module_xyz'"):
        load_experiment("lowtf_no_such_module_xyz")


# ---- 3. tf.data input: what is wrong with it, said before training ---------------------------

X = np.random.default_rng(0).random((20, 4)).astype(np.float32)
Y = (np.arange(20) % 3).astype(np.int32)


def tiny_trainer():
    return lt.Trainer(lt.Network(4, [("hidden", 5, "relu"), ("outputs", 3, None)], seed=1),
                      optimizer=lt.optimizers.SGD(0.01), metrics=(), verbose=0, xla=False,
                      steps_per_call=4)


def batches(x=X, y=Y, size=5):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(size)


@pytest.mark.parametrize("name, data, message", [
    ("unbatched", tf.data.Dataset.from_tensor_slices((X, Y)), r"unbatched.*\.batch\("),
    ("empty", batches().take(0), "empty"),
    ("strings", batches(np.array(["a"] * 20)), "features have dtype string"),
    ("string labels", batches(y=np.array(["a"] * 20)), "labels have dtype string"),
    ("float labels", batches(y=Y.astype(np.float32)), "labels have dtype float32.*integer"),
    ("returns None", lambda epoch: None, "returned None.*tf.data.Dataset"),
    ("width", batches(np.zeros((20, 5), np.float32)),
     "inputs have 5 features, the model takes 4"),
])
def test_a_dataset_the_model_cannot_take_is_refused_up_front(name, data, message):
    trainer = tiny_trainer()
    with pytest.raises(lt.DataError, match=message):
        trainer.fit(data, epochs=1)
    assert int(trainer.state.step.numpy()) == 0


def test_a_dataset_that_turns_out_empty_is_an_error():
    with pytest.raises(lt.DataError, match="no batches"):
        tiny_trainer().fit(batches().filter(lambda x, y: False), epochs=1)


def test_labels_out_of_range_or_a_dynamic_width_are_named():
    with pytest.raises(lt.DataError, match=r"label 12 outside \[0, 3\)"):
        tiny_trainer().fit(batches(y=Y + 10), epochs=1)
    with pytest.raises(lt.DataError, match=r"label 12 outside \[0, 3\)"):
        tiny_trainer().evaluate(batches(y=Y + 10))
    dynamic = tf.data.Dataset.from_generator(
        lambda: iter([(np.zeros((5, 5), np.float32), Y[:5])]),
        output_signature=(tf.TensorSpec([None, None], tf.float32),
                          tf.TensorSpec([None], tf.int32)))
    with pytest.raises(lt.DataError, match="25 input values .* 4 features"):
        tiny_trainer().fit(dynamic, epochs=1)


# ---- 4. lowtf plot -o: an image name, never over something else -------------------------------

def fake_run(path):
    path.mkdir(parents=True)
    (path / "history.json").write_text(json.dumps(
        {"epoch": [1, 2], "loss": [1.0, 0.5], "accuracy": [0.5, 0.7],
         "val_loss": [1.1, 0.6], "val_accuracy": [0.4, 0.6]}))
    return str(path)


def test_plot_output_must_be_an_image_name_and_never_replaces_other_files(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = fake_run(tmp_path / "run")
    checkpoint = tmp_path / "checkpoint"
    line = one_line_error(["plot", run, "-o", str(checkpoint)], capsys)
    assert ".png" in line and not (tmp_path / "checkpoint.png").exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(lt.ConfigError, match=r"notes\.txt.*\.png"):
        lt.plot.plot_runs(run, notes)
    fake_png = tmp_path / "data.png"
    fake_png.write_text("not an image")
    with pytest.raises(lt.ConfigError, match="exists and is not a PNG"):
        lt.plot.plot_runs(run, fake_png)
    assert notes.read_text() == "my notes" and fake_png.read_text() == "not an image"
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(lt.ConfigError, match="is a folder"):
        lt.plot.plot_runs(run, folder)
    svg = tmp_path / "curves.svg"
    assert cli.main(["plot", run, "-o", str(svg)]) == 0
    assert capsys.readouterr().out.strip() == f"Wrote {svg}"
    assert svg.read_text().lstrip().startswith("<?xml")
    assert lt.plot.plot_runs(run, svg) == str(svg)  # an image of its own kind may be replaced


# ---- 5. values that would silently change meaning --------------------------------------------

@pytest.mark.parametrize("value, becomes", [(1e-50, "0.0"), (1e39, "inf"), (1e-40, "0.0")])
def test_a_learning_rate_float32_cannot_hold_is_refused_naming_it(value, becomes, no_training,
                                                                  capsys):
    pattern = rf"learning_rate {re.escape(repr(value))} .*float32.*{becomes}"
    for make in (lt.optimizers.SGD, lt.optimizers.Adam, lambda v: lt.Experiment(learning_rate=v),
                 lambda v: normalize("learning_rate", str(v))):
        with pytest.raises(lt.ConfigError, match=pattern):
            make(value)
    optimizer = lt.optimizers.SGD(0.01)
    with pytest.raises(lt.ConfigError, match=pattern):
        optimizer.learning_rate = value
    with pytest.raises(lt.ConfigError, match=r"epsilon 1e-50 .*float32"):
        lt.optimizers.Adam(epsilon=1e-50)
    line = one_line_error(["train", "--learning-rate", str(value)], capsys)
    assert repr(value) in line and not no_training
    assert lt.optimizers.SGD(1e-30).get_config()["learning_rate"] == 1e-30


@pytest.mark.parametrize("text", ["300,,100", "300,", ",300", "300, ,100"])
def test_a_layer_list_with_an_empty_item_is_refused(text, no_training, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match="empty"):
        layer_sizes(text)
    with pytest.raises(SystemExit):  # argparse: one usage line, then the error
        cli.main(["train", "--layers", text])
    assert "empty" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not no_training
    assert layer_sizes("300, 100") == (300, 100)


@pytest.mark.parametrize("text", ["300--100", "300-", "-300", "300,,100", "300 - - 100"])
def test_a_swept_layer_list_with_an_empty_item_is_refused(text):
    with pytest.raises(lt.ConfigError, match="empty"):
        normalize("hidden", text)
    assert normalize("hidden", "300-100") == normalize("hidden", "300x100") == (300, 100)


def test_empty_items_in_sweep_values_are_refused(tmp_path, capsys):
    line = one_line_error(["sweep", "--grid", "lr=0.01,,0.1", "--report", "--logdir",
                           str(tmp_path)], capsys)
    assert "empty" in line and "lr=0.01,,0.1" in line


def test_float_images_in_0_255_get_a_warning_naming_the_range_and_the_fix():
    from lowtf.inputs import InputScaleWarning

    images = np.random.default_rng(0).integers(0, 256, (30, 784)).astype(np.float32)
    labels = np.arange(30) % 10
    with pytest.warns(InputScaleWarning, match=r"range up to 255\.0.*divide by 255"):
        check_features(images, 784)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_features(images / 255, 784)  # [0, 1]: what the model is trained on
        standardized = (images - images.mean(0)) / (images.std(0) + 1e-6)
        check_features(standardized.astype(np.float32), 784)
        check_features(images.astype(np.uint8), 784)
        check_features(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32), 2)  # XOR
    model = lt.dnn(784, (8,), 10, seed=0)
    predictor = lt.Predictor(model)
    with pytest.warns(InputScaleWarning):
        predictor.predict(images)
    with pytest.warns(InputScaleWarning):
        predictor.evaluate(images, labels)
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=0), optimizer=lt.optimizers.SGD(1e-4), verbose=0,
                         xla=False, metrics=())
    with pytest.warns(InputScaleWarning, match="training features"):
        trainer.fit((images, labels), epochs=1, batch_size=10)
