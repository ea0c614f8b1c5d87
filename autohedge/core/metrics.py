"""Process-wide counters and tick-to-order latencies, shared by actors (thread-safe, cheap)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

__all__ = ["COUNTER_NAMES", "TICK_TO_ORDER_BUCKETS_NS", "LatencyHistogram", "Metrics"]

TICK_TO_ORDER_BUCKETS_NS: tuple[int, ...] = (
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
)
"""Upper bounds of the tick-to-order histogram's buckets (a last one, unbounded, follows)."""

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


@dataclass(frozen=True)
class LatencyHistogram:
    """Every latency observed since start, in buckets: ``counts[i]`` of them were at most
    ``bounds_ns[i]``, and ``count`` in all (cumulative, as Prometheus exposes a histogram)."""

    bounds_ns: tuple[int, ...]
    counts: tuple[int, ...]
    count: int
    sum_ns: int


class Metrics:
    """Named monotonically increasing counters, a histogram of every tick-to-order latency, and the
    most recent ``latency_window`` of them (for percentiles). The memory does not grow with the
    number of orders: a busy day keeps the same dozen counts."""

    def __init__(self, latency_window: int = 4_096) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter(dict.fromkeys(COUNTER_NAMES, 0))
        self._latencies_ns: deque[int] = deque(maxlen=latency_window)
        self._bucket_counts = [0] * (len(TICK_TO_ORDER_BUCKETS_NS) + 1)
        self._latency_sum_ns = 0

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
        bucket = bisect_left(TICK_TO_ORDER_BUCKETS_NS, latency_ns)
        with self._lock:
            self._latencies_ns.append(latency_ns)
            self._bucket_counts[bucket] += 1
            self._latency_sum_ns += latency_ns

    def tick_to_order_ns(self) -> list[int]:
        """The most recent latencies, oldest first."""
        with self._lock:
            return list(self._latencies_ns)

    def tick_to_order_histogram(self) -> LatencyHistogram:
        with self._lock:
            cumulative = tuple(accumulate(self._bucket_counts))
            sum_ns = self._latency_sum_ns
        return LatencyHistogram(TICK_TO_ORDER_BUCKETS_NS, cumulative[:-1], cumulative[-1], sum_ns)
