"""Process-wide counters and latency samples, shared by actors (thread-safe, cheap)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable

__all__ = ["COUNTER_NAMES", "Metrics"]

COUNTER_NAMES: tuple[str, ...] = (
    "quotes",
    "quotes_conflated",
    "signals",
    "orders_submitted",
    "orders_filled",
    "orders_rejected",
    "orders_canceled",
    "exits_armed",
    "orphans_repaired",
    "positions_unprotected",
    "dead_letters",
    "malformed_messages",
    "restarts",
    "rate_limited",
    "outcome_unknown_resolved",
)


class Metrics:
    """Named monotonically increasing counters plus a bounded window of tick-to-order latencies."""

    def __init__(self, latency_window: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter(dict.fromkeys(COUNTER_NAMES, 0))
        self._latencies_ns: deque[int] = deque(maxlen=latency_window)

    def inc(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counters[name] += by

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def snapshot(self, names: Iterable[str] | None = None) -> dict[str, int]:
        with self._lock:
            if names is None:
                return dict(self._counters)
            return {name: self._counters[name] for name in names}

    def observe_tick_to_order_ns(self, latency_ns: int) -> None:
        with self._lock:
            self._latencies_ns.append(latency_ns)

    def tick_to_order_ns(self) -> list[int]:
        with self._lock:
            return list(self._latencies_ns)
