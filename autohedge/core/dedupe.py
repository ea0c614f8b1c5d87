"""Fill de-duplication by the venue's trade (execution) id and by per-order cumulative quantity, with a
bounded memory.

A venue may deliver a fill twice (a replay after a reconnect, a duplicated frame); a fill must never
change a position twice. The memory is bounded by age and by count (``RecentMap``): a repeat comes
within minutes of the fill it repeats, and forgetting older keys is safe because the receivers also
keep a cumulative-quantity watermark per order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Generic, TypeVar

from autohedge.core.recent import RecentMap, no_clock

__all__ = ["FILL_MEMORY_KEEP_S", "CumulativeWatermarks", "FillDeduper"]

FILL_MEMORY_KEEP_S = 900.0
"""How long a fill key or an order's watermark is kept after its last use: far beyond a duplicated
frame, a delayed event or a replay after a reconnect (the stream's reconnect backoff stops at 30 s)."""


V = TypeVar("V")


class _RecentOrders(Generic[V]):
    """What the two memories share: a ``RecentMap`` bounded by ``capacity`` and ``keep_s`` of
    ``now_ns`` (without a clock, by count alone), and the lock of the one shared between threads."""

    def __init__(
        self,
        capacity: int = 10_000,
        *,
        now_ns: Callable[[], int] = no_clock,
        keep_s: float = FILL_MEMORY_KEEP_S,
    ) -> None:
        self._memory: RecentMap[V] = RecentMap(now_ns, keep_s=keep_s, capacity=capacity)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory)


class FillDeduper(_RecentOrders[bool]):
    """Remembers the fill keys offered within ``keep_s`` of ``now_ns`` (and at least the newest
    ``capacity``). Thread-safe (successive user-stream incarnations share one, so a replay after a
    restart is still recognised)."""

    duplicates = 0
    """Repeats recognised so far."""

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered (and remember it); False for a repeat."""
        with self._lock:
            if key in self._memory:
                self.duplicates += 1
                return False
            self._memory.put(key, True)
            return True


class CumulativeWatermarks(_RecentOrders[Decimal]):
    """Per order, the cumulative filled quantity already taken into account, for the orders reported
    within ``keep_s`` of ``now_ns`` (and at least the newest ``capacity``). A report that states an
    order's cumulative quantity (a fill event, a REST read after a restart that cannot know what was
    reported before) adds only what is beyond it. Not thread-safe (one owner)."""

    def unseen(self, key: str, cum_qty: Decimal) -> Decimal:
        """What ``cum_qty`` adds for ``key`` beyond what was seen (0 for a repeat); remembered."""
        seen = self._memory.get(key)
        counted = Decimal(0) if seen is None else seen
        if cum_qty <= counted:
            return Decimal(0)
        self._memory.put(key, cum_qty)
        return cum_qty - counted
