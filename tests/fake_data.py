"""A tiny stand-in for Fashion-MNIST on disk (IDX files), for sweep and export tests.

`lowtf.run_experiment` loads data by name from a folder and holds out the first 5,000
training images for validation, so the fake training set has 5,000 + `n_train` images:
noisy copies of one random binary prototype per class, learnable in an epoch or two.
"""

import os

import numpy as np

import lowtf as lt


def make_images(n, seed, noise=0.35):
    rng = np.random.default_rng(1234)  # the same prototypes for every split
    prototypes = (rng.random((10, 784)) < 0.3).astype(np.float32)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    x = np.clip(prototypes[labels] + rng.normal(0.0, noise, (n, 784)), 0.0, 1.0)
    return np.round(x * 255).astype(np.uint8).reshape(n, 28, 28), labels


def write_fake_fashion_mnist(folder, n_train=600, n_test=300):
    """Writes the four Fashion-MNIST IDX files to `folder`; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    train_x, train_y = make_images(5000 + n_train, seed=1)
    test_x, test_y = make_images(n_test, seed=2)
    for name, array in (("train-images-idx3-ubyte.gz", train_x),
                        ("train-labels-idx1-ubyte.gz", train_y),
                        ("t10k-images-idx3-ubyte.gz", test_x),
                        ("t10k-labels-idx1-ubyte.gz", test_y)):
        lt.data.write_idx(os.path.join(folder, name), array)
    return str(folder)
