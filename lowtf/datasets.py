"""Load Fashion-MNIST and MNIST from local files, downloading them if needed.

The data is looked up in a fixed order so that training works offline:
the `data_dir` argument, then `$LOWTF_DATA_DIR`, then the Keras cache
(`$KERAS_HOME` or `~/.keras`, so data fetched by `tf.keras.datasets` is reused),
then the Debian data folder, and only then the network. A download is checked
against a pinned SHA-256 before it is kept. Every failure is a `DataError`
that lists where lowtf looked and how to get the files.
"""

import hashlib
import http.client
import numbers
import os
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass

import numpy as np

from lowtf.errors import ConfigError, DataError
from lowtf.idx import read_idx

FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASS_NAMES = tuple(str(digit) for digit in range(10))

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

DATA_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SYSTEM_DATA_DIR = "/usr/share/datasets"
DOWNLOAD_TIMEOUT = 30

CHECKSUMS = {
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    },
}

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    folder: str
    class_names: tuple
    npz: str = None


_SPECS = {
    "fashion_mnist": _Spec("fashion_mnist", "Fashion-MNIST", "fashion-mnist", FASHION_MNIST_CLASS_NAMES),
    "mnist": _Spec("mnist", "MNIST", "mnist", MNIST_CLASS_NAMES, npz="mnist.npz"),
}


@dataclass(frozen=True)
class Split:
    """Images and their labels for one part of a dataset, with what a run records of it:
    the part's name (`train`, `validation` or `test`), the class names and the dataset's
    name (a Trainer fed a Split keeps the last two with the run; `evaluate` on the
    `test` split records the run's test results)."""

    images: np.ndarray
    labels: np.ndarray
    name: str = None
    class_names: tuple = None
    dataset: str = None

    def __post_init__(self):
        if len(self.images) != len(self.labels):
            raise DataError(f"split has {len(self.images)} images but {len(self.labels)} labels.")

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        shape = ", ".join(str(n) for n in self.images.shape)
        return f"Split({self.name + ', ' if self.name else ''}images={self.images.dtype}[{shape}], labels={self.labels.dtype}[{len(self.labels)}])"


@dataclass(frozen=True)
class DataSplits:
    """A dataset split into train, validation and test, with its class names.

    `source` is the folder or file the data was read from.
    """

    name: str
    train: Split
    validation: Split
    test: Split
    class_names: tuple
    source: str


def load_dataset(name, data_dir=None, validation_size=5000, raw=False, download=True):
    """Load Fashion-MNIST or MNIST as train, validation and test splits.

    The validation split is the first `validation_size` training images, as in
    the reference notebook, so results are comparable with it.

    Args:
        name: "fashion_mnist" (or "fashion-mnist") or "mnist".
        data_dir: a folder (or, for MNIST, an .npz file) to read instead of
            searching; see `find_dataset`.
        validation_size: how many training images to hold out, 0 or more and
            fewer than the training set.
        raw: False for float32 images of shape [N, 784] scaled to [0, 1];
            True for the uint8 images of shape [N, 28, 28], as stored.
        download: whether to fetch the files when no local copy is found.

    Returns:
        A DataSplits; labels are int32.

    Raises:
        ConfigError: unknown name or bad validation_size.
        DataError: the files are missing, corrupt, or hold invalid data.
    """
    spec = _spec(name)
    source = find_dataset(spec.name, data_dir=data_dir, download=download)
    x_train, y_train, x_test, y_test = _read_arrays(spec, source)
    if (isinstance(validation_size, bool) or not isinstance(validation_size, numbers.Integral)
            or not 0 <= validation_size < len(x_train)):
        raise ConfigError(
            f"validation_size must be an integer from 0 to {len(x_train) - 1} "
            f"(the training set has {len(x_train)} images), got {validation_size!r}."
        )
    if not raw:
        x_train, x_test = _scale(x_train), _scale(x_test)
    y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)
    known = (spec.class_names, spec.name)
    return DataSplits(
        name=spec.name,
        train=Split(x_train[validation_size:], y_train[validation_size:], "train", *known),
        validation=Split(x_train[:validation_size], y_train[:validation_size], "validation",
                         *known),
        test=Split(x_test, y_test, "test", *known),
        class_names=spec.class_names,
        source=source,
    )


def load_fashion_mnist(**kwargs):
    """Load Fashion-MNIST; takes the keyword arguments of `load_dataset`."""
    return load_dataset("fashion_mnist", **kwargs)


def load_mnist(**kwargs):
    """Load MNIST; takes the keyword arguments of `load_dataset`."""
    return load_dataset("mnist", **kwargs)


def find_dataset(name, data_dir=None, download=True):
    """Find the files of a dataset, downloading them as a last resort.

    Lookup order: `data_dir`; `$LOWTF_DATA_DIR` (the folder with the files or
    a parent holding a `fashion-mnist`/`mnist` subfolder); the Keras cache
    `$KERAS_HOME` or `~/.keras`, under `datasets/`; `SYSTEM_DATA_DIR`
    (Debian's `/usr/share/datasets`); then a download into the Keras cache
    from `$LOWTF_DATA_URL` or `DATA_URL`. A folder must hold the four IDX
    files (gzipped or not); for MNIST a Keras `mnist.npz` also counts.

    Args:
        name: "fashion_mnist" (or "fashion-mnist") or "mnist".
        data_dir: if given, the only place looked at; it must hold the files.
        download: whether to fetch the files when no local copy is found.

    Returns:
        The path of the folder holding the IDX files, or of the .npz file.

    Raises:
        ConfigError: unknown name.
        DataError: `data_dir` lacks the files, a download has the wrong
            checksum, or the files are nowhere; the message lists the places
            searched and the ways to get the files.
    """
    spec = _spec(name)
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        found = _find_in(data_dir, spec)
        if found is None:
            alternative = f" (or {spec.npz})" if spec.npz else ""
            raise DataError(
                f"data_dir {data_dir} does not hold the {spec.title} files: missing "
                f"{', '.join(_missing(data_dir))}{alternative}. Pass a folder holding the four IDX "
                "files, or leave data_dir unset to search the usual places and download."
            )
        return found

    searched, candidates = [], []
    env_dir = os.environ.get("LOWTF_DATA_DIR")
    if env_dir:
        candidates.append((f"LOWTF_DATA_DIR={env_dir}", env_dir))
    else:
        searched.append("LOWTF_DATA_DIR: not set")
    cache = _keras_datasets_dir()
    candidates.append((f"Keras cache {os.path.join(cache, spec.folder)}", os.path.join(cache, spec.folder)))
    if spec.npz:
        candidates.append((f"Keras cache {os.path.join(cache, spec.npz)}", os.path.join(cache, spec.npz)))
    system = os.path.join(SYSTEM_DATA_DIR, spec.folder)
    candidates.append((f"system data folder {system}", system))
    for label, path in candidates:
        found = _find_in(path, spec)
        if found is not None:
            return found
        searched.append(f"{label}: " + ("not found" if not os.path.exists(path) else "files missing"))

    url = _data_url()
    if not download:
        searched.append(f"download from {url}: disabled (download=False)")
    else:
        try:
            return _download(spec, cache, url)
        except _DownloadError as exc:
            searched.append(f"download from {url}: failed ({exc})")
    places = "\n".join(f"  - {line}" for line in searched)
    raise DataError(f"Could not find the {spec.title} data. Looked in:\n{places}\n{_how_to_get(spec)}")


def _spec(name):
    """Return the _Spec for a dataset name, accepting '-' for '_'."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _SPECS:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(_SPECS)}.")
    return _SPECS[key]


def _keras_datasets_dir():
    """Return the Keras download cache, where tf.keras.datasets keeps its files."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def _data_url():
    """Return the download base URL, ending with '/'."""
    url = os.environ.get("LOWTF_DATA_URL") or DATA_URL
    return url if url.endswith("/") else url + "/"


def _idx_paths(folder):
    """Return the four IDX file paths in `folder` (.gz or unzipped), or None."""
    paths = []
    for name in IDX_FILES:
        for candidate in (name, name[:-len(".gz")]):
            if os.path.isfile(os.path.join(folder, candidate)):
                paths.append(os.path.join(folder, candidate))
                break
        else:
            return None
    return paths


def _find_in(path, spec):
    """Return the dataset folder or .npz file at or just under `path`, or None."""
    if spec.npz and path.endswith(".npz"):
        return path if os.path.isfile(path) else None
    for folder in (os.path.join(path, spec.folder), path):
        if _idx_paths(folder):
            return folder
        if spec.npz and os.path.isfile(os.path.join(folder, spec.npz)):
            return os.path.join(folder, spec.npz)
    return None


def _missing(folder):
    """Name the IDX files that `folder` lacks, for error messages."""
    if not os.path.isdir(folder):
        return ["the folder itself"]
    return [name for name in IDX_FILES if not any(
        os.path.isfile(os.path.join(folder, c)) for c in (name, name[:-len(".gz")]))]


def _how_to_get(spec):
    """The ways to get a dataset's files, for error messages."""
    if spec.name == "fashion_mnist":
        first = "on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`"
    else:
        first = f"copy the four MNIST IDX .gz files to {os.path.join(SYSTEM_DATA_DIR, spec.folder)}"
    return (
        f"Get the {spec.title} files one of three ways:\n"
        f"  1. {first}\n"
        f"  2. put the four IDX .gz files ({', '.join(IDX_FILES)}) in a folder and set "
        f"LOWTF_DATA_DIR to it, or pass data_dir=\n"
        f"  3. run once with internet access, so they are downloaded to ~/.keras/datasets "
        f"(here {_keras_datasets_dir()})"
    )


def _read_arrays(spec, source):
    """Read and check (x_train, y_train, x_test, y_test) from a folder or .npz."""
    if source.endswith(".npz"):
        arrays = _read_npz(source)
        names = [f"{source}[{key}]" for key in NPZ_KEYS]
    else:
        names = _idx_paths(source)
        arrays = [read_idx(path) for path in names]
    x_train, y_train, x_test, y_test = arrays
    _check_pair(x_train, y_train, names[0], names[1], spec)
    _check_pair(x_test, y_test, names[2], names[3], spec)
    return x_train, y_train, x_test, y_test


def _read_npz(path):
    """Read the four arrays of a Keras-style .npz file, refusing pickles."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: missing arrays {', '.join(missing)}; expected {', '.join(NPZ_KEYS)}. "
                    "Delete the file and download it again."
                )
            return [npz[key] for key in NPZ_KEYS]
    except DataError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: not a readable .npz file ({exc}). Delete the file and download it again."
        ) from exc


def _check_pair(images, labels, images_name, labels_name, spec):
    """Check that images and labels fit each other and the dataset."""
    hint = f"The file is corrupt or not {spec.title}; replace it with the original."
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{images_name}: expected uint8 images of shape [N, 28, 28], "
            f"found {images.dtype} {list(images.shape)}. {hint}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise DataError(
            f"{labels_name}: expected 1-D integer labels, found {labels.dtype} {list(labels.shape)}. {hint}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_name} has {len(images)} images but {labels_name} has {len(labels)} labels. {hint}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(
            f"{labels_name}: labels must be in [0, {NUM_CLASSES}), found values from "
            f"{labels.min()} to {labels.max()}. {hint}"
        )


def _scale(images):
    """uint8 [N, 28, 28] -> float32 [N, 784] in [0, 1]."""
    scaled = images.reshape(len(images), -1).astype(np.float32)
    scaled /= np.float32(255)
    return scaled


class _DownloadError(Exception):
    """A download failed for a reason worth reporting but not fatal on its own."""


def _download(spec, cache, url):
    """Download the dataset into the Keras cache; return its folder or .npz path."""
    if spec.npz:
        folder, names, result = cache, (spec.npz,), os.path.join(cache, spec.npz)
    else:
        folder = os.path.join(cache, spec.folder)
        names, result = IDX_FILES, folder
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _DownloadError(f"cannot create {folder}: {exc}") from exc
    for name in names:
        dest = os.path.join(folder, name)
        if not os.path.isfile(dest):
            _fetch(url + name, dest, CHECKSUMS[spec.name][name])
    return result


def _fetch(url, dest, sha256):
    """Download `url` to `dest` via a temp file, keeping it only if the SHA-256 matches."""
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=f".{os.path.basename(dest)}.", suffix=".part")
    except OSError as exc:
        raise _DownloadError(f"cannot write to {os.path.dirname(dest)}: {exc}") from exc
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise _DownloadError(f"{url}: {exc}") from exc
        if digest.hexdigest() != sha256:
            raise DataError(
                f"{url}: downloaded file has SHA-256 {digest.hexdigest()}, expected {sha256}; "
                "it was deleted. The download was corrupted or the server sent a different file: "
                "try again later, or get the files another way (see LOWTF_DATA_DIR)."
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
