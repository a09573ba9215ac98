"""Keeping a long-lived process's memory near what it uses (glibc's malloc; elsewhere a no-op).

Parsing a large batch allocates hundreds of MB for a moment. glibc keeps freed memory in per-thread
arenas instead of giving it back, so a gunicorn worker with four threads, or a Celery worker after
a drift job, stayed hundreds of MB above its floor long after the work was done (bench/hostile_input.py
measured it). Three levers: fewer arenas, set once at start-up; Arrow's buffers allocated by malloc
too; and trimming after large work."""

import ctypes
import ctypes.util
import functools
import logging

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def malloc_arenas_limited(count: int = 2) -> bool:
    """At most `count` malloc arenas for this process (as MALLOC_ARENA_MAX would set); call before
    threads start. True when glibc took it."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, count))


def freed_memory_released() -> bool:
    """Give memory freed by the work just done back to the operating system (malloc_trim)."""
    libc = _libc()
    return bool(libc and libc.malloc_trim(0))


def arrow_allocates_with_malloc() -> str:
    """Arrow's buffers (every Parquet read) from the system allocator instead of Arrow's bundled
    mimalloc, which keeps the pages it frees for itself: after a drift job over 55 Parquet batches a
    worker stayed at 655 MB, against 529 MB once they went through malloc, where malloc_trim returns
    them (bench/hostile_input.py). Returns the allocator now in use."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return pa.default_memory_pool().backend_name
