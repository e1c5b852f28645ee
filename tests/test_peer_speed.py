"""benchmarks/peer_speed.py without JAX or PyTorch: the data file every framework reads holds
lowtf's own initial weights and data, the loss that checks them all is lowtf's, the table's
medians and ratios are right, and without the peers' Python lowtf and Keras still run."""

import json
import os
import sys

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)
import peer_speed  # noqa: E402
import worker  # noqa: E402  (benchmarks/peers/, on the path through peer_speed)
from peer_speed import COMPILED, EAGER, JAX, LOWTF  # noqa: E402

from fake_data import write_fake_fashion_mnist  # noqa: E402


def test_the_data_file_holds_the_data_and_lowtfs_exact_initial_weights(tmp_path):
    import lowtf as lt

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(30, 784), dtype=np.uint8)
    y = rng.integers(0, 10, size=30).astype(np.int32)
    path = tmp_path / "data.npz"
    peer_speed.write_data(path, x, y, peer_speed.initial_weights())
    x2, y2, weights = worker.load(path)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert x2.dtype == np.uint8 and y2.dtype == np.int32
    reference = lt.dnn(seed=42).get_weights()  # a fresh draw: the same seed, the same weights
    assert [w.shape for w in weights] == [(784, 300), (300,), (300, 100), (100,), (100, 10), (10,)]
    for name, w in zip(peer_speed.LOWTF_NAMES, weights):
        np.testing.assert_array_equal(w, reference[name])
    for kernel, bias in zip(weights[0::2], weights[1::2]):  # lowtf's initialiser
        assert np.abs(kernel).max() <= 2 * 2 / np.sqrt(kernel.shape[0]) and not bias.any()


def test_the_checking_loss_is_lowtfs_cross_entropy():
    import tensorflow as tf

    import lowtf as lt

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(64, 784), dtype=np.uint8)
    y = rng.integers(0, 10, size=64).astype(np.int32)
    network = lt.dnn(seed=3)
    logits = network(x.astype(np.float32) / 255)
    expected = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    weights = [network.get_weights()[n] for n in peer_speed.LOWTF_NAMES]
    assert peer_speed.training_loss(weights, x, y, chunk=10) == pytest.approx(float(expected), rel=1e-5)


def run(rate, loss=1.0, **extra):
    return dict({"samples_per_second": rate, "samples_per_cpu_second": rate / 2,
                 "final_loss": loss, "epoch_loss": loss + 0.1}, **extra)


def test_medians_ratios_and_loss_warnings():
    names = [LOWTF, "Keras spe=100", "Keras spe=1000", JAX, EAGER, COMPILED]
    runs = {"50": {LOWTF: [run(100), run(300), run(200)],
                   "Keras spe=100": [run(50), run(60), run(70)],
                   "Keras spe=1000": [run(80), run(90, 1.01), run(100)],
                   JAX: [run(400), run(500), run(450)],
                   EAGER: [run(20, 1.2), run(25, 1.2), run(30, 1.2)],  # not the same training
                   COMPILED: [{"error": "boom"}, run(40), run(50, 1.02)]}}
    result = peer_speed.analyse(runs, names, tolerance=0.05)
    assert result["throughput"]["50"][LOWTF] == {"median": 200, "min": 100, "max": 300,
                                                 "values": [100, 300, 200]}
    assert result["throughput"]["50"][COMPILED]["values"] == [40, 50]  # the failed run left out
    assert result["cpu_efficiency"]["50"][LOWTF] == 100
    ratios = result["ratios"]["50"]
    assert ratios["lowtf / JAX"] == pytest.approx(200 / 450)
    assert ratios["lowtf / PyTorch eager"] == pytest.approx(200 / 25)
    assert ratios["lowtf / torch.compile"] == pytest.approx(200 / 45)
    assert ratios["keras_best"] == "Keras spe=1000"
    assert ratios["lowtf / Keras best"] == pytest.approx(200 / 90)
    losses = result["losses"]["50"]
    assert losses[EAGER]["relative_to_lowtf"] == pytest.approx(0.2)
    assert losses[COMPILED]["final"] == pytest.approx(1.01) and losses[LOWTF]["epoch"] == 1.1
    assert len(result["warnings"]) == 1 and "PyTorch eager" in result["warnings"][0]
    assert peer_speed.errors(runs) == {COMPILED: "boom"}


def test_a_failed_peer_gives_no_ratio():
    runs = {"256": {LOWTF: [run(100)], JAX: [{"error": "exit 1: ModuleNotFoundError"}]}}
    result = peer_speed.analyse(runs, [LOWTF, JAX], tolerance=0.05)
    assert result["ratios"]["256"]["lowtf / JAX"] is None
    assert result["ratios"]["256"]["keras_best"] is None and not result["warnings"]


def test_without_the_peers_python_lowtf_and_keras_still_run(tmp_path, capsys):
    data = write_fake_fashion_mnist(tmp_path / "data", n_train=500, n_test=10)
    out = tmp_path / "peer_speed.json"
    result = peer_speed.main(["--quick", "--train-examples", "400", "--batch-sizes", "50",
                              "--keras-spe", "10", "--peers-python", str(tmp_path / "no" / "python"),
                              "--data-dir", data, "--out", str(out)])
    printed = capsys.readouterr().out
    assert "run `make benchmark-peers` to create it; running lowtf and Keras only" in printed
    assert result["variant_order"] == [LOWTF, "Keras spe=10"] and not result["errors"]
    for name in result["variant_order"]:
        (r,) = result["runs"]["50"][name]
        assert r["samples_per_second"] > 0 and r["final_loss"] < result["initial_loss"]
    assert r["framework"] == "keras" and r["steps_per_execution"] == 10
    assert result["runs"]["50"][LOWTF][0]["samples_per_epoch"] == 400
    assert result["ratios"]["50"]["lowtf / JAX"] is None
    assert result["ratios"]["50"]["lowtf / Keras best"] > 0
    saved = json.loads(out.read_text())
    assert saved["table"] in printed and "lowtf / Keras best" in saved["table"]
    assert len(saved["load_average"]["start"]) == 3 and saved["versions"]["keras"]
