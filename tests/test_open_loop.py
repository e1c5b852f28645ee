"""Bring your own model: a plain `tf.Module` CNN (not a lowtf Network) through every path.

`experiments/custom_cnn.py` is the model: two convolutions, max pooling, dropout behind
`training`, a dense head, built from `tf.Variable`s. It trains from the Python API on
images shaped `[n, 28, 28, 1]` and `[n, 28, 28]`, and from its experiment file through
`lowtf train` on the real Fashion-MNIST; the run then restores in fresh processes (with
the model given, and without: the run recorded its builder), evaluates, exports (and
TensorFlow's `saved_model_cli run` answers) and predicts a PNG. Killed with SIGKILL and
resumed in deterministic mode, it ends bit for bit where an uninterrupted run ends.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf.experiment import load_module
from test_actions import Counter
from test_resume import Runs, assert_same_checkpoint, committed_step, finish, kill, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN_FILE = os.path.join(REPO, "experiments", "custom_cnn.py")
BIN = os.path.join(sys.prefix, "bin")
LOWTF = [sys.executable, "-m", "lowtf.cli"]
SAVED_MODEL_CLI = os.path.join(BIN, "saved_model_cli")
ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cnn_module():
    return load_module(CNN_FILE)


def run(args, cwd=None, timeout=600):
    result = subprocess.run(args, capture_output=True, text=True, env=ENV, cwd=cwd,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# ---- the Python API --------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(28, 28, 1), (28, 28)])
def test_a_cnn_of_its_own_trains_from_the_api_on_real_images(fashion_mnist, shape, tmp_path):
    module = cnn_module()
    x = fashion_mnist.train.images[:3000].reshape(-1, *shape)
    y = fashion_mnist.train.labels[:3000]
    xv = fashion_mnist.validation.images[:1000].reshape(-1, *shape)
    yv = fashion_mnist.validation.labels[:1000]
    trainer = lt.Trainer(module.cnn, optimizer=lt.optimizers.Adam(0.001), run_dir=tmp_path / "run",
                         verbose=0, xla=False)
    history = trainer.fit((x, y), (xv, yv), epochs=2, batch_size=50)
    assert history["val_accuracy"][-1] > 0.7, history
    assert trainer.input_spec == {"shape": list(shape), "dtype": "uint8"}
    # The run recorded how to build the model: restore needs nothing else.
    restored = lt.restore(tmp_path / "run")
    assert type(restored.model).__name__ == "CNN"
    np.testing.assert_allclose(restored.logits(xv[:50]), trainer.predict(xv[:50]), atol=1e-5)
    assert restored.evaluate(xv, yv)["accuracy"] == pytest.approx(
        trainer.evaluate((xv, yv))["accuracy"])
    # A second run of the same script resumes (the model check works for any model).
    again = lt.Trainer(module.cnn, optimizer=lt.optimizers.Adam(0.001), run_dir=tmp_path / "run",
                       verbose=0, xla=False)
    assert again.fit((x, y), (xv, yv), epochs=3, batch_size=50)["epoch"] == [1, 2, 3]


class Strict(tf.Module):
    """Takes exactly `[batch, 28, 28, 1]`, nothing else."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.ones([784, 10]) * 0.01)

    def __call__(self, x):
        x = tf.ensure_shape(x, [None, 28, 28, 1])
        return tf.reshape(x, [-1, 784]) @ self.w


def test_images_in_another_layout_take_the_shape_the_run_trained_on():
    images = np.random.default_rng(0).integers(0, 255, (3, 28, 28), dtype=np.uint8)
    spec = {"shape": [28, 28, 1], "dtype": "uint8"}
    predictor = lt.Predictor(Strict(), input_spec=spec)  # a PNG's [n, 28, 28] becomes [n, 28, 28, 1]
    np.testing.assert_allclose(predictor.logits(images),
                               lt.Predictor(Strict()).logits(images[..., None]), atol=1e-6)
    assert predictor.n_classes(images) == 10
    with pytest.raises(ValueError):
        lt.Predictor(Strict()).logits(images)  # without the run's shape: the model's own error


def test_dropout_sees_training_only_in_training_steps():
    module = cnn_module()
    model = module.cnn(dropout=0.5)
    x = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    assert np.array_equal(model(x, training=False), model(x, training=False))
    assert not np.array_equal(model(x, training=True), model(x, training=True))
    predictor = lt.Predictor(model)
    np.testing.assert_array_equal(predictor.logits(x), predictor.logits(x))


def test_a_checkpoint_of_another_model_is_refused_by_name(tmp_path):
    module = cnn_module()
    x, y = np.zeros((100, 28, 28), np.uint8), np.arange(100) % 10
    lt.Trainer(module.cnn, run_dir=tmp_path, verbose=0, xla=False).fit((x, y), batch_size=50)
    with pytest.raises(lt.CheckpointError, match=r"variable dense has shape \[784, 64\] there "
                                                 r"but \[784, 32\]"):
        lt.restore(tmp_path, model=module.cnn(units=32))
    with pytest.raises(lt.CheckpointError, match="different model"):
        lt.Trainer(lambda: module.cnn(units=32), run_dir=tmp_path, verbose=0).fit(
            (x, y), batch_size=50)


def test_a_model_built_by_a_lambda_restores_only_when_given(tmp_path):
    module = cnn_module()
    x, y = np.zeros((100, 28, 28), np.uint8), np.arange(100) % 10
    lt.Trainer(lambda: module.cnn(), run_dir=tmp_path, verbose=0, xla=False).fit(
        (x, y), batch_size=50)
    with pytest.raises(lt.CheckpointError, match=r"recorded no way to rebuild it.*"
                                                 r"lt.restore\(path, model=\.\.\.\)"):
        lt.restore(tmp_path)
    assert lt.restore(tmp_path, model=module.cnn).n_classes() == 10


# ---- an experiment file through the command line, on the real Fashion-MNIST ---------------

@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("custom_cnn")
    result = run([*LOWTF, "train", CNN_FILE, "--epochs", "1", "--run-dir", str(work / "run")],
                 cwd=work)
    return work, work / "run", result


def test_the_experiment_file_trains_through_the_cli(cli_run):
    _, run_dir, result = cli_run
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test"]["accuracy"] > 0.8, result.stdout
    assert results["experiment"]["model"].endswith("custom_cnn.py:cnn")
    assert "XLA o" in result.stdout  # the measured choice is said
    config = lt.checkpoints.read_config(results["checkpoint"])
    assert config["builder"] == {"function": f"{CNN_FILE}:cnn",
                                 "arguments": {"units": 64}}
    assert config["inputs"] == {"shape": [28, 28], "dtype": "uint8"}


RESTORE = r"""
import sys, numpy as np, lowtf as lt
from lowtf.experiment import load_module
data = lt.load_dataset("fashion_mnist", raw=True)
model = load_module(sys.argv[2]).cnn() if len(sys.argv) > 2 else None
predictor = lt.restore(sys.argv[1], model=model)
print(predictor.evaluate(data.test.images, data.test.labels)["accuracy"])
"""


@pytest.mark.parametrize("given", [False, True])
def test_the_run_restores_in_a_fresh_process(cli_run, given):
    work, run_dir, _ = cli_run
    results = json.loads((run_dir / "results.json").read_text())
    args = [sys.executable, "-c", RESTORE, str(run_dir)] + ([CNN_FILE] if given else [])
    accuracy = float(run(args, cwd=work).stdout.split()[-1])
    assert accuracy == pytest.approx(results["test"]["accuracy"], abs=1e-6)


def test_the_run_evaluates_exports_and_predicts_from_the_cli(cli_run, fashion_mnist):
    work, run_dir, _ = cli_run
    results = json.loads((run_dir / "results.json").read_text())
    evaluated = run([*LOWTF, "evaluate", str(run_dir)], cwd=work).stdout
    assert f"{results['test']['accuracy']:.4f}" in evaluated
    summary = run([*LOWTF, "summary", str(run_dir)], cwd=work).stdout
    assert "conv1" in summary and "[3, 3, 1, 8]" in summary
    assert "Total trainable parameters: 52,138" in summary
    run([*LOWTF, "export", str(run_dir), str(work / "export")], cwd=work)
    info = json.loads((work / "export" / "assets.extra" / "lowtf_export.json").read_text())
    assert "[batch, 28, 28]" in info["signatures"]["serving_default"]
    images = fashion_mnist.test.images[:8]
    np.save(work / "images.npy", images)
    answer = run([SAVED_MODEL_CLI, "run", "--dir", str(work / "export"), "--tag_set", "serve",
                  "--signature_def", "serving_default",
                  "--inputs", f"images={work / 'images.npy'}"], cwd=work).stdout
    ids = [int(v) for v in answer.split("class_ids")[1].split("[")[1].split("]")[0].split()]
    predictor = lt.restore(run_dir)
    assert ids == predictor.predict(images).tolist()
    png = work / "shirt.png"
    tf.io.write_file(str(png), tf.io.encode_png(images[0][..., None]))
    predicted = run([*LOWTF, "predict", str(run_dir), str(png)], cwd=work).stdout
    assert predicted.split(":")[1].split("(")[0].strip() == \
        lt.data.FASHION_MNIST_CLASS_NAMES[predictor.predict(images[:1])[0]]


# ---- killed and resumed, bit for bit -----------------------------------------------------

CNN_EXPERIMENT = """
import lowtf
experiment = lowtf.Experiment(name="resume_cnn", model={model!r},
                              model_args={{"filters": [4, 8], "units": 32, "dropout": 0.3}},
                              optimizer="adam", learning_rate=0.002, batch_size=20, epochs=3,
                              patience=None, seed=5, xla=False, image_summaries=False)
""".format(model=f"{CNN_FILE}:cnn")


@pytest.mark.numerics
def test_a_killed_cnn_run_resumes_bit_identically(tmp_path):
    runs = Runs(tmp_path)
    runs.experiment.write_text(CNN_EXPERIMENT)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = runs.start(straight)
    process = runs.start(killed)
    for target in (12, 47):  # mid-epoch 1 (30 steps an epoch), then mid-epoch 2
        assert wait_for(lambda: committed_step(killed) >= target, process)
        assert kill(process)
        process = runs.start(killed)
    finish(process)
    finish(reference)
    assert_same_checkpoint(tf.train.latest_checkpoint(str(straight / "checkpoints")),
                           tf.train.latest_checkpoint(str(killed / "checkpoints")))
    history = [json.loads((d / "history.json").read_text()) for d in (straight, killed)]
    timing = {"epoch_time", "examples_per_second"}
    assert [{k: v for k, v in h.items() if k not in timing} for h in history][0] == \
        [{k: v for k, v in h.items() if k not in timing} for h in history][1]


# ---- a model that is not a tf.Module; actions in an Experiment --------------------------

class PlainModel:
    """Not a tf.Module: just `trainable_variables` and `__call__`, as the contract says."""

    def __init__(self):
        init = tf.random.Generator.from_seed(1)
        self.w = tf.Variable(init.normal([784, 10]) * 0.05)
        self.b = tf.Variable(tf.zeros([10]))
        self.trainable_variables = [self.w, self.b]

    def __call__(self, x):
        return tf.reshape(x, [-1, 784]) @ self.w + self.b


def test_an_object_with_variables_and_a_call_is_a_model(tmp_path, fashion_mnist):
    train = (fashion_mnist.train.images[:2000], fashion_mnist.train.labels[:2000])
    val = (fashion_mnist.validation.images[:500], fashion_mnist.validation.labels[:500])
    trainer = lt.Trainer(PlainModel(), optimizer="sgd", run_dir=tmp_path, verbose=0)
    history = trainer.fit(train, val, epochs=2, batch_size=50)
    assert history["val_accuracy"][-1] > 0.6
    restored = lt.restore(tmp_path, model=PlainModel())
    np.testing.assert_allclose(restored.logits(val[0][:20]), trainer.predict(val[0][:20]),
                               atol=1e-6)


def test_an_experiment_carries_its_actions_with_fresh_state_per_run(tmp_path):
    from test_resume import make_data

    data_dir = make_data(tmp_path / "data")
    counter, seen = Counter(), []
    experiment = lt.Experiment(name="with_actions", hidden=(16,), epochs=2, patience=None,
                               data_dir=str(data_dir), run_dir=str(tmp_path / "run"),
                               image_summaries=False,
                               actions=(counter, lambda run, logs: seen.append(run.epoch)))
    results = lt.run_experiment(experiment, verbose=0)
    assert seen == [1, 2]
    assert int(counter.count.numpy()) == 0  # the experiment's own copy stays fresh
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "run" /
                                                                    "checkpoints")))
    assert reader.get_tensor("actions/counter/count/.ATTRIBUTES/VARIABLE_VALUE") == 2
    assert results["experiment"]["actions"] == ["counter", "<lambda>"]


def test_dnn_settings_are_refused_for_a_model_of_ones_own():
    module = cnn_module()
    with pytest.raises(lt.ConfigError, match="hidden shape.* not a model of your own.*model_args"):
        lt.Experiment(model=module.cnn, hidden=(10, 10))
    experiment = lt.Experiment(model=module.cnn)
    with pytest.raises(lt.ConfigError, match="activation"):
        experiment.replace(activation="tanh")
