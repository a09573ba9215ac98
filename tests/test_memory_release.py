"""Freed memory goes back to the system after large work (mlopsportal/memory.py, glibc only).

Measured in a fresh Python process: inside the test session the heap already holds hundreds of MB
of free space, which new objects reuse, so growth and release would not show."""

import json
import subprocess
import sys

import pytest

from mlopsportal.memory import _libc

from .conftest import REPO_ROOT

SCRIPT = """
import gc, json
from pathlib import Path
from mlopsportal.memory import freed_memory_released

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

baseline = rss_mb()
# Many small objects, as parsing a CSV or JSON batch makes, a few of which outlive the parse
# (caches, interned strings): the heap cannot shrink from its top, so glibc keeps the freed pages
# until it is asked to trim (large NumPy buffers are mmapped and return by themselves).
chunks = [bytearray(2000) for _ in range(100_000)]
grown = rss_mb()
survivors = chunks[::10]
del chunks
gc.collect()
kept = rss_mb()
trimmed = freed_memory_released()
print(json.dumps({"baseline": baseline, "grown": grown, "kept": kept, "released": rss_mb(),
                  "trimmed": trimmed, "survivors": len(survivors)}))
"""


@pytest.mark.skipif(_libc() is None, reason="glibc's malloc_trim is not available here")
def test_memory_freed_by_a_large_parse_is_given_back_to_the_system():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    mb = json.loads(result.stdout)

    assert mb["grown"] - mb["baseline"] > 150
    assert mb["kept"] - mb["baseline"] > 150, "glibc kept the freed pages"
    assert mb["trimmed"] and mb["survivors"] == 10_000
    assert mb["released"] < mb["kept"] - 80, mb


WEB_PROCESS = """
import json, sys
from mlopsportal.wsgi import application
from django.urls import get_resolver
import pyarrow as pa
get_resolver().url_patterns  # every view module, as the first request imports them
print(json.dumps({"scipy": sorted(m for m in sys.modules if m.split(".")[0] == "scipy")[:3],
                  "arrow_allocator": pa.default_memory_pool().backend_name}))
"""


def test_a_web_process_loads_no_scipy_and_arrow_allocates_with_malloc():
    # SciPy is 67 MB of every web process's memory and only drift jobs use it; Arrow's own allocator
    # kept what Parquet reads freed, which malloc_trim cannot return (mlopsportal/memory.py).
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(result.stdout.splitlines()[-1])

    assert loaded == {"scipy": [], "arrow_allocator": "system"}
