"""In-graph evaluation and prediction over arrays: exact, and traced once per signature."""

import os

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_classification
from lowtf.memory import release_free_memory

pytestmark = pytest.mark.numerics  # also run with oneDNN switched the other way


@pytest.fixture
def model():
    return lt.dnn(784, (16,), 10, seed=3)


@pytest.mark.parametrize("n", [1, 999, 1000, 2501])
def test_logits_match_one_direct_call_for_any_count(model, n):
    x, _ = make_classification(n, dtype=np.uint8)
    predictor = lt.Predictor(model, batch_size=1000)
    expected = model(tf.cast(x.reshape(n, 784), tf.float32) / 255.0).numpy()
    np.testing.assert_allclose(predictor.logits(x), expected, rtol=1e-6, atol=1e-6)


def test_evaluation_of_arrays_equals_a_dataset_and_traces_once_per_signature(model):
    x, y = make_classification(2300, dtype=np.uint8)
    predictor = lt.Predictor(model, metrics=("accuracy", "top3_accuracy"), batch_size=1000)
    images = x.reshape(-1, 28, 28)
    first = predictor.evaluate(images, y)
    for n in (1700, 300, 2300):  # other counts, partial last batches: no new trace
        predictor.evaluate(images[:n], y[:n])
    assert predictor.evaluator.trace_count == 1
    assert len(predictor.evaluator._array_loop.functions) == 1
    from_dataset = predictor.evaluator(lt.data.eval_batches(images, y, 1000, 784))
    assert from_dataset == pytest.approx(first, rel=1e-6)
    predictor.evaluate(x.astype(np.float32) / 255, y)  # float32 [n, 784]: a second signature
    assert len(predictor.evaluator._array_loop.functions) == 2


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_evaluating_every_epoch_does_not_grow_memory(model):
    # Regression: evaluation and image summaries built a tf.data pipeline per call,
    # and 40 rounds grew the process by ~100 MiB (now: under 10).
    x, y = make_classification(5000, dtype=np.uint8)
    predictor = lt.Predictor(model)

    def epoch():
        predictor.evaluate(x, y)
        predictor.probabilities(x)

    for _ in range(5):
        epoch()
    release_free_memory()
    before = _rss_mib()
    for _ in range(40):
        epoch()
    release_free_memory()
    growth = _rss_mib() - before
    assert growth < 40, f"RSS grew {growth:.0f} MiB over 40 evaluations"
