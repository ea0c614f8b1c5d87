"""Keys for deterministic client order ids."""

from __future__ import annotations

import threading

from autohedge.core.clock import Clock

__all__ = ["OrderKeySource"]


class OrderKeySource:
    """Increasing integer keys: ``max(last + 1, wall time in ms)``.

    Derived from the clock, so ids from a restarted process (or actor) never collide with ids the
    venue already saw, and deterministic under a ManualClock. Thread-safe.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next_key(self) -> int:
        """Any thread. The clock is read before the lock: inside it, a Python call is a point where the
        interpreter may switch threads, and a holder switched out there keeps the other caller (the
        executor or the monitor) waiting until it runs again. What runs under the lock switches nowhere."""
        now_ms = self._clock.wall_ns() // 1_000_000
        with self._lock:
            key = self._last + 1
            if now_ms > key:  # not max(): a call, even of a builtin, is a switch point
                key = now_ms
            self._last = key
            return key
