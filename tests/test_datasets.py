"""Tests for lowtf.datasets: lookup order, splits, validation, download, real data."""

import functools
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from lowtf import datasets
from lowtf.datasets import (
    FASHION_MNIST_CLASS_NAMES, IDX_FILES, MNIST_CLASS_NAMES, DataSplits, Split,
    find_dataset, load_dataset, load_fashion_mnist, load_mnist,
)
from lowtf.errors import ConfigError, DataError
from lowtf.idx import write_idx

REAL_DIR = "/usr/share/datasets/fashion-mnist"


def make_data(folder, n_train=20, n_test=8, seed=0, train_labels=None, gz=True):
    """Write tiny Fashion-MNIST-style IDX files into `folder`; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8)
        if train_labels is None else np.asarray(train_labels, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    os.makedirs(folder, exist_ok=True)
    for name, array in arrays.items():
        write_idx(os.path.join(folder, name + (".gz" if gz else "")), array)
    return arrays


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """Isolate from the user's data: empty home, no env overrides, no network."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("LOWTF_DATA_DIR", raising=False)
    monkeypatch.setenv("LOWTF_DATA_URL", "http://127.0.0.1:9/")
    return home


@pytest.fixture
def system_dir(tmp_path, monkeypatch):
    """Replace Debian's /usr/share/datasets with an empty temp folder."""
    folder = tmp_path / "system"
    folder.mkdir()
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def server(tmp_path):
    """Serve a temp folder over HTTP on 127.0.0.1; yields (folder, url, requested paths)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requested.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/base", requested
    httpd.shutdown()
    httpd.server_close()


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TestLookup:
    def test_order_explicit_env_keras_system(self, tmp_path, monkeypatch, system_dir):
        explicit, env, keras = tmp_path / "explicit", tmp_path / "env", tmp_path / "keras"
        for seed, folder in enumerate([explicit, env, keras / "datasets" / "fashion-mnist",
                                       system_dir / "fashion-mnist"]):
            make_data(folder, seed=seed)
        monkeypatch.setenv("LOWTF_DATA_DIR", str(env))
        monkeypatch.setenv("KERAS_HOME", str(keras))
        assert find_dataset("fashion_mnist", data_dir=explicit) == str(explicit)
        assert find_dataset("fashion_mnist") == str(env)
        monkeypatch.delenv("LOWTF_DATA_DIR")
        assert find_dataset("fashion_mnist") == str(keras / "datasets" / "fashion-mnist")
        monkeypatch.delenv("KERAS_HOME")
        assert find_dataset("fashion_mnist") == str(system_dir / "fashion-mnist")

    def test_keras_cache_defaults_to_home(self, clean_env, system_dir):
        folder = clean_env / ".keras" / "datasets" / "fashion-mnist"
        make_data(folder)
        assert find_dataset("fashion_mnist") == str(folder)

    def test_env_dir_may_be_parent_with_subfolder(self, tmp_path, monkeypatch, system_dir):
        make_data(tmp_path / "data" / "fashion-mnist")
        monkeypatch.setenv("LOWTF_DATA_DIR", str(tmp_path / "data"))
        assert find_dataset("fashion-mnist") == str(tmp_path / "data" / "fashion-mnist")

    def test_env_dir_without_files_falls_through(self, tmp_path, monkeypatch, system_dir):
        make_data(system_dir / "fashion-mnist")
        monkeypatch.setenv("LOWTF_DATA_DIR", str(tmp_path / "nothing"))
        assert find_dataset("fashion_mnist") == str(system_dir / "fashion-mnist")

    def test_explicit_dir_without_files_is_an_error(self, tmp_path, monkeypatch, system_dir):
        make_data(system_dir / "fashion-mnist")
        folder = tmp_path / "partial"
        make_data(folder)
        os.remove(folder / "t10k-labels-idx1-ubyte.gz")
        with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte.gz") as info:
            find_dataset("fashion_mnist", data_dir=folder)
        assert str(folder) in str(info.value)

    def test_unzipped_idx_files_are_accepted(self, tmp_path, system_dir):
        arrays = make_data(tmp_path / "raw", gz=False)
        splits = load_dataset("fashion_mnist", data_dir=tmp_path / "raw", validation_size=0, raw=True)
        np.testing.assert_array_equal(splits.test.images, arrays["t10k-images-idx3-ubyte"])

    def test_unknown_name_lists_valid_names(self):
        with pytest.raises(ConfigError, match="fashion_mnist, mnist"):
            find_dataset("cifar10")

    def test_all_fail_message_lists_places_and_three_ways(self, tmp_path, monkeypatch, system_dir):
        monkeypatch.setenv("LOWTF_DATA_DIR", str(tmp_path / "nothing"))
        with pytest.raises(DataError) as info:
            find_dataset("fashion_mnist")
        message = str(info.value)
        for expected in [f"LOWTF_DATA_DIR={tmp_path / 'nothing'}", "Keras cache", str(system_dir),
                         "download from http://127.0.0.1:9/: failed",
                         "apt-get install dataset-fashion-mnist", "set LOWTF_DATA_DIR", "data_dir=",
                         "internet access", "~/.keras/datasets"]:
            assert expected in message
        assert list(tmp_path.glob("home/.keras/datasets/fashion-mnist/*")) == []

    def test_download_disabled(self, system_dir):
        with pytest.raises(DataError, match=r"disabled \(download=False\)"):
            load_dataset("mnist", download=False)


class TestLoad:
    def test_splits_dtypes_and_scaling(self, tmp_path, system_dir):
        arrays = make_data(tmp_path / "d")
        splits = load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=5)
        raw = load_fashion_mnist(data_dir=tmp_path / "d", validation_size=5, raw=True)
        assert isinstance(splits, DataSplits) and isinstance(splits.train, Split)
        assert (len(splits.train), len(splits.validation), len(splits.test)) == (15, 5, 8)
        assert splits.class_names == FASHION_MNIST_CLASS_NAMES and splits.name == "fashion_mnist"
        assert splits.source == str(tmp_path / "d")
        for split in (splits.train, splits.validation, splits.test):
            assert split.images.dtype == np.float32 and split.images.shape[1] == 784
            assert split.labels.dtype == np.int32
            assert 0.0 <= split.images.min() and split.images.max() <= 1.0
        train_images = arrays["train-images-idx3-ubyte"]
        np.testing.assert_array_equal(raw.validation.images, train_images[:5])
        np.testing.assert_array_equal(raw.train.images, train_images[5:])
        np.testing.assert_array_equal(raw.validation.labels, arrays["train-labels-idx1-ubyte"][:5])
        assert raw.train.images.dtype == np.uint8 and raw.train.images.shape == (15, 28, 28)
        np.testing.assert_allclose(splits.train.images, train_images[5:].reshape(15, 784) / 255.0, rtol=1e-6)
        assert "float32[15, 784]" in repr(splits.train)

    def test_validation_size_zero_and_bounds(self, tmp_path, system_dir):
        make_data(tmp_path / "d")
        assert len(load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=0).validation) == 0
        for bad in (-1, 20, 2.5, True):
            with pytest.raises(ConfigError, match="validation_size"):
                load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=bad)

    def test_labels_out_of_range(self, tmp_path, system_dir):
        make_data(tmp_path / "d", train_labels=[0] * 19 + [10])
        with pytest.raises(DataError, match=r"labels must be in \[0, 10\), found values from 0 to 10"):
            load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=5)

    def test_count_mismatch(self, tmp_path, system_dir):
        make_data(tmp_path / "d", train_labels=[1] * 19)
        with pytest.raises(DataError, match="has 20 images but .* has 19 labels"):
            load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=5)

    def test_wrong_image_shape(self, tmp_path, system_dir):
        make_data(tmp_path / "d")
        write_idx(tmp_path / "d" / "t10k-images-idx3-ubyte.gz", np.zeros((8, 27, 28), np.uint8))
        with pytest.raises(DataError, match=r"shape \[N, 28, 28\], found uint8 \[8, 27, 28\]"):
            load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=5)

    def test_corrupt_file_names_path(self, tmp_path, system_dir):
        make_data(tmp_path / "d")
        path = tmp_path / "d" / "train-images-idx3-ubyte.gz"
        path.write_bytes(path.read_bytes()[:-50])
        with pytest.raises(DataError, match=str(path)):
            load_dataset("fashion_mnist", data_dir=tmp_path / "d", validation_size=5)


class TestMnistNpz:
    def _write_npz(self, path, **overrides):
        rng = np.random.default_rng(1)
        arrays = {
            "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
            "y_train": (np.arange(12) % 10).astype(np.uint8),
            "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
            "y_test": np.arange(4, dtype=np.uint8),
        }
        arrays.update(overrides)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(path, **arrays)
        return arrays

    def test_keras_cache_npz(self, clean_env, system_dir):
        path = clean_env / ".keras" / "datasets" / "mnist.npz"
        arrays = self._write_npz(path)
        splits = load_mnist(validation_size=2, raw=True)
        assert splits.source == str(path) and splits.class_names == MNIST_CLASS_NAMES
        assert (len(splits.train), len(splits.validation), len(splits.test)) == (10, 2, 4)
        np.testing.assert_array_equal(splits.validation.images, arrays["x_train"][:2])

    def test_npz_as_data_dir(self, tmp_path, system_dir):
        self._write_npz(tmp_path / "m.npz")
        assert load_dataset("mnist", data_dir=tmp_path / "m.npz", validation_size=2).source == str(tmp_path / "m.npz")

    def test_npz_missing_key_and_pickles(self, tmp_path, system_dir):
        np.savez(tmp_path / "missing.npz", x_train=np.zeros((1, 28, 28), np.uint8))
        with pytest.raises(DataError, match="missing arrays y_train, x_test, y_test"):
            load_dataset("mnist", data_dir=tmp_path / "missing.npz")
        self._write_npz(tmp_path / "pickled.npz", y_test=np.array([0, 1, 2, "x"], dtype=object))
        with pytest.raises(DataError, match="not a readable .npz"):
            load_dataset("mnist", data_dir=tmp_path / "pickled.npz")
        (tmp_path / "garbage.npz").write_bytes(b"not a zip")
        with pytest.raises(DataError, match="garbage.npz"):
            load_dataset("mnist", data_dir=tmp_path / "garbage.npz")


class TestDownload:
    def test_good_checksum_is_cached(self, tmp_path, monkeypatch, clean_env, system_dir, server):
        served, url, requested = server
        arrays = make_data(served / "base")
        for name in IDX_FILES:
            monkeypatch.setitem(datasets.CHECKSUMS["fashion_mnist"], name, _sha256(served / "base" / name))
        monkeypatch.setenv("LOWTF_DATA_URL", url)
        splits = load_dataset("fashion_mnist", validation_size=5, raw=True)
        cache = clean_env / ".keras" / "datasets" / "fashion-mnist"
        assert splits.source == str(cache)
        assert sorted(os.listdir(cache)) == sorted(IDX_FILES)
        np.testing.assert_array_equal(splits.test.images, arrays["t10k-images-idx3-ubyte"])
        assert len(requested) == 4
        load_dataset("fashion_mnist", validation_size=5)
        assert len(requested) == 4

    def test_wrong_checksum_leaves_nothing(self, monkeypatch, clean_env, system_dir, server):
        served, url, _ = server
        make_data(served / "base")
        monkeypatch.setenv("LOWTF_DATA_URL", url + "/")
        with pytest.raises(DataError, match="downloaded file has SHA-256 .* expected 3aede38d"):
            find_dataset("fashion_mnist")
        assert os.listdir(clean_env / ".keras" / "datasets" / "fashion-mnist") == []

    def test_mnist_npz_download(self, tmp_path, monkeypatch, system_dir, server):
        served, url, _ = server
        (served / "base").mkdir()
        TestMnistNpz()._write_npz(served / "base" / "mnist.npz")
        monkeypatch.setitem(datasets.CHECKSUMS["mnist"], "mnist.npz", _sha256(served / "base" / "mnist.npz"))
        monkeypatch.setenv("LOWTF_DATA_URL", url)
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
        assert find_dataset("mnist") == str(tmp_path / "kh" / "datasets" / "mnist.npz")

    def test_http_error_is_reported(self, monkeypatch, clean_env, system_dir, server):
        _, url, _ = server
        monkeypatch.setenv("LOWTF_DATA_URL", url)
        with pytest.raises(DataError, match="404") as info:
            find_dataset("fashion_mnist")
        assert "apt-get install dataset-fashion-mnist" in str(info.value)
        assert os.listdir(clean_env / ".keras" / "datasets" / "fashion-mnist") == []


def test_real_fashion_mnist():
    splits = load_dataset("fashion_mnist")
    assert splits.source == REAL_DIR
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (55000, 5000, 10000)
    for split in (splits.train, splits.validation, splits.test):
        assert split.images.dtype == np.float32 and split.images.shape[1] == 784
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert split.labels.dtype == np.int32
        assert set(np.unique(split.labels)) == set(range(10))
    raw = load_dataset("fashion-mnist", raw=True)
    assert raw.train.images.dtype == np.uint8 and raw.train.images.shape == (55000, 28, 28)
    assert raw.test.images.shape == (10000, 28, 28)
    for name in ("train", "validation", "test"):
        scaled, stored = getattr(splits, name), getattr(raw, name)
        np.testing.assert_array_equal(np.round(scaled.images * 255).astype(np.uint8),
                                      stored.images.reshape(len(stored), 784))
        np.testing.assert_array_equal(scaled.labels, stored.labels)
