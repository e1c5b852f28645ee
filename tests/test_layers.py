"""lt.layers: each layer against its Keras counterpart (forward and gradients, the same
weights in both), building and naming, dropout state in checkpoints, BatchNorm's moving
statistics (and their guard against non-finite batches), mixed precision and XLA."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf import precision

L = lt.layers
RTOL, ATOL = 1e-5, 1e-6


def data(shape, seed=0):
    return tf.random.stateless_normal(shape, [seed, 1])


def compare_with_keras(ours, theirs, x, our_vars=(), their_vars=(), atol=ATOL, **call):
    """Same outputs, and same gradients of a weighted sum of them (inputs and weights)."""
    x = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a, b = ours(x, **call), theirs(x, **call)
        weights = data(a.shape, seed=9)
        loss_a, loss_b = tf.reduce_sum(a * weights), tf.reduce_sum(b * weights)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=RTOL, atol=atol)
    grads_a = tape.gradient(loss_a, [x, *our_vars])
    grads_b = tape.gradient(loss_b, [x, *their_vars])
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=RTOL, atol=atol)
    return a


def randomize(*variables, seed=3):
    for i, v in enumerate(variables):
        v.assign(data(v.shape, seed=seed + i))


# ---- Keras parity ---------------------------------------------------------------------
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_dense_matches_keras(activation):
    ours = L.Dense(5, activation=activation, n_inputs=7, seed=0)
    randomize(ours.bias)
    theirs = keras.layers.Dense(5, activation=activation or "linear")
    theirs.build((None, 7))
    theirs.set_weights([ours.kernel.numpy(), ours.bias.numpy()])
    compare_with_keras(ours, theirs, data((6, 7)), [ours.kernel, ours.bias],
                       theirs.trainable_weights)


@pytest.mark.numerics
@pytest.mark.parametrize("kernel_size, strides, padding", [
    (3, 1, "valid"), (3, 1, "same"), (3, 2, "same"), ((3, 2), 2, "valid"), (2, (2, 1), "same")])
def test_conv2d_matches_keras(kernel_size, strides, padding):
    ours = L.Conv2D(4, kernel_size, strides=strides, padding=padding, activation="relu",
                    in_channels=3, seed=0)
    randomize(ours.bias)
    theirs = keras.layers.Conv2D(4, kernel_size, strides=strides, padding=padding,
                                 activation="relu")
    theirs.build((None, 9, 8, 3))
    theirs.set_weights([ours.kernel.numpy(), ours.bias.numpy()])
    out = compare_with_keras(ours, theirs, data((2, 9, 8, 3)), [ours.kernel, ours.bias],
                             theirs.trainable_weights)
    assert tuple(ours.output_shape((2, 9, 8, 3))) == out.shape


@pytest.mark.numerics
@pytest.mark.parametrize("ours, theirs", [(L.MaxPool2D, keras.layers.MaxPooling2D),
                                          (L.AvgPool2D, keras.layers.AveragePooling2D)])
@pytest.mark.parametrize("pool_size, strides, padding", [
    (2, None, "valid"), (3, 2, "same"), ((2, 3), 1, "valid"), (2, None, "same")])
def test_pooling_matches_keras(ours, theirs, pool_size, strides, padding):
    a = ours(pool_size, strides, padding)
    b = theirs(pool_size, strides, padding)
    out = compare_with_keras(a, b, data((2, 7, 9, 3)))
    assert tuple(a.output_shape((2, 7, 9, 3))) == out.shape


def test_flatten_matches_keras():
    x = data((3, 4, 5, 2))
    out = compare_with_keras(L.Flatten(), keras.layers.Flatten(), x)
    assert out.shape == (3, 40) and tuple(L.Flatten().output_shape((None, 4, 5, 2))) == (None, 40)


@pytest.mark.parametrize("target", [(28, 28, 1), (-1, 4), (784,)])
def test_reshape_matches_keras(target):
    x = data((3, 28, 28))
    out = compare_with_keras(L.Reshape(target), keras.layers.Reshape(target), x)
    assert tuple(L.Reshape(target).output_shape((None, 28, 28)))[1:] == out.shape[1:]


def test_reshape_refuses_a_shape_of_another_size():
    with pytest.raises(lt.DataError, match="784 values.*\\[5, 5\\]"):
        L.Reshape((5, 5))(tf.zeros([2, 28, 28]))
    with pytest.raises(lt.ConfigError, match="at most one -1"):
        L.Reshape((-1, -1))


def test_dropout_has_keras_semantics():
    x = tf.ones((200, 50))
    for rate in (0.2, 0.5):
        ours = L.Dropout(rate, seed=0)(x, training=True).numpy()
        theirs = keras.layers.Dropout(rate, seed=0)(x, training=True).numpy()
        for out in (ours, theirs):   # kept units scaled by 1 / (1 - rate), the rest zero
            np.testing.assert_allclose(np.unique(out), [0, 1 / (1 - rate)], rtol=1e-6)
        assert (ours == 0).mean() == pytest.approx(rate, abs=0.02)
        assert (ours == 0).mean() == pytest.approx((theirs == 0).mean(), abs=0.03)


@pytest.mark.numerics
def test_batch_norm_matches_keras_in_training_and_inference():
    ours = L.BatchNorm(momentum=0.9, n_features=3)
    theirs = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    theirs.build((None, 4, 5, 3))
    randomize(ours.gamma, ours.beta)
    theirs.set_weights([v.numpy() for v in (ours.gamma, ours.beta, ours.moving_mean,
                                            ours.moving_variance)])
    for step in range(4):   # batch moments, and the moving statistics after each update
        x = data((6, 4, 5, 3), seed=step) * (step + 1) + step
        compare_with_keras(ours, theirs, x, [ours.gamma, ours.beta],
                           theirs.trainable_weights, atol=1e-5, training=True)
        for mine, keras_var in ((ours.moving_mean, theirs.moving_mean),
                                (ours.moving_variance, theirs.moving_variance)):
            np.testing.assert_allclose(mine.numpy(), keras_var.numpy(), rtol=RTOL)
    assert not np.allclose(ours.moving_mean.numpy(), 0)
    moving = ours.moving_mean.numpy()
    compare_with_keras(ours, theirs, data((6, 4, 5, 3), seed=7), [ours.gamma, ours.beta],
                       theirs.trainable_weights, atol=1e-5, training=False)
    np.testing.assert_array_equal(ours.moving_mean.numpy(), moving)   # inference: unchanged


# ---- NeuronLayer stays what it was ----------------------------------------------------
def test_neuron_layer_keeps_its_weights_and_names():
    # The kernel lowtf's NeuronLayer drew for this seed before lt.layers was a package.
    before = [[1.5101301670074463, -2.2211825847625732], [-1.2761788368225098, 0.9526048302650452],
              [1.3295516967773438, -0.4666036367416382]]
    with tf.name_scope("dnn"):
        layer = L.NeuronLayer(3, 2, "hidden1", seed=42)
    np.testing.assert_array_equal(layer.kernel.numpy(), np.float32(before))
    assert [v.name for v in layer.variables] == ["dnn/hidden1/bias:0", "dnn/hidden1/kernel:0"]
    assert isinstance(layer, L.Dense) and layer.n_neurons == 2
    dense = L.Dense(2, n_inputs=3, name="hidden1", seed=42)
    np.testing.assert_array_equal(dense.kernel.numpy(), layer.kernel.numpy())


# ---- building, naming and errors ------------------------------------------------------
def cnn(seed=0, rate=0.5):
    return L.Sequential([
        L.Conv2D(4, 3, padding="same", kernel_initializer="he", seed=seed), L.BatchNorm(),
        tf.nn.relu, L.MaxPool2D(),
        L.Conv2D(6, 3, kernel_initializer="he", seed=seed), L.BatchNorm(), L.Activation("relu"),
        L.MaxPool2D(),
        L.Flatten(), L.Dropout(rate, seed=seed), L.Dense(10, seed=seed)],
        input_shape=(12, 12, 1), name="cnn")


def test_sequential_builds_every_layer_from_input_shape_with_readable_keys():
    model = cnn()
    assert [l.name for l in model.layers] == [
        "conv2d_1", "batch_norm_1", "relu_1", "max_pool2d_1", "conv2d_2", "batch_norm_2",
        "relu_2", "max_pool2d_2", "flatten_1", "dropout_1", "dense_1"]
    assert all(getattr(l, "built", True) for l in model.layers)
    assert model.dense_1.kernel.shape == (2 * 2 * 6, 10)   # 12 -same-> 12 -pool-> 6 -valid-> 4 -> 2
    assert model.n_outputs == 10 and model.n_inputs is None
    assert model.n_params == 4 * 9 + 4 + 8 + 6 * 9 * 4 + 6 + 12 + 24 * 10 + 10
    keys = lt.checkpoints.variable_shapes(model)
    assert "model/conv2d_1/kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "model/batch_norm_2/moving_variance/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "cnn/dense_1/kernel:0" in [v.name for v in model.variables]
    assert len(model.trainable_variables) == 2 + 2 + 2 + 2 + 2   # not the moving statistics


def test_sequential_keeps_given_names_and_refuses_duplicates():
    model = L.Sequential([L.Dense(4, name="dense_1"), L.Dense(3), L.Dense(2, name="out")],
                         input_shape=(5,))
    assert [l.name for l in model.layers] == ["dense_1", "dense_2", "out"]
    assert model.n_inputs == 5 and model.n_outputs == 2
    with pytest.raises(lt.ConfigError, match="two layers are named 'h'"):
        L.Sequential([L.Dense(4, name="h"), L.Dense(3, name="h")])
    with pytest.raises(lt.ConfigError, match="'layers' is taken by Sequential"):
        L.Sequential([L.Dense(4, name="layers")])


def test_an_unbuilt_layer_builds_eagerly_but_not_while_tracing():
    model = L.Sequential([L.Dense(4), L.Dense(2)])
    step = tf.function(lambda x: model(x))
    with pytest.raises(lt.ConfigError, match=r"layer 'dense_1' \(Dense\) was called inside "
                                             r"a traced function.*pass input_shape"):
        step(tf.ones((1, 3)))
    assert model(tf.ones((1, 3))).shape == (1, 2)   # eager: builds
    assert step(tf.ones((1, 3))).shape == (1, 2)
    assert model.dense_1.kernel.shape == (3, 4)


@pytest.mark.parametrize("make, x, message", [
    (lambda: L.Dense(4, n_inputs=3), (2, 5),
     r"'dense' takes inputs whose last dimension is n_inputs=3 .*got shape \[2, 5\]"),
    (lambda: L.Dense(4), (5,), r"'dense' takes inputs of rank >= 2 .*got shape \[5\]"),
    (lambda: L.Conv2D(2, 3, in_channels=1), (2, 8, 8),
     r"'conv2d' takes inputs of rank 4 \(\[batch, height, width, in_channels\]\)"),
    (lambda: L.Conv2D(2, 3, in_channels=1), (2, 8, 8, 3),
     r"in_channels=1 .*got shape \[2, 8, 8, 3\]"),
    (lambda: L.Conv2D(2, 5), (1, 4, 4, 1), r"smaller than its \(5, 5\) window"),
    (lambda: L.MaxPool2D(), (2, 8), r"'max_pool2d' takes inputs of rank 4"),
    (lambda: L.BatchNorm(n_features=3), (2, 4), r"n_features=3 .*got shape \[2, 4\]"),
])
def test_a_wrong_input_shape_names_the_layer_expected_and_got(make, x, message):
    with pytest.raises(lt.DataError, match=message):
        make()(tf.ones(x))


def test_a_wrong_input_shape_is_a_config_error_when_building_a_sequential():
    with pytest.raises(lt.ConfigError, match=r"'dense_1' takes inputs whose last dimension "
                                             r"is n_inputs=3 .*got shape \[None, 4\]"):
        L.Sequential([L.Dense(2, n_inputs=3)], input_shape=(4,))


@pytest.mark.parametrize("make, message", [
    (lambda: L.Dense(0), "units must be a positive int, got 0"),
    (lambda: L.Dense(2.5), "units must be a positive int"),
    (lambda: L.Dense(2, activation="swishy"), "unknown activation"),
    (lambda: L.Dense(2, kernel_initializer="big"), "unknown initializer"),
    (lambda: L.Dense(2, name="my layer"), "must be a Python identifier"),
    (lambda: L.Conv2D(2, 0), "kernel_size must be a positive int"),
    (lambda: L.Conv2D(2, (3, 3, 3)), "kernel_size must be an int or a pair"),
    (lambda: L.Conv2D(2, 3, padding="full"), "unknown padding 'full'"),
    (lambda: L.MaxPool2D(padding="causal"), "unknown padding"),
    (lambda: L.Dropout(1.0), r"rate must be a number in \[0, 1\)"),
    (lambda: L.Dropout(-0.1), r"rate must be a number in \[0, 1\)"),
    (lambda: L.Dropout(0.5, seed="x"), "seed must be an int"),
    (lambda: L.BatchNorm(momentum=1.5), "momentum must be in"),
    (lambda: L.BatchNorm(epsilon=0), "epsilon > 0"),
    (lambda: L.Sequential([]), "at least one layer"),
])
def test_bad_constructor_values_are_config_errors(make, message):
    with pytest.raises(lt.ConfigError, match=message):
        make()


# ---- dropout state --------------------------------------------------------------------
def test_dropout_never_drops_at_inference():
    layer = L.Dropout(0.9, seed=0)
    x = data((50, 20))
    for _ in range(5):
        np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
        np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(L.Dropout(0.0)(x, training=True).numpy(), x.numpy())
    dropped = tf.function(lambda x, t: layer(x, training=t))(x, tf.constant(True))
    assert (dropped.numpy() == 0).mean() > 0.8


def test_a_restored_model_draws_the_masks_an_uninterrupted_one_draws(tmp_path):
    def masks(model, n=3):
        return [model(tf.ones((4, 6)), training=True).numpy() != 0 for _ in range(n)]

    model = L.Sequential([L.Dropout(0.5, seed=1)], input_shape=(6,))
    masks(model, 2)
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    expected = masks(model)
    model_keys = [k for k, _ in tf.train.list_variables(path)]
    assert any(k.startswith("model/dropout_1/generator") for k in model_keys), model_keys
    tf.train.Checkpoint(model=model).read(path).assert_consumed()
    np.testing.assert_array_equal(masks(model), expected)
    fresh = L.Sequential([L.Dropout(0.5)], input_shape=(6,))   # a new process: other state
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    np.testing.assert_array_equal(masks(fresh), expected)
    assert not np.array_equal(expected[0], expected[1])


# ---- BatchNorm's guard ----------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_batch_leaves_the_moving_statistics_alone(bad):
    layer = L.BatchNorm(momentum=0.5, n_features=3)
    layer(data((8, 3)), training=True)
    before = [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
    x = data((8, 3)).numpy()
    x[2, 1] = bad
    for call in (layer, tf.function(lambda x, training: layer(x, training=training))):
        call(tf.constant(x), training=True)
        np.testing.assert_array_equal(layer.moving_mean.numpy(), before[0])
        np.testing.assert_array_equal(layer.moving_variance.numpy(), before[1])
    layer(data((8, 3), seed=5), training=True)
    assert not np.array_equal(layer.moving_mean.numpy(), before[0])   # finite: updated


# ---- training: XLA, mixed precision, the trainer --------------------------------------
def sgd_step(model, x, y, lr=0.1):
    with tf.GradientTape() as tape:
        logits = precision.to_float32(model(x, training=True))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    grads = tape.gradient(loss, model.trainable_variables)
    for v, g in zip(model.trainable_variables, grads):
        v.assign_sub(lr * g)
    return loss


@pytest.mark.numerics
def test_a_cnn_trains_the_same_with_and_without_xla():
    x, y = data((8, 12, 12, 1)), tf.constant(np.arange(8) % 10, tf.int32)
    results = []
    for jit in (False, True):
        model = cnn(seed=4)
        step = tf.function(lambda x, y: sgd_step(model, x, y), jit_compile=jit)
        losses = [float(step(x, y)) for _ in range(2)]
        results.append((losses, [v.numpy() for v in model.variables]))
    (plain, plain_vars), (xla, xla_vars) = results
    np.testing.assert_allclose(plain, xla, rtol=1e-4)
    assert plain[1] < plain[0]
    for a, b in zip(plain_vars, xla_vars):   # weights and moving statistics, same dropout masks
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.numerics
def test_a_bfloat16_forward_pass_is_close_to_float32():
    model = cnn(seed=2, rate=0.0)   # no dropout: both passes see the same network
    x = data((4, 12, 12, 1))
    for training in (False, True):
        expected = model(x, training=training)
        with precision.using("mixed_bfloat16"):
            got = model(x, training=training)
            loss = sgd_step(model, x, tf.constant([1, 2, 3, 4]), lr=0.0)
        assert got.dtype == tf.bfloat16 and expected.dtype == tf.float32
        assert loss.dtype == tf.float32 and np.isfinite(loss.numpy())
        scale = np.abs(expected.numpy()).max()
        np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), expected.numpy(),
                                   atol=0.05 * scale)
    assert all(v.dtype == tf.float32 for v in model.variables)


def test_a_sequential_is_a_model_for_the_trainer(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, 12, 12, 1)).astype(np.float32)
    y = (x.reshape(64, -1).mean(axis=1) > 0.5).astype(np.int32)
    trainer = lt.Trainer(lambda: cnn(seed=0, rate=0.25), optimizer=lt.optimizers.Adam(0.01),
                         run_dir=tmp_path / "run", verbose=0, histograms=False)
    history = trainer.fit((x, y), (x[:16], y[:16]), epochs=2, batch_size=16)
    assert np.isfinite(history["loss"]).all()
    assert trainer.evaluate((x, y))["accuracy"] >= 0.5
    assert all(np.isfinite(v.numpy()).all() for v in trainer.model.variables)


# Strategies need a fresh process (logical devices are made before TensorFlow starts).
MIRRORED = """
import sys, numpy as np, tensorflow as tf
sys.path.insert(0, sys.argv[1])
import lowtf as lt
from lowtf.distribute import make_strategy
strategy = make_strategy("mirrored", devices=2)   # before anything starts TensorFlow
from test_layers import cnn
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (32, 12, 12, 1)).astype(np.float32)
y = (x.reshape(32, -1).mean(axis=1) > 0.5).astype(np.int32)
trainer = lt.Trainer(lambda: cnn(seed=0), optimizer=lt.optimizers.SGD(0.05), strategy=strategy,
                     verbose=0, histograms=False)
history = trainer.fit((x, y), epochs=1, batch_size=16)
model = trainer.model
assert trainer.replicas == 2 and np.isfinite(history["loss"]).all(), history
assert isinstance(model.batch_norm_1.moving_mean, tf.distribute.DistributedValues)
assert not np.allclose(model.batch_norm_1.moving_mean.numpy(), 0)   # moved, and read as one
assert all(np.isfinite(v.numpy()).all() for v in model.variables)
print("ok")
"""


def test_a_sequential_trains_under_mirrored_strategy_on_two_cpus():
    import subprocess
    import sys
    tests = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", MIRRORED, tests], capture_output=True,
                            text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "ok"


# ---- image augmentation ---------------------------------------------------------------------

def shifted(image, dy, dx):
    """`image` moved down `dy` and right `dx` pixels, zeros where nothing moved in."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


@pytest.mark.parametrize("shape", [(40, 9, 9), (40, 9, 9, 2)])
def test_random_shift_moves_each_image_by_at_most_its_pixels(shape):
    x = data(shape, seed=1) + 1.0  # no zeros of its own
    y = L.RandomShift(2, seed=4)(x, training=True).numpy()
    seen = set()
    for image, out in zip(x, y):
        offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(out, shifted(image, dy, dx))]
        assert len(offsets) == 1, "not a translation by at most 2 pixels"
        seen.add(offsets[0])
    assert len(seen) > 10  # the offsets vary from image to image
    np.testing.assert_array_equal(L.RandomShift(2, seed=4)(x, training=False), x)


def test_random_flip_mirrors_about_half_of_the_images():
    x = data((200, 6, 7), seed=2)
    y = L.RandomFlip(seed=3)(x, training=True).numpy()
    flipped = [np.array_equal(out, np.flip(image, axis=1)) for image, out in zip(x, y)]
    kept = [np.array_equal(out, image) for image, out in zip(x, y)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 70 < sum(flipped) < 130


@pytest.mark.numerics
def test_augmentation_draws_the_same_under_xla_and_after_a_restore(tmp_path):
    x = tf.constant(data((16, 10, 10), seed=5))

    def make():
        return L.Sequential([L.RandomShift(2, seed=7), L.RandomFlip(seed=8)],
                            input_shape=(10, 10))

    plain, compiled = make(), make()
    step = tf.function(lambda m: m(x, training=True))
    jitted = tf.function(lambda m: m(x, training=True), jit_compile=True)
    for _ in range(2):
        np.testing.assert_array_equal(step(plain), jitted(compiled))
    saved = tf.train.Checkpoint(model=plain).save(str(tmp_path / "ckpt"))
    expected = plain(x, training=True).numpy()
    again = make()
    tf.train.Checkpoint(model=again).restore(saved)
    np.testing.assert_array_equal(again(x, training=True), expected)


def test_augmentation_settings_are_checked():
    with pytest.raises(lt.ConfigError, match="pixels must be an int >= 1"):
        L.RandomShift(0)
    with pytest.raises(lt.DataError, match="rank"):
        L.RandomFlip(seed=1)(tf.zeros([4, 5]), training=True)
