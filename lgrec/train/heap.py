"""Keep freed memory in the process's heap while training, instead of handing it back to
the system after every step.

A training step allocates and frees the same large tables each time: the node table and
each layer's output, their gradients, the products' partial sums. glibc's ``malloc`` serves
blocks over its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and unmaps them on
``free``, so each step faults every page of every such table in again and the kernel
zero-fills it; and it trims the heap's free top back to the system. Under
:func:`retained_heap`, ``malloc`` takes every block from the heap and keeps what is freed,
so from the second step on the tables reuse memory that is already mapped. Measured on a
2-core Xeon (BENCHMARKS.md, section "retained-heap",
``python bench/huge_pages.py --setting retained-heap``): LightGCN steps 0.63 / 0.85 / 0.82 of
the time on 0.9M / 4.7M / 19.2M edges, peak memory 1% / 14% / 31% higher, as freed blocks
the heap cannot reuse (fragments) stay mapped until the end.

Only glibc's ``malloc`` has these settings (``mallopt``); elsewhere the context does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
"""glibc's defaults, restored when the outermost :func:`retained_heap` ends."""
DEFAULT_MMAP_MAX = 65536
RETAINED_TRIM_THRESHOLD = 2**31 - 1
"""The largest ``int`` ``mallopt`` takes: up to 2 GiB of free heap top is kept."""

_lock = threading.Lock()
_depth = 0
_applied = False
"""Whether ``mallopt`` took the settings when the outermost context began."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def retained_heap(enabled: bool = True) -> Iterator[bool]:
    """Within the context, ``malloc`` takes no block from ``mmap`` and keeps the memory that
    is freed; on leaving the outermost one, glibc's defaults come back and the free memory
    is returned to the system (``malloc_trim``). Yields whether the settings took effect
    (False when ``enabled`` is false or the C library is not glibc).

    The settings are the process's: other threads allocating meanwhile share them. Peak
    memory is that of the largest set of tables alive at once, as before, plus whatever
    the heap cannot reuse because it is fragmented. glibc's defaults are restored as
    numbers (``M_MMAP_MAX`` 65536, trim threshold 128 KiB); its *dynamic* mmap threshold,
    which it stops adjusting once a trim threshold is set, stays where it was: afterwards,
    blocks up to that threshold (at most 32 MiB) keep coming from the heap.
    """
    global _depth, _applied
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            _applied = (libc.mallopt(M_MMAP_MAX, 0) == 1
                        and libc.mallopt(M_TRIM_THRESHOLD, RETAINED_TRIM_THRESHOLD) == 1)
            if not _applied:
                log.debug("mallopt refused the retained-heap settings")
        _depth += 1
        applied = _applied
    try:
        yield applied
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
