"""Returning freed heap memory to the OS (glibc's malloc_trim)."""

import os
import platform

import pytest

from lowtf.memory import release_free_memory


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_blocks_go_back_to_the_os():
    blocks = [bytearray(64 * 1024) for _ in range(3000)]  # ~190 MiB of heap (below mmap size)
    for block in blocks:
        block[::4096] = b"\1" * len(block[::4096])  # touch every page
    keep = blocks[-1]  # pins the top of the heap, so free() alone cannot shrink it
    del blocks[:-1]
    before = _rss_mib()
    assert release_free_memory() is True
    assert before - _rss_mib() > 100
    del keep
