"""Quote conflation: at most one pending quote per (receiver, symbol), always the newest.

The producer (a feed's reader thread) calls ``offer``; only when it returns True does it tell the
receiver. The receiver's handler calls ``take`` and acts on the newest quote, so under overload
stale quotes are skipped and the receiver's inbox holds at most one quote message per symbol.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["LatestSlots"]

T = TypeVar("T")


class LatestSlots(Generic[T]):
    """Thread-safe newest-value slots keyed by symbol."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, T] = {}
        self._pending: set[str] = set()
        self.conflated = 0
        """Values replaced before the receiver read them (skipped stale quotes)."""

    def offer(self, key: str, value: T) -> bool:
        """Store ``value`` as the newest for ``key``. True = nothing was pending: tell the receiver."""
        with self._lock:
            self._latest[key] = value
            if key in self._pending:
                self.conflated += 1
                return False
            self._pending.add(key)
            return True

    def take(self, key: str) -> T | None:
        """The newest value for ``key`` (None if nothing is pending); clears the pending mark."""
        with self._lock:
            if key not in self._pending:
                return None
            self._pending.discard(key)
            return self._latest.get(key)

    def reset(self, key: str) -> None:
        """Forget a pending mark whose message was lost (receiver died or restarted)."""
        with self._lock:
            self._pending.discard(key)
