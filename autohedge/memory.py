"""Process-wide memory settings for ``autohedge run``, and giving freed heap memory back.

glibc gives each thread that allocates its own malloc arena (up to eight per core), and each arena keeps
the pages its freed blocks sit in. The engine runs some seventy threads that allocate mostly while
holding the interpreter lock, so extra arenas buy no parallelism; they only spread the same objects
over more partly used pages (about 3 MiB of resident memory with 50 symbols trading). The setting is
the one the ``MALLOC_ARENA_MAX`` environment variable makes, applied in-process so a user need not know
it; a value the user exported wins.

``glibc_heap`` is the engine's handle on the C library's heap: the resident size and ``malloc_trim``
(when to call it is ``core/heap_trim.py``'s decision).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # loaded at run time only where the engine runs on glibc
    import ctypes

__all__ = ["MALLOC_ARENAS", "GlibcHeap", "Heap", "glibc_heap", "limit_malloc_arenas"]

MALLOC_ARENAS = 1
"""glibc malloc arenas for the whole process (threads share them; small blocks still go through each
thread's lock-free cache)."""
_M_ARENA_MAX = -8
"""``mallopt``'s parameter number for the arena limit (glibc's malloc.h)."""


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; True when applied. Call on the main thread before the
    actors start (threads created earlier keep their arena). A no-op off Linux/glibc or when the user set
    ``MALLOC_ARENA_MAX``."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc on Linux (another C library, musl, has neither arenas
    to cap nor ``malloc_trim``)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: a process that never runs the engine does not load it

    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "gnu_get_libc_version") else None


class Heap(Protocol):
    """The process's heap as the engine's trims see it."""

    def rss_bytes(self) -> int:
        """Resident size of the whole process."""
        ...

    def trim(self) -> float:
        """Give the free pages of the heap back to the operating system; seconds it took."""
        ...


@dataclass(frozen=True, slots=True)
class GlibcHeap:
    """glibc's heap. Called on the clock's thread; ``malloc_trim`` runs without the interpreter lock
    (a ``ctypes.CDLL`` call releases it) but holds the malloc arena's lock while it walks free chunks."""

    libc: ctypes.CDLL
    page_bytes: int

    def rss_bytes(self) -> int:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * self.page_bytes

    def trim(self) -> float:
        start_ns = time.perf_counter_ns()
        self.libc.malloc_trim(0)
        return (time.perf_counter_ns() - start_ns) / 1e9


def glibc_heap() -> GlibcHeap | None:
    """The heap handle when the C library can trim (glibc on Linux), else None: nothing is trimmed."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return None
    import ctypes

    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return GlibcHeap(libc, os.sysconf("SC_PAGE_SIZE"))
