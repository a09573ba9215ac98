"""Freed memory goes back to the system after large work (mlopsportal/memory.py, glibc only)."""

import gc
from pathlib import Path

import pytest

from mlopsportal.memory import _libc, freed_memory_released


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(_libc() is None, reason="glibc's malloc_trim is not available here")
def test_memory_freed_by_a_large_parse_is_given_back_to_the_system():
    baseline = _rss_mb()
    # Many small objects, as parsing a CSV or JSON batch makes, a few of which outlive the parse
    # (caches, interned strings): the heap cannot shrink from its top, so glibc keeps the freed
    # pages until it is asked to trim (large NumPy buffers are mmapped and return by themselves).
    chunks = [bytearray(2000) for _ in range(100_000)]
    grown = _rss_mb()
    survivors = chunks[::10]
    del chunks
    gc.collect()
    kept = _rss_mb()

    assert freed_memory_released()
    released = _rss_mb()

    assert grown - baseline > 150
    assert released < kept - 80, f"before trim {kept:.0f} MB, after {released:.0f} MB"
    assert len(survivors) == 10_000
