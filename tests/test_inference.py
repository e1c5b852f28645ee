"""Restoring a trained run for inference: fresh process, best checkpoint, mismatches, corruption."""

import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import lowtf as lt
from conftest import make_prototype_data
from lowtf import checkpoints

PYTHON = os.path.join(sys.prefix, "bin", "python")
if not os.path.exists(PYTHON):
    PYTHON = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HIDDEN = (32, 16)
BATCH = 50
N_TRAIN = 300
METRICS = ("accuracy", "top3_accuracy")
WARNING_MARKERS = ("warning", "unresolved object", "unrestored", "could not be found",
                   "traceback")


def make_data(n=400, seed=0):
    return make_prototype_data(n, N_TRAIN, noise=0.6, seed=seed)


def make_trainer(run_dir, verbose=0):
    return lt.Trainer(lt.dnn(784, HIDDEN, 10, seed=1), optimizer=lt.optimizers.SGD(0.05), metrics=METRICS,
                      run_dir=run_dir, seed=3, verbose=verbose,
                      metadata={"class_names": list(lt.data.FASHION_MNIST_CLASS_NAMES)})


def fit(trainer, epochs, early_stopping):
    train, validation = make_data()
    return trainer.fit(train, validation, epochs=epochs, batch_size=BATCH,
                       early_stopping=early_stopping)


def run_python(code, cwd):
    """Runs `code` in a fresh interpreter of the project's virtualenv."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([PYTHON, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 3-epoch run; restore_best leaves the trainer holding the best weights."""
    run_dir = tmp_path_factory.mktemp("inference") / "run"
    trainer = make_trainer(run_dir)
    history = fit(trainer, 3, lt.actions.EarlyStopping(patience=10, restore_best=True))
    return run_dir, trainer, history


@pytest.fixture
def run_copy(run, tmp_path):
    """A private copy of the run directory, safe to damage."""
    copy = tmp_path / "run"
    shutil.copytree(run[0], copy)
    return copy


def test_run_has_three_checkpoints_and_a_best(run):
    run_dir, trainer, _ = run
    folder = run_dir / "checkpoints"
    assert sorted(f.name for f in folder.glob("ckpt-*.index")) == \
        ["ckpt-12.index", "ckpt-18.index", "ckpt-6.index"]  # max_to_keep 3: all of them
    assert trainer.keeper.latest == str(folder / "ckpt-18")
    assert trainer.keeper.best is not None
    assert checkpoints.resolve(run_dir) == trainer.keeper.best


def test_restore_in_fresh_process_matches_trainer(run, tmp_path):
    run_dir, trainer, _ = run
    _, (x, y) = make_data()
    data = tmp_path / "data.npz"
    out = tmp_path / "out.npz"
    np.savez(data, x=x, y=y)
    code = f"""
import json
import lowtf as lt
import numpy as np
data = np.load({str(data)!r})
p = lt.restore({str(run_dir)!r})
metrics = p.evaluate(data["x"], data["y"])
np.savez({str(out)!r}, logits=p.logits(data["x"]), predictions=p.predict(data["x"]))
print(json.dumps({{"metrics": metrics, "checkpoint": p.checkpoint,
                   "class_names": list(p.class_names)}}))
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    child = json.loads(result.stdout.strip().splitlines()[-1])

    expected = trainer.evaluate((x, y))
    assert set(child["metrics"]) == {"loss", "accuracy", "top3_accuracy"}
    assert child["metrics"]["accuracy"] == expected["accuracy"]
    assert child["metrics"]["top3_accuracy"] == expected["top3_accuracy"]
    assert child["metrics"]["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert child["checkpoint"] == trainer.keeper.best
    assert child["class_names"] == list(lt.data.FASHION_MNIST_CLASS_NAMES)
    arrays = np.load(out)
    np.testing.assert_array_equal(arrays["predictions"], trainer.predictor.predict(x))
    np.testing.assert_allclose(arrays["logits"], trainer.predict(x), rtol=1e-6, atol=1e-6)
    assert expected["accuracy"] > 0.3, "the synthetic data should be learnable"

    # Restoring only the model must not print TensorFlow's unrestored-values warnings.
    stderr = result.stderr.lower()
    for marker in WARNING_MARKERS:
        assert marker not in stderr, result.stderr


def test_warning_check_detects_unrestored_values(run, tmp_path):
    """Control: a plain restore without expect_partial does warn in a fresh process."""
    run_dir, trainer, _ = run
    code = f"""
import lowtf as lt, tensorflow as tf
model = lt.dnn(784, {HIDDEN!r}, 10)
tf.train.Checkpoint(model=model).restore({trainer.keeper.latest!r})
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr and "optimizer" in result.stderr


def test_restore_in_process_matches_trainer(run):
    run_dir, trainer, _ = run
    _, (x, y) = make_data()
    predictor = lt.restore(run_dir)
    assert isinstance(predictor, lt.Predictor)
    assert predictor.evaluate(x, y) == trainer.evaluate((x, y))
    np.testing.assert_array_equal(predictor.predict(x), trainer.predictor.predict(x))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_top_k_sorted_and_consistent(run, k):
    run_dir, _, _ = run
    _, (x, _) = make_data()
    predictor = lt.restore(run_dir)
    ids, probs = predictor.top_k(x, k)
    assert ids.shape == probs.shape == (len(x), k)
    assert np.all(np.diff(probs, axis=1) <= 0), "most likely first"
    assert np.all(probs >= 0)
    assert np.all(probs.sum(axis=1) <= 1 + 1e-5)
    np.testing.assert_array_equal(ids[:, 0], np.argmax(predictor.logits(x), axis=1))
    np.testing.assert_array_equal(ids[:, 0], predictor.predict(x))
    full = predictor.probabilities(x)
    np.testing.assert_allclose(probs, np.take_along_axis(full, ids, axis=1), rtol=1e-6)
    for row in ids:
        assert len(set(row.tolist())) == k
    if k == 10:
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("k", [0, 11])
def test_top_k_out_of_range(run, k):
    predictor = lt.restore(run[0])
    with pytest.raises(lt.ConfigError, match="k must be"):
        predictor.top_k(make_data()[1][0], k)


def test_restore_picks_best_checkpoint(tmp_path):
    """The monitored value (a constant learning rate, mode min) improves only at epoch 1,
    so the best checkpoint is ckpt-6 while the latest is ckpt-18."""
    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir)
    fit(trainer, 3, lt.actions.Monitor("learning_rate", mode="min"))
    best_dir = run_dir / "checkpoints" / "best"
    assert os.path.basename(trainer.keeper.best) == "ckpt-6"
    assert os.path.basename(trainer.keeper.latest) == "ckpt-18"
    _, (x, _) = make_data()

    predictor = lt.restore(run_dir)
    assert predictor.checkpoint == str(best_dir / "ckpt-6")
    from_best = lt.restore(best_dir / "ckpt-6").logits(x)
    from_latest = lt.restore(run_dir / "checkpoints" / "ckpt-18").logits(x)
    np.testing.assert_array_equal(predictor.logits(x), from_best)
    assert not np.allclose(from_best, from_latest)
    np.testing.assert_allclose(from_latest, trainer.predict(x), rtol=1e-6, atol=1e-6)

    # The checkpoints folder itself resolves to its latest; without best/, so does the run.
    assert lt.restore(run_dir / "checkpoints").checkpoint == str(run_dir / "checkpoints" / "ckpt-18")
    shutil.rmtree(best_dir)
    assert lt.restore(run_dir).checkpoint == str(run_dir / "checkpoints" / "ckpt-18")


@pytest.mark.parametrize("hidden, variable, stored, wanted", [
    ((200,), "dnn/hidden1/kernel", [784, 32], [784, 200]),
    ((32,), "dnn/outputs/kernel", [16, 10], [32, 10]),
    ((32, 8), "dnn/hidden2/kernel", [32, 16], [32, 8]),
])
def test_different_architecture_is_named(run, hidden, variable, stored, wanted):
    prefix = run[1].keeper.latest
    with pytest.raises(lt.CheckpointError) as info:
        checkpoints.check_model_matches(prefix, lt.dnn(784, hidden, 10))
    message = str(info.value)
    assert variable in message
    assert str(stored) in message and str(wanted) in message


def test_extra_layer_is_named(run):
    with pytest.raises(lt.CheckpointError, match="dnn/hidden3/kernel"):
        checkpoints.check_model_matches(run[1].keeper.latest, lt.dnn(784, (32, 16, 8), 10))


def test_matching_architecture_passes(run):
    checkpoints.check_model_matches(run[1].keeper.latest, lt.dnn(784, HIDDEN, 10))


def test_resume_with_different_architecture_raises(run_copy):
    trainer = lt.Trainer(lt.dnn(784, (200,), 10, seed=1), optimizer=lt.optimizers.SGD(0.05),
                         metrics=METRICS, run_dir=run_copy, seed=3, verbose=0)
    with pytest.raises(lt.CheckpointError, match="dnn/hidden1/kernel"):
        fit(trainer, 4, None)


@pytest.mark.parametrize("where", ["missing", "empty_dir", "bad_prefix"])
def test_missing_checkpoint(tmp_path, where):
    path = {"missing": tmp_path / "nope",
            "empty_dir": tmp_path,
            "bad_prefix": tmp_path / "checkpoints" / "ckpt-5"}[where]
    with pytest.raises(lt.CheckpointError, match="no checkpoint found"):
        lt.restore(path)


def corrupt(prefix, how):
    """Damages the data file of a checkpoint: cut to half, or every 97th byte flipped."""
    path = f"{prefix}.data-00000-of-00001"
    data = bytearray(open(path, "rb").read())
    if how == "truncate":
        data = data[:len(data) // 2]
    else:
        for i in range(0, len(data), 97):
            data[i] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_restore_corrupt_checkpoint_raises_checkpoint_error(run_copy, how):
    prefix = checkpoints.resolve(run_copy)  # best/ckpt-N
    corrupt(prefix, how)
    with pytest.raises(lt.CheckpointError):
        lt.restore(prefix)
    # From the run directory, the damaged best is reported and the latest used.
    with pytest.warns(UserWarning, match=f"{prefix} .*damaged; using .*ckpt-"):
        assert lt.restore(run_copy).checkpoint == checkpoints.resolve(run_copy / "checkpoints")


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_restore_corrupt_checkpoint_message_says_corrupt(run_copy, how):
    """A damaged lowtf checkpoint is reported as corrupt, not as a foreign checkpoint."""
    prefix = checkpoints.resolve(run_copy)
    corrupt(prefix, how)
    try:
        lt.restore(prefix)
    except lt.CheckpointError as e:
        message = str(e)
    else:
        pytest.fail("restore of a corrupt checkpoint succeeded")
    assert prefix in message
    assert "corrupt" in message or "cannot be read" in message, message
    assert "not written by lowtf" not in message, message


def test_foreign_checkpoint_is_reported(tmp_path):
    import tensorflow as tf
    prefix = tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(tmp_path / "foreign"))
    with pytest.raises(lt.CheckpointError, match="no lowtf run configuration"):
        lt.restore(prefix)


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_resume_falls_back_to_previous_good_checkpoint(run, run_copy, how, capsys):
    _, _, original = run
    latest = run_copy / "checkpoints" / "ckpt-18"
    corrupt(latest, how)
    trainer = make_trainer(run_copy, verbose=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(trainer, 4, lt.actions.EarlyStopping(patience=10, restore_best=True))
    messages = [str(w.message) for w in caught]
    fallback = [m for m in messages if "ckpt-18" in m and "ckpt-12" in m]
    assert fallback, messages
    assert "Resuming from " + str(run_copy / "checkpoints" / "ckpt-12") in capsys.readouterr().out
    assert history["step"] == [6, 12, 18, 24]
    assert history["epoch"] == [1, 2, 3, 4]
    # Epoch 3 is replayed exactly from ckpt-12 (same weights, same seeded batch order).
    assert history["loss"][2] == pytest.approx(original["loss"][2], rel=1e-5)
    assert history["val_accuracy"][2] == pytest.approx(original["val_accuracy"][2])
    # The damaged checkpoint was replaced by a good one.
    lt.restore(latest)
