"""Writing a run's files so that a full disk or a kill never leaves a half-written one.

Small files (history, results) are written to a temporary name, flushed to disk and
renamed over the old one, so a reader sees the old file or the new one, never a mix.
A write that fails (no space left, quota, read-only file system) becomes a
`WriteError` that says what could not be written, why, and which checkpoint is safe.
"""

import contextlib
import json
import math
import os
import re

import tensorflow as tf

from lowtf.errors import ConfigError, LowtfError


class WriteError(LowtfError, OSError):
    """A run's file (log, history, results) could not be written, e.g. the disk is full."""


# What TensorFlow raises when a file system write fails: ENOSPC and EDQUOT are
# RESOURCE_EXHAUSTED, EROFS and EACCES PERMISSION_DENIED, EFBIG OUT_OF_RANGE, EIO and
# short writes DATA_LOSS or UNKNOWN.
WRITE_ERRORS = (OSError, tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError,
                tf.errors.OutOfRangeError, tf.errors.DataLossError, tf.errors.UnknownError)


def describe(error):
    """The first line of an OSError or TensorFlow error, without TensorFlow's op prefix."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}{f': {error.filename}' if error.filename else ''}"
    text = str(getattr(error, "message", "") or error).strip()
    line = text.splitlines()[0] if text else error.__class__.__name__
    if line.startswith("{{") and "}}" in line:
        line = line[line.index("}}") + 2:].strip()
    line = re.sub(r"\s*\[Op:\w+\]$", "", line)
    if "; " in line:  # TensorFlow's file errors read "<file>; <what the system said>"
        line = line.rsplit("; ", 1)[1]
    return line[:300]


@contextlib.contextmanager
def writing(what, where, kept=None):
    """Turns a failed write inside the block into a `WriteError` naming `what` and `where`.

    Args:
        what: e.g. "the TensorBoard logs".
        where: the file or folder written.
        kept: the last good checkpoint, named in the message (None: none yet), or a
            function returning it, called only when a write failed.
    """
    try:
        yield
    except WRITE_ERRORS as e:
        if callable(kept):
            kept = kept()
        raise WriteError(
            f"could not write {what} to {where} ({describe(e)}); the run stopped. Free disk "
            f"space (or fix the file system) and run the same command again: it resumes "
            f"from the last complete checkpoint, {kept or 'none yet'}") from None


def _strict(value):
    """`value` with each NaN or infinite float replaced by None (null in JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def write_json(path, value, what="a JSON file", kept=None, indent=None):
    """Writes `value` as strict JSON to `path` atomically (temporary file, fsync, rename).

    NaN and infinite numbers, which strict JSON readers refuse, are written as null;
    readers that need numbers (`lowtf.history.read`) turn null back into NaN.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with writing(what, path, kept):
        try:
            with open(tmp, "w") as f:
                json.dump(_strict(value), f, indent=indent, allow_nan=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                try:
                    os.remove(tmp)
                except OSError:
                    pass


def ensure_writable(directory, what):
    """Creates `directory` and writes a probe file there, or raises a `ConfigError` that
    names the directory and the reason (read-only, permissions, a file in the way)."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".lowtf-write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"cannot write the {what} to {directory!r} ({e.strerror or e}); "
                          "pass a writable run directory (--run-dir)") from None
