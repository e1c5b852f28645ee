"""neuron_layer, Network, activations, losses, metrics and input checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf.inputs import check_features, check_labels, to_model_input


# ---- neuron_layer and Network -------------------------------------------------------
def test_neuron_layer_initialisation_follows_the_notes():
    layer = lt.layers.NeuronLayer(784, 300, "hidden1", activation="relu", seed=3)
    kernel = layer.kernel.numpy()
    stddev = 2 / np.sqrt(784)
    assert np.abs(kernel).max() <= 2 * stddev + 1e-6           # truncated at two stddevs
    # A normal truncated at +-2 sigma has a standard deviation of 0.8796 sigma.
    assert kernel.std() == pytest.approx(0.8796 * stddev, rel=0.02)
    assert abs(kernel.mean()) < 0.01 * stddev * 10
    assert np.all(layer.bias.numpy() == 0)
    assert layer.n_params == 784 * 300 + 300


def test_neuron_layer_is_seeded_and_applies_its_activation():
    a = lt.layers.NeuronLayer(4, 3, "h", activation="relu", seed=1)
    b = lt.layers.NeuronLayer(4, 3, "h", activation="relu", seed=1)
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
    x = tf.constant([[1.0, -2.0, 3.0, 0.5]])
    expected = np.maximum(x.numpy() @ a.kernel.numpy() + a.bias.numpy(), 0)
    np.testing.assert_allclose(a(x).numpy(), expected, rtol=1e-6)


def test_neuron_layer_function_reads_the_input_size_and_refuses_unknown_sizes():
    layer = lt.layers.neuron_layer(tf.TensorSpec([None, 20]), 5, "hidden1")
    assert (layer.n_inputs, layer.n_neurons) == (20, 5)
    assert lt.layers.neuron_layer(np.zeros((2, 7), np.float32), 3, "h").n_inputs == 7
    with pytest.raises(lt.ConfigError, match="input size must be known"):
        lt.layers.neuron_layer(tf.TensorSpec([None, None]), 5, "hidden1")
    with pytest.raises(lt.ConfigError, match="positive int"):
        lt.layers.NeuronLayer(0, 5, "h")


def test_variables_are_named_under_the_network_scope():
    model = lt.dnn(seed=0)
    names = sorted(v.name for v in model.trainable_variables)
    assert names == sorted(f"dnn/{l}/{a}:0" for l in ("hidden1", "hidden2", "outputs")
                           for a in ("kernel", "bias"))


def test_variables_are_created_once_and_calls_trace_without_creating_more():
    model = lt.dnn(seed=0)
    before = len(model.variables)
    traced = tf.function(model.__call__)
    traced(tf.zeros([3, 784]))
    traced(tf.zeros([5, 784]))
    assert len(model.variables) == before == 6


def test_summary_counts_parameters_like_the_notes():
    text = lt.dnn().summary()
    assert "235,500" in text and "30,100" in text and "1,010" in text
    assert "Total params: 266,610" in text
    assert lt.dnn().n_params == 266_610


def test_weights_round_trip_and_config_rebuilds_the_architecture():
    a, b = lt.dnn(seed=1), lt.dnn(seed=2)
    weights = a.get_weights()
    assert list(weights) == [f"dnn/{l}/{k}" for l in ("hidden1", "hidden2", "outputs")
                             for k in ("kernel", "bias")]
    assert weights["dnn/hidden1/kernel"].shape == (784, 300)
    b.set_weights(weights)
    x = np.random.default_rng(0).uniform(size=(4, 784)).astype(np.float32)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    rebuilt = lt.Network.from_config(a.config)
    assert rebuilt.config == a.config
    with pytest.raises(lt.ConfigError, match="missing"):
        b.set_weights({"dnn/hidden1/kernel": weights["dnn/hidden1/kernel"]})
    bad = dict(weights, **{"dnn/outputs/bias": np.zeros(3)})
    with pytest.raises(lt.ConfigError, match="shape"):
        b.set_weights(bad)


@pytest.mark.parametrize("name", ["1st", "trainable_variables", "_x", "class", ""])
def test_invalid_layer_names_are_refused(name):
    with pytest.raises(lt.ConfigError, match="layer name"):
        lt.Network(4, [(name, 2, None)])


# ---- activations ----------------------------------------------------------------------
@pytest.mark.parametrize("name,oracle", [
    ("sigmoid", keras.activations.sigmoid), ("tanh", keras.activations.tanh),
    ("relu", keras.activations.relu), ("selu", keras.activations.selu),
    ("softplus", keras.activations.softplus), ("elu", keras.activations.elu),
    ("gelu", lambda x: keras.activations.gelu(x, approximate=False)),
    ("leaky_relu", lambda x: keras.activations.leaky_relu(x, negative_slope=0.01)),
    ("softmax", keras.activations.softmax),
])
def test_activations_match_keras(name, oracle):
    x = tf.constant(np.linspace(-4, 4, 24, dtype=np.float32).reshape(3, 8))
    _, fn = lt.activations.get_activation(name)
    np.testing.assert_allclose(fn(x).numpy(), np.asarray(oracle(x)), rtol=1e-5, atol=1e-6)


def test_unknown_activation_is_refused():
    assert lt.activations.get_activation(None) == ("linear", None)
    with pytest.raises(lt.ConfigError, match="unknown activation 'swishy'"):
        lt.activations.get_activation("swishy")


# ---- losses -------------------------------------------------------------------------
def test_losses_match_keras_per_example():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 16).astype(np.int32)
    _, ce = lt.losses.get_loss("sparse_softmax_cross_entropy")
    oracle = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(ce(labels, logits).numpy(), oracle(labels, logits), rtol=1e-5)

    outputs = rng.uniform(0.01, 0.99, size=(16, 3)).astype(np.float32)
    targets = rng.integers(0, 2, size=(16, 3)).astype(np.float32)
    _, mse = lt.losses.get_loss("mse")
    np.testing.assert_allclose(mse(targets, outputs).numpy(),
                               keras.losses.MeanSquaredError(reduction=None)(targets, outputs),
                               rtol=1e-6)
    _, bce = lt.losses.get_loss("binary_crossentropy")
    np.testing.assert_allclose(bce(targets, outputs).numpy(),
                               keras.losses.BinaryCrossentropy(reduction=None)(targets, outputs),
                               rtol=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(lt.ConfigError, match="unknown loss"):
        lt.losses.get_loss("hinge")


# ---- metrics ------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_streams_with_in_top_k_semantics(k):
    rng = np.random.default_rng(k)
    logits = np.round(rng.normal(size=(300, 10)), 1).astype(np.float32)  # many ties
    logits[7, 3] = np.nan                                                  # counts as a miss
    labels = rng.integers(0, 10, 300).astype(np.int32)
    expected = tf.reduce_mean(tf.cast(tf.math.in_top_k(labels, logits, k), tf.float32))
    metric = lt.metrics.TopKAccuracy(k)
    update = tf.function(metric.update_state)
    for start in range(0, 300, 70):                                        # uneven batches
        update(labels[start:start + 70], logits[start:start + 70])
    assert float(metric.result()) == pytest.approx(float(expected), abs=1e-7)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_top1_accuracy_matches_keras_and_sample_weights_mask():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 50).astype(np.int32)
    oracle = keras.metrics.SparseCategoricalAccuracy()
    oracle.update_state(labels, logits)
    metric = lt.metrics.get_metric("accuracy")
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(float(oracle.result()), abs=1e-7)
    masked = lt.metrics.TopKAccuracy(1)
    masked.update_state(labels, logits, sample_weight=np.r_[np.ones(20), np.zeros(30)])
    hits = np.argmax(logits[:20], 1) == labels[:20]
    assert float(masked.result()) == pytest.approx(hits.mean())


def test_mean_and_binary_accuracy():
    mean = lt.metrics.Mean("loss")
    mean.update_state([1.0, 2.0])
    mean.update_state([6.0])
    assert float(mean.result()) == pytest.approx(3.0)
    acc = lt.metrics.BinaryAccuracy()
    acc.update_state(np.array([[1], [0], [1], [0]], np.float32),
                     np.array([[0.9], [0.2], [0.4], [0.6]], np.float32))
    assert float(acc.result()) == pytest.approx(0.5)


@pytest.mark.parametrize("bad", ["top0_accuracy", "topx_accuracy", "f1", 3])
def test_unknown_metrics_are_refused(bad):
    with pytest.raises(lt.ConfigError):
        lt.metrics.get_metric(bad)
    assert lt.metrics.get_metric("top5_accuracy").k == 5


# ---- input checks -------------------------------------------------------------------
def test_features_are_checked_for_dtype_shape_and_finiteness():
    ok = np.zeros((3, 28, 28), np.uint8)
    assert check_features(ok, 784).shape == (3, 784)
    with pytest.raises(lt.DataError, match="float64.*astype"):
        check_features(np.zeros((3, 784)), 784)
    with pytest.raises(lt.DataError, match=r"shape \(3, 10\).*takes 784"):
        check_features(np.zeros((3, 10), np.float32), 784)
    bad = np.zeros((3, 784), np.float32)
    bad[2, 5] = np.nan
    with pytest.raises(lt.DataError, match="NaN or Inf.*example 2"):
        check_features(bad, 784)
    with pytest.raises(lt.DataError, match="empty"):
        check_features(np.zeros((0, 784), np.float32), 784)
    with pytest.raises(lt.DataError, match="numpy array"):
        check_features([[0.0] * 784], 784)


def test_labels_are_checked_for_range_type_and_length():
    assert check_labels(np.array([0, 9], np.int64), 2, 10).dtype == np.int32
    with pytest.raises(lt.DataError, match=r"\[0, 10\).*example 1 has label 10"):
        check_labels(np.array([3, 10]), 2, 10)
    with pytest.raises(lt.DataError, match="example 0 has label -1"):
        check_labels(np.array([-1, 0]), 2, 10)
    with pytest.raises(lt.DataError, match="integers"):
        check_labels(np.array([0.0, 1.0]), 2, 10)
    with pytest.raises(lt.DataError, match="3 entries but there are 2"):
        check_labels(np.array([0, 1, 2]), 2, 10)
    with pytest.raises(lt.DataError, match="NaN"):
        check_labels(np.array([np.nan, 1.0]), 2, None)


def test_uint8_inputs_are_scaled_like_float_inputs():
    x = np.arange(256, dtype=np.uint8).reshape(1, 256)
    np.testing.assert_array_equal(to_model_input(x).numpy(),
                                  x.astype(np.float32) / 255.0)
