"""Process-wide memory settings for ``autohedge run``.

glibc gives each thread that allocates its own malloc arena (up to eight per core), and each arena keeps
the pages its freed blocks sit in. The engine runs some seventy threads that allocate mostly while
holding the interpreter lock, so extra arenas buy no parallelism; they only spread the same objects
over more partly used pages (about 3 MiB of resident memory with 50 symbols trading). The setting is
the one the ``MALLOC_ARENA_MAX`` environment variable makes, applied in-process so a user need not know
it; a value the user exported wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MALLOC_ARENAS", "limit_malloc_arenas"]

MALLOC_ARENAS = 1
"""glibc malloc arenas for the whole process (threads share them; small blocks still go through each
thread's lock-free cache)."""
_M_ARENA_MAX = -8
"""``mallopt``'s parameter number for the arena limit (glibc's malloc.h)."""


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; True when applied. Call on the main thread before the
    actors start (threads created earlier keep their arena). A no-op off Linux/glibc or when the user set
    ``MALLOC_ARENA_MAX``."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    import ctypes  # only here: a process that never runs the engine does not load it

    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # another C library (musl) has no arenas to cap
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))
