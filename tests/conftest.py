"""Shared fixtures: small learnable data sets made on the spot, and the real one."""

import os

import numpy as np
import pytest
from hypothesis import settings

# CI runs the property tests with a fixed seed so a red build is reproducible;
# `LOWTF_HYPOTHESIS=explore make test` searches with fresh random examples.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("LOWTF_HYPOTHESIS", "ci"))


def pytest_report_header(config):
    from lowtf.machine import describe

    return f"machine: {describe()}"


def make_classification(n=600, n_inputs=784, n_classes=10, seed=0, dtype=np.float32):
    """Examples clustered around one random prototype per class (learnable in an epoch)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 1, size=(n_classes, n_inputs))
    labels = rng.integers(0, n_classes, size=n).astype(np.int32)
    x = np.clip(prototypes[labels] + rng.normal(0, 0.25, size=(n, n_inputs)), 0, 1)
    if dtype == np.uint8:
        return np.round(x * 255).astype(np.uint8), labels
    return x.astype(np.float32), labels


@pytest.fixture
def small_data():
    """`(train, validation)` pairs of float32 [n, 784] features and int32 labels."""
    x, y = make_classification(700)
    return (x[:500], y[:500]), (x[500:], y[500:])


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST (Debian's dataset-fashion-mnist), uint8 images."""
    import lowtf as lt
    return lt.load_dataset("fashion_mnist", raw=True)


def make_prototype_data(n=400, n_train=300, noise=0.3, seed=0):
    """`(train, validation)`: n examples of 784 float32 features in [0, 1], each a noisy
    copy of a random binary prototype of its class (10 classes, balanced)."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((10, 784)) < 0.3).astype(np.float32)
    y = rng.permutation(np.arange(n) % 10).astype(np.int32)
    x = np.clip(prototypes[y] + rng.normal(0.0, noise, (n, 784)), 0.0, 1.0).astype(np.float32)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
