"""The one owner of our clock's offset from Binance's server time.

Every signed Binance request (REST query, WebSocket API ``userDataStream.subscribe.signature``) carries a
``timestamp`` the venue checks against ``recvWindow``; a local clock that is off gets -1021 on every
request. The offset is measured by one REST read (``GET /api/v3/time``, through the shared transport and
its request budget) and shared by the REST client and the user stream, so neither syncs on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from autohedge.core.clock import Clock

__all__ = ["CLOCK_SKEW_CODE", "ServerClock"]

CLOCK_SKEW_CODE = -1021
"""Binance: "Timestamp for this request is outside of the recvWindow"."""

_NS_PER_MS = 1_000_000


class ServerClock:
    """Thread-safe (the offset is guarded by a lock; the read runs outside it on the caller's thread)."""

    def __init__(self, clock: Clock, read_server_ms: Callable[[], int]) -> None:
        """``read_server_ms``: the venue's time in epoch ms (the REST read; raises ``VenueError``)."""
        self._clock = clock
        self._read_server_ms = read_server_ms
        self._offset_ms = 0
        self._lock = threading.Lock()
        self.syncs = 0
        """How many times the offset was measured (start-up and after each -1021)."""

    @property
    def offset_ms(self) -> int:
        with self._lock:
            return self._offset_ms

    def sync(self) -> int:
        """Caller's thread: measure the offset (server time against the midpoint of the read, so half the
        round trip is not counted as skew) and return it in ms. A refused read raises and keeps the old
        offset."""
        before_ms = self._clock.wall_ns() // _NS_PER_MS
        server_ms = self._read_server_ms()
        after_ms = self._clock.wall_ns() // _NS_PER_MS
        with self._lock:
            self._offset_ms = server_ms - (before_ms + after_ms) // 2
            self.syncs += 1
            return self._offset_ms

    def timestamp_ms(self) -> int:
        """Any thread: now on the server's clock, for a signed request's ``timestamp``."""
        with self._lock:
            return self._clock.wall_ns() // _NS_PER_MS + self._offset_ms
