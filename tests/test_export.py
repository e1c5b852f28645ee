"""`lowtf export`: a SavedModel that TensorFlow alone can serve.

The model is checked three ways against lowtf's own `Predictor`: `tf.saved_model.load`
in this process, `tf.saved_model.load` in a Python process that never imports lowtf, and
TensorFlow's `saved_model_cli run`.
"""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_prototype_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(sys.prefix, "bin")
LOWTF = [os.path.join(BIN, "lowtf")] if os.path.exists(os.path.join(BIN, "lowtf")) \
    else [sys.executable, "-m", "lowtf.cli"]
SAVED_MODEL_CLI = os.path.join(BIN, "saved_model_cli")
NAMES = lt.data.FASHION_MNIST_CLASS_NAMES
OUTPUTS = {"class_ids": (tf.int32, 1), "class_names": (tf.string, 1),
           "probabilities": (tf.float32, 2), "logits": (tf.float32, 2),
           "top_k_class_ids": (tf.int32, 2), "top_k_class_names": (tf.string, 2),
           "top_k_probabilities": (tf.float32, 2)}

# Runs in a fresh interpreter, outside the repository, and must not import lowtf.
STANDALONE = r"""
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
out = model.signatures["serving_default"](images=tf.constant(images))
direct = model.predict_float(tf.constant(images.astype(np.float32) / 255.0))
print(json.dumps({
    "class_ids": out["class_ids"].numpy().tolist(),
    "class_names": [n.decode() for n in out["class_names"].numpy()],
    "probabilities": out["probabilities"].numpy().tolist(),
    "direct_ids": direct["class_ids"].numpy().tolist(),
    "lowtf_imported": any(m == "lowtf" or m.startswith("lowtf.") for m in sys.modules),
}))
"""


def uint8_images(x):
    return np.round(x * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small classifier trained for two epochs on prototype data, with class names."""
    work = tmp_path_factory.mktemp("export")
    train, validation = make_prototype_data(500, 400, noise=0.4, seed=3)
    train = (uint8_images(train[0]).reshape(-1, 28, 28), train[1])
    images = uint8_images(validation[0]).reshape(-1, 28, 28)
    trainer = lt.Trainer(lt.dnn(784, (32,), 10, seed=2), optimizer=lt.optimizers.SGD(0.1),
                         run_dir=work / "run", verbose=0, xla=False,
                         metadata={"dataset": "fashion_mnist", "class_names": list(NAMES)})
    trainer.fit(train, (images, validation[1]), epochs=2, batch_size=50)
    return work, images, validation[1]


@pytest.fixture(scope="module")
def exported(trained):
    work, images, labels = trained
    path = lt.export_saved_model(work / "run", work / "saved", top_k=3)
    return path, lt.restore(work / "run"), images, labels


@pytest.fixture(scope="module", autouse=True)
def processes(trained, exported):
    """The separate processes of this module, started together with the first test (each
    imports TensorFlow, which takes seconds)."""
    work, images, _ = trained
    path = exported[0]
    np.save(work / "images.npy", images[:8])
    np.save(work / "flat_float.npy", (images[:8].reshape(8, 784) / 255.0).astype(np.float32))
    (work / "standalone.py").write_text(STANDALONE)
    outside = work / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    repo_env = dict(env, PYTHONPATH=REPO)

    def run(args, cwd=outside, env=env):
        return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=300)

    pool = ThreadPoolExecutor(3)
    jobs = {
        "standalone": pool.submit(run, [sys.executable, work / "standalone.py", path,
                                        work / "images.npy"]),
        "cli_uint8": pool.submit(run, [SAVED_MODEL_CLI, "run", "--dir", path, "--tag_set",
                                       "serve", "--signature_def", "serving_default",
                                       "--inputs", f"images={work / 'images.npy'}"]),
        "cli_float": pool.submit(run, [SAVED_MODEL_CLI, "run", "--dir", path, "--tag_set",
                                       "serve", "--signature_def", "predict_float",
                                       "--inputs", f"images={work / 'flat_float.npy'}"]),
        "lowtf_export": pool.submit(run, [*LOWTF, "export", work / "run", work / "cli_saved",
                                          "--top-k", "5"], work, repo_env),
        "lowtf_export_missing": pool.submit(run, [*LOWTF, "export", work / "nope",
                                                  work / "x"], work, repo_env),
    }
    yield jobs
    pool.shutdown(wait=True)


def test_signatures_take_uint8_and_float_images_in_both_shapes(exported):
    path, predictor, images, _ = exported
    model = tf.saved_model.load(path)
    assert {"serving_default", "predict_uint8", "predict_float"} <= set(model.signatures)
    expected_ids = predictor.predict(images)
    expected_p = predictor.probabilities(images)
    floats = images.astype(np.float32) / 255.0
    for name, x in (("serving_default", images), ("predict_uint8", images.reshape(-1, 784)),
                    ("predict_float", floats), ("predict_float", floats.reshape(-1, 784))):
        out = model.signatures[name](images=tf.constant(x))
        assert set(out) == set(OUTPUTS), name
        for key, (dtype, rank) in OUTPUTS.items():
            assert out[key].dtype == dtype and out[key].shape.rank == rank, (name, key)
        np.testing.assert_array_equal(out["class_ids"].numpy(), expected_ids, err_msg=name)
        np.testing.assert_allclose(out["probabilities"].numpy(), expected_p, atol=1e-5)


def test_outputs_name_the_classes_and_the_top_k(exported):
    path, predictor, images, _ = exported
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    ids = out["class_ids"].numpy()
    assert [n.decode() for n in out["class_names"].numpy()] == [NAMES[i] for i in ids]
    top_ids, top_p = predictor.top_k(images, k=3)
    np.testing.assert_array_equal(out["top_k_class_ids"].numpy(), top_ids)
    np.testing.assert_allclose(out["top_k_probabilities"].numpy(), top_p, atol=1e-5)
    assert out["top_k_class_ids"].shape == (len(images), 3)
    np.testing.assert_array_equal(out["top_k_class_ids"].numpy()[:, 0], ids)
    names = out["top_k_class_names"].numpy()
    assert names[0, 1].decode() == NAMES[top_ids[0, 1]]
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)


def test_the_functions_are_attributes_of_the_loaded_model(exported):
    path, predictor, images, _ = exported
    model = tf.saved_model.load(path)
    out = model.predict_uint8(tf.constant(images[:5]))
    np.testing.assert_array_equal(out["class_ids"].numpy(), predictor.predict(images[:5]))


@pytest.mark.parametrize("shape", [(2, 28, 27), (2, 783), (784,), (2, 28, 28, 1)])
def test_wrong_shapes_are_refused_with_the_expected_shape(exported, shape):
    model = tf.saved_model.load(exported[0])
    expected = r"\[batch, 28, 28\] or \[batch, 784\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        model.signatures["serving_default"](images=tf.zeros(shape, tf.uint8))


def test_accuracy_matches_lowtf(exported):
    path, predictor, images, labels = exported
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    accuracy = float(np.mean(out["class_ids"].numpy() == labels))
    assert accuracy == pytest.approx(predictor.evaluate(images, labels)["accuracy"], abs=1e-6)
    assert accuracy > 0.5


def test_export_refuses_to_overwrite(exported, tmp_path):
    path = exported[0]
    with pytest.raises(lt.ConfigError, match="already exists"):
        lt.export_saved_model(exported[1], path)
    other = tmp_path / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(lt.ConfigError, match="not a SavedModel"):
        lt.export_saved_model(exported[1], other, overwrite=True)
    assert (other / "notes.txt").exists()
    again = lt.export_saved_model(exported[1], tmp_path / "copy")
    assert lt.export_saved_model(exported[1], again, overwrite=True, top_k=2) == again
    info = json.loads((tmp_path / "copy" / "assets.extra" / "lowtf_export.json").read_text())
    assert info["top_k"] == 2 and info["class_names"] == list(NAMES)


def test_a_process_without_lowtf_gets_the_same_predictions(exported, processes):
    _, predictor, images, _ = exported
    result = processes["standalone"].result()
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["lowtf_imported"] is False
    expected = predictor.predict(images[:8]).tolist()
    assert out["class_ids"] == expected == out["direct_ids"]
    assert out["class_names"] == [NAMES[i] for i in expected]
    np.testing.assert_allclose(out["probabilities"], predictor.probabilities(images[:8]),
                               atol=1e-5)


def _cli_result(stdout, key):
    match = re.search(rf"Result for output key {key}:\n(\[.*?\])\n(?:Result|$)", stdout + "\n",
                      re.S)
    assert match, stdout
    return match.group(1)


@pytest.mark.parametrize("job", ["cli_uint8", "cli_float"])
def test_saved_model_cli_run_predicts_the_same_classes(exported, processes, job):
    _, predictor, images, _ = exported
    result = processes[job].result()
    assert result.returncode == 0, result.stderr[-2000:]
    ids = [int(v) for v in re.findall(r"\d+", _cli_result(result.stdout, "class_ids"))]
    assert ids == predictor.predict(images[:8]).tolist()
    names = re.findall(r"b'([^']*)'", _cli_result(result.stdout, "class_names"))
    assert names == [NAMES[i] for i in ids]


def test_lowtf_export_command(trained, processes):
    work = trained[0]
    result = processes["lowtf_export"].result()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Exported ") and "saved_model_cli run" in result.stdout
    model = tf.saved_model.load(str(work / "cli_saved"))
    out = model.signatures["serving_default"](images=tf.zeros((2, 784), tf.uint8))
    assert out["top_k_class_ids"].shape == (2, 5)
    missing = processes["lowtf_export_missing"].result()
    assert missing.returncode == 2
    errors = [l for l in missing.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and errors[0].startswith("lowtf export: error: no checkpoint")
