"""Freed memory handed back to the system now and then: glibc's malloc keeps it.

A worker's requests allocate and free many blocks larger than Python's own small-object
allocator serves (over 512 bytes: request bodies, rendered pages, statement texts, rows).
glibc keeps the pages it gets back for reuse, and as longer-lived blocks sit among them,
its heap seldom shrinks from the top: in a soak (``bench/soak.py``, PostgreSQL, about 100
updates a second a worker) each worker's resident memory grew about 12 MiB a minute, and
``malloc_trim(0)`` took one worker's heap from 231 to 105 MiB at once. Most of the growth
was memory already freed and kept, not objects kept. Once a minute the background work
asks malloc to return what it holds free (44 ms for 110 MiB freed here).

Only glibc has ``malloc_trim``; elsewhere (musl, macOS) nothing is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import sys
from collections.abc import Callable

#: Seconds between two returns of freed memory.
EVERY = 60.0


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # a C library without it (musl)
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_freed_memory() -> bool:
    """Give the pages malloc holds free back to the system; False where it cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


async def release_now_and_then(stopping: asyncio.Event, every: float = EVERY) -> None:
    """Release freed memory every ``every`` seconds until ``stopping`` is set."""
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
            return
        release_freed_memory()
