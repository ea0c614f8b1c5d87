"""Quote conflation with a wake-up budget: at most one pending quote per (receiver, symbol), always the
newest, and at most one wake-up per receiver per batch the feed's reader hands over.

The producer (a feed's reader thread) drains what its socket already holds into a batch and offers
the batch's newest value per key at once. Only when an offer says so does it tell the receiver; the
receiver's handler takes the newest value(s) and acts on them. Under overload stale quotes are
skipped and a receiver's inbox holds at most one quote message per symbol (``LatestSlots``: one
receiver per key, a strategy) or one in all (``WatchedSlots``: one receiver for many keys, the
position monitor, which only wants the keys it watches but must be able to read the newest of any).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Generic, TypeVar

__all__ = ["LatestSlots", "WatchedSlots"]

T = TypeVar("T")


class LatestSlots(Generic[T]):
    """Thread-safe newest-value slots keyed by symbol; one receiver per key."""

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

    def offer_batch(self, values: Mapping[str, T]) -> list[str]:
        """Store each newest value; the keys whose receivers must be told (nothing was pending), in
        the batch's order. One lock round for the whole batch."""
        wake: list[str] = []
        with self._lock:
            self._latest.update(values)
            pending = self._pending
            for key in values:
                if key in pending:
                    self.conflated += 1
                else:
                    pending.add(key)
                    wake.append(key)
        return wake

    def take(self, key: str) -> T | None:
        """The newest value for ``key`` (None if nothing is pending); clears the pending mark."""
        with self._lock:
            if key not in self._pending:
                return None
            self._pending.discard(key)
            return self._latest.get(key)

    def peek(self, key: str) -> T | None:
        """The newest value ever offered for ``key``, pending or not."""
        with self._lock:
            return self._latest.get(key)

    def reset(self, key: str) -> None:
        """Forget a pending mark whose message was lost (receiver died or restarted)."""
        with self._lock:
            self._pending.discard(key)


class WatchedSlots(Generic[T]):
    """Thread-safe newest values for every key, with ONE receiver that is woken at most once until it
    takes, and only for the keys it watches.

    The newest value of every key is kept whether watched or not, so a receiver that starts watching
    a key reads its newest value at once with ``watch`` (nothing is missed between a fill and the
    next quote of that symbol).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, T] = {}
        self._watched: set[str] = set()
        self._pending: dict[str, None] = {}
        """Watched keys offered since the last take, in the order offered: the receiver acts on them in
        that order on every run (a set's order follows the process's string hashing)."""
        self._woken = False
        self.conflated = 0
        """Watched values replaced before the receiver read them."""

    def offer_batch(self, values: Mapping[str, T]) -> bool:
        """Store each newest value. True = a watched key got a new value and the receiver has no
        wake-up outstanding: tell it (the caller must, or call ``wake_lost``)."""
        with self._lock:
            self._latest.update(values)
            watched = self._watched
            if not watched:
                return False
            pending = self._pending
            for key in values:
                if key in watched:
                    if key in pending:
                        self.conflated += 1
                    else:
                        pending[key] = None
            if pending and not self._woken:
                self._woken = True
                return True
            return False

    def take_all(self) -> dict[str, T]:
        """Receiver: the newest value of every watched key offered since the last take; re-arms the
        wake-up."""
        with self._lock:
            taken = {key: self._latest[key] for key in self._pending}
            self._pending.clear()
            self._woken = False
            return taken

    def watch(self, key: str) -> T | None:
        """Receiver: wake me for ``key`` from now on; returns its newest value so far (if any)."""
        with self._lock:
            self._watched.add(key)
            return self._latest.get(key)

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._watched.discard(key)
            self._pending.pop(key, None)

    def watching(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._watched)

    def peek(self, key: str) -> T | None:
        """The newest value ever offered for ``key``, watched or not."""
        with self._lock:
            return self._latest.get(key)

    def wake_lost(self) -> None:
        """Producer: the wake-up could not be told (no receiver running): the next offer tells again."""
        with self._lock:
            self._woken = False

    def reset(self) -> None:
        """Receiver (a new incarnation starting): forget the old one's watched keys and any wake-up
        that died in its inbox; the new one watches what it holds."""
        with self._lock:
            self._woken = False
            self._pending.clear()
            self._watched.clear()
