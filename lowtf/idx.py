"""Read and write IDX files, the format of the MNIST and Fashion-MNIST data.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number
of dimensions), one big-endian uint32 per dimension, then the big-endian data.
The files are usually gzipped. Reading checks every part of that layout, so a
truncated download or a corrupt file fails with a `DataError` that names the
file, says what is wrong and how to fix it, instead of a reshape error later.
"""

import gzip
import math
import os
import struct
import zlib

import numpy as np

from lowtf.errors import DataError

DTYPE_CODES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(np.int16),
    0x0C: np.dtype(np.int32),
    0x0D: np.dtype(np.float32),
    0x0E: np.dtype(np.float64),
}
MAX_NDIM = 4

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20
_SYSTEM_PREFIX = "/usr/share/datasets"


def read_idx(path):
    """Read an IDX file, gzipped or raw, into a NumPy array.

    Gzip is detected by its magic bytes, not by the file name, so both
    `x.gz` holding raw data and an unzipped copy still named `.gz` load.

    Args:
        path: the file to read (str or os.PathLike).

    Returns:
        A writeable, native-endian array with the shape and dtype in the header.

    Raises:
        DataError: the file is missing, unreadable, not IDX, or its payload
            size does not match its header (truncated or with trailing bytes).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found.")
    if not os.path.isfile(path):
        raise DataError(f"{path}: is not a regular file; expected an IDX file.")
    gzipped = False
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            size_on_disk = os.fstat(raw.fileno()).st_size
            if not gzipped:
                return _read_stream(raw, path, size_on_disk)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, path, size_on_disk * _MAX_DEFLATE_RATIO + 1024)
    except (EOFError, zlib.error, OSError) as exc:
        kind = "gzip stream is truncated or corrupt" if gzipped else "could not be read"
        raise DataError(f"{path}: {kind} ({exc}). {_fix_hint(path)}") from exc


def write_idx(path, array):
    """Write an array to an IDX file, gzipped when `path` ends with `.gz`.

    The file is written to a temporary name and renamed, so a reader never
    sees a half-written file.

    Args:
        path: the file to write (str or os.PathLike).
        array: array-like with 1 to 4 dimensions and a dtype from DTYPE_CODES.

    Raises:
        DataError: the array's dtype or number of dimensions has no IDX code.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    codes = {dtype: code for code, dtype in DTYPE_CODES.items()}
    if array.dtype.newbyteorder("=") not in codes:
        names = ", ".join(str(d) for d in DTYPE_CODES.values())
        raise DataError(f"cannot write dtype {array.dtype} to IDX file {path}; supported: {names}.")
    if not 1 <= array.ndim <= MAX_NDIM:
        raise DataError(f"cannot write a {array.ndim}-D array to IDX file {path}; need 1 to {MAX_NDIM} dimensions.")
    if max(array.shape) > 0xFFFFFFFF:
        raise DataError(f"cannot write shape {array.shape} to IDX file {path}; a dimension exceeds 2**32 - 1.")
    code = codes[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = array.astype(array.dtype.newbyteorder(">"), copy=False).tobytes()
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        if path.endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                out.write(header)
                out.write(payload)
        else:
            with open(tmp, "wb") as out:
                out.write(header)
                out.write(payload)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_stream(stream, path, max_payload):
    """Parse the header and payload from an open binary stream."""
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: file is {len(magic)} bytes, too short for an IDX header. {_fix_hint(path)}")
    if magic[:2] != b"\0\0":
        raise DataError(
            f"{path}: not an IDX file (magic number starts with {magic[:2].hex()}, expected 0000). "
            f"{_fix_hint(path)}"
        )
    code, ndim = magic[2], magic[3]
    if code not in DTYPE_CODES:
        known = ", ".join(f"0x{c:02X} {d}" for c, d in DTYPE_CODES.items())
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02X} (known: {known}). {_fix_hint(path)}")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(
            f"{path}: IDX header has {ndim} dimensions, expected 1 to {MAX_NDIM}. {_fix_hint(path)}"
        )
    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(f"{path}: IDX header is truncated (dimension sizes missing). {_fix_hint(path)}")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    dtype = DTYPE_CODES[code]
    expected = math.prod(shape) * dtype.itemsize

    found = 0
    data = None
    if expected <= max_payload:
        data = np.empty(expected, dtype=np.uint8)
        found = _read_into(stream, memoryview(data))
    found += _count_rest(stream)
    if found != expected:
        problem = "is truncated" if found < expected else "has trailing bytes"
        raise DataError(
            f"{path}: expected {expected} bytes of {dtype} data for shape {shape}, found {found}; "
            f"the file {problem}. {_fix_hint(path)}"
        )
    if math.prod(d for d in shape if d) * dtype.itemsize > np.iinfo(np.intp).max:
        raise DataError(
            f"{path}: IDX header has dimensions {shape}, an empty array whose other dimensions "
            f"are too large for NumPy; the header is corrupt. {_fix_hint(path)}"
        )
    array = data.view(dtype.newbyteorder(">")).reshape(shape)
    if not dtype.newbyteorder(">").isnative:
        array = array.byteswap(inplace=True).view(dtype)
    return array


def _read_into(stream, view):
    """Fill `view` from `stream`; return how many bytes were read."""
    filled = 0
    while filled < len(view):
        n = stream.readinto(view[filled:filled + _CHUNK])
        if not n:
            break
        filled += n
    return filled


def _count_rest(stream):
    """Read `stream` to its end and return how many bytes were left."""
    count = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return count
        count += len(chunk)


def _fix_hint(path):
    """Say how to replace a bad file, depending on where it lives."""
    if os.path.abspath(path).startswith(_SYSTEM_PREFIX):
        return (
            "Reinstall the data package (e.g. `sudo apt-get install --reinstall dataset-fashion-mnist`) "
            "or point LOWTF_DATA_DIR at a good copy."
        )
    return "Delete the file and download it again, or point LOWTF_DATA_DIR at a good copy."
