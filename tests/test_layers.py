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
