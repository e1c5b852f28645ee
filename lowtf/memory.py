"""Give the memory that TensorFlow freed back to the operating system.

XLA compilation, tracing and evaluation allocate and free hundreds of megabytes of
small blocks. glibc's malloc keeps freed blocks inside the process for reuse, spread
over one arena per thread, so the resident set only grows: a reference training run
peaked about 65 MB higher without this. `malloc_trim(0)` returns the free pages of
every arena; it takes about a millisecond and the trainer calls it once per epoch.
"""

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def release_free_memory():
    """Returns freed heap pages to the OS; True if the C library could do it (glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
