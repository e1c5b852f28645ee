"""Hostile input, property-based: whatever arrays, files or flags come in, lowtf either
does the right thing or raises a `LowtfError` whose message says what is wrong. Never
another exception, a hang, or silent garbage (a NaN metric, a wrong accuracy).

Covered: the array checks and every public entry that takes data (fit, evaluate,
predict, top-k), the loss and metric functions, IDX data sets with corrupt headers and
truncated gzip streams, image files, the command line, and NaN/Inf losses.
"""

import gzip
import math
import os
import struct

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lowtf as lt
from conftest import make_prototype_data
from lowtf import cli
from lowtf.errors import LowtfError
from lowtf.inputs import check_features, check_labels

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])
DTYPES = [np.uint8, np.int8, np.int32, np.int64, np.uint64, np.float16, np.float32,
          np.float64, np.bool_, np.complex64]
ANY_ARRAY = st.one_of(
    hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                         max_side=5)),
    st.sampled_from([np.array(["a", "b"]), np.array([None, 1], dtype=object),
                     np.array([[1, 2], [3]], dtype=object)]),
    st.integers(), st.floats(), st.none(), st.text(max_size=3),
    st.lists(st.integers(-3, 12), max_size=4))


def finite_or_data_error(fn, *args):
    """Calls fn; returns its result, or None when it raised a LowtfError (with a message)."""
    try:
        return fn(*args)
    except LowtfError as e:
        assert str(e).strip(), "an error without a message"
        return None


# ---- the array checks -------------------------------------------------------------------

@settings(max_examples=300, **SETTINGS)
@given(x=ANY_ARRAY, n_inputs=st.integers(1, 6))
def test_features_are_valid_model_input_or_refused(x, n_inputs):
    out = finite_or_data_error(check_features, x, n_inputs)
    if out is not None:
        assert out.dtype in (np.uint8, np.float32) and out.shape == (len(x), n_inputs)
        assert np.isfinite(out.astype(np.float32)).all()


@settings(max_examples=300, **SETTINGS)
@given(y=ANY_ARRAY, n=st.integers(0, 6), n_classes=st.one_of(st.none(), st.integers(1, 10)))
def test_labels_are_valid_or_refused(y, n, n_classes):
    out = finite_or_data_error(check_labels, y, n, n_classes)
    if out is None:
        return
    assert len(out) == n
    if n_classes is None:
        assert out.dtype == np.float32 and np.isfinite(out).all()
    else:
        assert out.dtype == np.int32 and out.ndim == 1
        assert ((out >= 0) & (out < n_classes)).all()


# ---- loss and metrics through the public entries ------------------------------------------

def identity_predictor():
    """A 10-class 'network' whose logits are its inputs: the loss and metrics see exactly
    the values hypothesis draws."""
    model = lt.Network(10, [("outputs", 10, None)], seed=0)
    model.layers[0].kernel.assign(np.eye(10, dtype=np.float32))
    return lt.Predictor(model, metrics=("accuracy", "top3_accuracy"), batch_size=7)


PREDICTOR = []


def predictor():
    if not PREDICTOR:
        PREDICTOR.append(identity_predictor())
    return PREDICTOR[0]


def reference_metrics(logits, labels):
    """Cross-entropy and in_top_k accuracies in float64 NumPy (ties count as hits)."""
    x = logits.astype(np.float64)
    top = x.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
    target = x[np.arange(len(x)), labels]
    above = (x > target[:, None]).sum(axis=1)
    return {"loss": float(np.mean(lse - target)), "accuracy": float(np.mean(above < 1)),
            "top3_accuracy": float(np.mean(above < 3))}


@pytest.mark.numerics
@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), n=st.integers(0, 12))
def test_evaluate_gives_the_true_loss_and_accuracy_or_a_data_error(data, n):
    logits = data.draw(hnp.arrays(np.float32, (n, 10), elements=st.one_of(
        st.floats(-1e6, 1e6, width=32), st.sampled_from([0.0, 1.0, -1.0]),
        st.sampled_from([np.nan, np.inf, -np.inf]) if data.draw(st.booleans()) else
        st.just(0.5))))
    labels = data.draw(hnp.arrays(st.sampled_from([np.int32, np.int64, np.int8, np.float32]),
                                  (data.draw(st.sampled_from([n, n + 1, max(n - 1, 0)])),),
                                  elements=st.integers(-2, 12)))
    result = finite_or_data_error(predictor().evaluate, logits, labels)
    valid = (n > 0 and np.isfinite(logits).all() and len(labels) == n
             and np.issubdtype(labels.dtype, np.integer)
             and ((labels >= 0) & (labels < 10)).all())
    assert (result is not None) == valid, (result, logits, labels)
    if result is None:
        return
    expected = reference_metrics(logits, labels.astype(np.int64))
    assert result["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)
    assert result["top3_accuracy"] == pytest.approx(expected["top3_accuracy"], abs=1e-6)
    assert math.isfinite(result["loss"]) and result["loss"] >= 0
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-4, abs=1e-3)


@settings(max_examples=60, **SETTINGS)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=12),
                    elements=st.floats(width=32, allow_nan=False, allow_infinity=False,
                                       allow_subnormal=False)),  # TF flushes them to zero
       k=st.integers(-2, 12))
def test_predict_and_top_k_refuse_what_they_cannot_use(x, k):
    p = predictor()
    ids = finite_or_data_error(p.predict, x)
    fits = x.ndim >= 1 and len(x) > 0 and int(np.prod(x.shape[1:])) == 10
    assert (ids is not None) == fits
    if ids is not None:
        np.testing.assert_array_equal(ids, np.argmax(x.reshape(len(x), 10), axis=1))
        top = finite_or_data_error(p.top_k, x, k)
        assert (top is not None) == (1 <= k <= 10)
        if top is not None:
            probabilities = top[1]
            assert probabilities.shape == (len(x), k) and np.isfinite(probabilities).all()
            assert (np.diff(probabilities, axis=1) <= 0).all()


@settings(max_examples=100, **SETTINGS)
@given(logits=hnp.arrays(np.float32, st.tuples(st.integers(0, 6), st.just(4)),
                         # TensorFlow's CPU kernels flush subnormals to zero (a tie for
                         # in_top_k) where the float64 oracle below does not.
                         elements=st.floats(width=32, allow_nan=True, allow_infinity=True,
                                            allow_subnormal=False)),
       labels=st.data(), k=st.integers(1, 4))
def test_top_k_accuracy_follows_in_top_k_on_any_values(logits, labels, k):
    """Non-finite rows and out-of-range labels count as misses, ties as hits; the
    metric itself never raises and never reports a value outside [0, 1]."""
    y = labels.draw(hnp.arrays(np.int32, (len(logits),), elements=st.integers(-3, 6)))
    metric = lt.metrics.TopKAccuracy(k)
    metric.update_state(tf.constant(y), tf.constant(logits))
    hits = 0
    for row, label in zip(logits.astype(np.float64), y):
        if 0 <= label < 4 and np.isfinite(row).all():
            hits += int((row > row[label]).sum() < k)
    assert float(metric.count) == len(y)
    assert float(metric.result()) == pytest.approx(hits / len(y) if len(y) else 0.0, abs=1e-6)


@settings(max_examples=100, **SETTINGS)
@given(outputs=hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.just(3)),
                          elements=st.floats(-1e3, 1e3, width=32)),
       targets=st.data())
def test_regression_losses_are_finite_and_right_on_finite_values(outputs, targets):
    t = targets.draw(hnp.arrays(np.float32, outputs.shape, elements=st.floats(0, 1, width=32)))
    mse = lt.losses.get_loss("mse")[1](tf.constant(t), tf.constant(outputs)).numpy()
    np.testing.assert_allclose(mse, ((outputs.astype(np.float64) - t) ** 2).mean(axis=1),
                               rtol=1e-5, atol=1e-5)
    p = 0.5 * (1 + np.tanh(outputs.astype(np.float64) / 2))  # the sigmoid, without overflow
    bce = lt.losses.get_loss("binary_cross_entropy")[1](tf.constant(t), tf.constant(p, tf.float32))
    assert np.isfinite(bce.numpy()).all() and (bce.numpy() >= -1e-6).all()


# ---- training on hostile data ------------------------------------------------------------

TRAINERS = {}


def small_trainer(loss="sparse_softmax_cross_entropy"):
    """One 4-input trainer per loss, reused across examples (fit continues from memory)."""
    if loss not in TRAINERS:
        outputs = 3 if loss == "sparse_softmax_cross_entropy" else 1
        TRAINERS[loss] = lt.Trainer(lt.Network(4, [("hidden", 5, "relu"),
                                                   ("outputs", outputs, None)], seed=1),
                                    loss=loss, optimizer=lt.optimizers.SGD(0.01), metrics=(),
                                    verbose=0, xla=False, steps_per_call=4)
    return TRAINERS[loss]


@settings(max_examples=40, **SETTINGS)
@given(x=ANY_ARRAY, y=ANY_ARRAY, batch=st.integers(-1, 6),
       loss=st.sampled_from(["sparse_softmax_cross_entropy", "mse"]),
       resident=st.sampled_from([None, False]))
def test_fit_trains_or_refuses_hostile_arrays(x, y, batch, loss, resident):
    trainer = small_trainer(loss)
    before = int(trainer.state.step.numpy())
    history = finite_or_data_error(lambda: trainer.fit((x, y), epochs=1, batch_size=batch,
                                                       resident=resident))
    if history is None:
        assert int(trainer.state.step.numpy()) == before, "refused input must not train"
    else:
        assert all(np.isfinite(w).all() for w in trainer.model.get_weights().values())
        assert math.isfinite(history["loss"][-1])


@pytest.mark.numerics
def test_a_non_finite_loss_stops_at_its_step_and_keeps_the_last_checkpoint(tmp_path):
    (x, y), _ = make_prototype_data(200, 200, seed=2)
    x = x.copy()
    x[137] = np.nan  # in the 14th batch of 10 (unshuffled): step 14
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=0), run_dir=tmp_path, verbose=0,
                         steps_per_call=3)
    with pytest.raises(lt.NonFiniteLossError, match=r"at step 14 .*Last good checkpoint: "
                                                   r"\S*ckpt-12") as info:
        trainer.fit(dataset, epochs=2, save_every_steps=4)
    assert info.value.step == 14 and int(trainer.state.step.numpy()) == 13
    assert all(np.isfinite(w).all() for w in trainer.model.get_weights().values())
    assert os.path.basename(trainer.keeper.latest) == "ckpt-12"


@pytest.mark.numerics
def test_skip_nonfinite_skips_and_counts_bad_steps_off_by_default(tmp_path):
    (x, y), _ = make_prototype_data(200, 200, seed=2)
    x = x.copy()
    x[[5, 57, 58, 191]] = np.inf  # batches 1, 6 and 20 of 10
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=0), run_dir=tmp_path, verbose=0,
                         steps_per_call=3)
    history = trainer.fit(dataset, epochs=2, skip_nonfinite=True, save_every_steps=5)
    assert history["skipped_steps"] == [3, 6]  # running total, logged every epoch
    assert history["step"] == [17, 34]
    assert all(np.isfinite(w).all() for w in trainer.model.get_weights().values())
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    acc = pea.EventAccumulator(str(tmp_path / "train"), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    assert [(e.step, int(tf.make_ndarray(e.tensor_proto))) for e in
            acc.Tensors("skipped_steps")] == [(17, 3), (34, 6)]
    resumed = lt.Trainer(lt.dnn(784, (8,), 10, seed=0), run_dir=tmp_path, verbose=0,
                         steps_per_call=3)
    assert resumed.fit(dataset, epochs=3, skip_nonfinite=True)["skipped_steps"] == [3, 6, 9]
    with pytest.raises(lt.NonFiniteLossError, match="at step 1 "):
        lt.Trainer(lt.dnn(784, (8,), 10, seed=0), verbose=0).fit(dataset, epochs=1)


# ---- data files ---------------------------------------------------------------------------

def idx(array):
    codes = {np.dtype(np.uint8): 8, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    return (bytes([0, 0, codes[array.dtype], array.ndim]) +
            struct.pack(f">{array.ndim}I", *array.shape) +
            array.astype(array.dtype.newbyteorder(">")).tobytes())


GOOD = {
    "train-images-idx3-ubyte.gz": idx(np.full((12, 28, 28), 7, np.uint8)),
    "train-labels-idx1-ubyte.gz": idx(np.arange(12, dtype=np.uint8) % 10),
    "t10k-images-idx3-ubyte.gz": idx(np.zeros((4, 28, 28), np.uint8)),
    "t10k-labels-idx1-ubyte.gz": idx(np.arange(4, dtype=np.uint8)),
}


@settings(max_examples=80, **SETTINGS)
@given(name=st.sampled_from(sorted(GOOD)),
       edit=st.sampled_from(["header", "dims", "labels", "cut", "flip-gzip", "cut-gzip"]),
       where=st.integers(0, 10_000), value=st.integers(0, 255),
       shape=st.lists(st.integers(0, 40), min_size=0, max_size=5))
def test_damaged_data_sets_load_correctly_or_fail_with_the_file_named(tmp_path_factory, name,
                                                                     edit, where, value, shape):
    folder = tmp_path_factory.mktemp("idx")
    raw = bytearray(GOOD[name])
    if edit == "header":
        raw[where % 4] = value
    elif edit == "dims":
        raw[3] = len(shape)
        raw[4:4 + 4 * len(shape)] = struct.pack(f">{len(shape)}I", *shape)
    elif edit == "labels" and "labels" in name:
        raw[8 + where % (len(raw) - 8)] = value
    elif edit == "cut":
        raw = raw[:where % len(raw)]
    stream = gzip.compress(bytes(raw), mtime=0)
    if edit == "flip-gzip":
        stream = bytearray(stream)
        stream[where % len(stream)] ^= 1 << (value % 8)
    elif edit == "cut-gzip":
        stream = stream[:where % len(stream)]
    for file, content in GOOD.items():
        (folder / file).write_bytes(bytes(stream) if file == name else gzip.compress(content))
    try:
        data = lt.load_dataset("fashion_mnist", data_dir=folder, validation_size=2,
                               download=False)
    except LowtfError as e:
        assert str(e).strip()
        return
    for split in (data.train, data.validation, data.test):
        assert split.images.dtype == np.float32 and split.images.shape[1:] == (784,)
        assert np.isfinite(split.images).all()
        assert split.labels.dtype == np.int32 and ((split.labels >= 0) & (split.labels < 10)).all()


@settings(max_examples=60, **SETTINGS)
@given(content=st.one_of(st.binary(max_size=200),
                         st.binary(max_size=100).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
                         st.binary(max_size=100).map(lambda b: b"\xff\xd8\xff\xe0" + b),
                         st.binary(max_size=100).map(lambda b: b"GIF89a" + b)))
def test_corrupt_image_files_are_a_data_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("img") / "picture.png"
    path.write_bytes(content)
    image = finite_or_data_error(lt.data.load_image, path)
    if image is not None:
        assert image.shape == (784,) and np.isfinite(image).all()


# ---- the command line ---------------------------------------------------------------------

FLAG_VALUES = {
    "--epochs": "int", "--batch-size": "int", "--learning-rate": "float", "--lr": "float",
    "--optimizer": "word", "--layers": "layers", "--activation": "word", "--patience": "int",
    "--seed": "int", "--save-every-steps": "int", "--xla": "word", "--devices": "int",
    "--strategy": "word", "--run-dir": "text", "--data-dir": "text",
}
SWITCHES = ["--no-early-stopping", "--deterministic", "--skip-nonfinite", "--quiet"]
NUMBERS = st.one_of(st.integers(-10, 10**40).map(str), st.floats().map(repr),
                    st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "", " ", "1_000",
                                     "٣", "1e-320", "--", "-1", "0", "3.5"]))
VALUES = {"int": NUMBERS, "float": NUMBERS,
          "word": st.one_of(st.sampled_from(["sgd", "adam", "relu", "on", "auto", "mirrored",
                                             "SGD", "rmsprop", "tanh"]), st.text(max_size=6)),
          "layers": st.one_of(st.lists(NUMBERS, min_size=1, max_size=3).map(",".join),
                              st.text(max_size=8)),
          "text": st.text(max_size=8)}


@st.composite
def train_arguments(draw):
    argv = ["train"]
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 3)) == 0:
            argv.append(draw(st.sampled_from(SWITCHES + ["--bogus", "-x", "--epoch"])))
        else:
            flag = draw(st.sampled_from(sorted(FLAG_VALUES)))
            argv += [flag, draw(VALUES[FLAG_VALUES[flag]])]
    return argv


@settings(max_examples=300, **SETTINGS)
@given(argv=train_arguments())
def test_any_train_command_line_is_accepted_validated_or_refused_in_one_line(argv, monkeypatch,
                                                                          capsys):
    """Parsing and validation only: the experiment that would be trained is captured."""
    started = []
    monkeypatch.setattr("lowtf.experiment.run_experiment",
                        lambda experiment, verbose=1: started.append(experiment) or
                        {"test": {"accuracy": 0.5}})
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse: exit 2 with a usage line naming the argument
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert not started
        assert err.strip().splitlines()[-1].startswith(("lowtf train: error: ",
                                                        "lowtf: error: ")), err
        return
    (experiment,) = started
    assert isinstance(experiment.seed, int) and 0 <= experiment.seed < 2**63
    assert 0 < experiment.learning_rate < math.inf and experiment.batch_size >= 1
    assert all(u >= 1 for u in experiment.hidden) and experiment.epochs >= 1
    if "--deterministic" in argv:
        assert experiment.deterministic


@pytest.mark.parametrize("argv, words", [
    (["evaluate", "/nonexistent/run"], ["no checkpoint found"]),
    (["predict", "/nonexistent/run", "x.png"], ["no checkpoint found"]),
    (["train", "--seed", "-1"], ["seed must be an integer"]),
    (["train", "--layers", "100000,100000"], ["parameters", "typo"]),
    (["train", "--data-dir", "/nonexistent/data", "--run-dir", "{tmp}"], ["/nonexistent/data"]),
])
def test_bad_commands_end_in_one_line_naming_the_problem(argv, words, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path / "run")) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lowtf {argv[0]}: error: "), err
    for word in words:
        assert word in err[0], err
