"""Fill de-duplication by the venue's trade (execution) id and by per-order cumulative quantity, with a
bounded memory.

A venue may deliver a fill twice (a replay after a reconnect, a duplicated frame); a fill must never
change a position twice. The memory is bounded: the oldest keys are forgotten first, which is safe
because the receivers also keep a cumulative-quantity watermark per order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from decimal import Decimal

__all__ = ["CumulativeWatermarks", "FillDeduper"]


class FillDeduper:
    """Remembers the last ``capacity`` fill keys. Thread-safe (successive user-stream incarnations
    share one, so a replay after a restart is still recognised)."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("fill de-duplication capacity must be at least 1")
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.duplicates = 0

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered (and remember it); False for a repeat."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                self.duplicates += 1
                return False
            self._keys[key] = None
            if len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


class CumulativeWatermarks:
    """Per order, the cumulative filled quantity already taken into account, for the newest
    ``capacity`` orders. A report that states an order's cumulative quantity (a fill event, a REST
    read after a restart that cannot know what was reported before) adds only what is beyond it.
    Not thread-safe (one owner)."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("watermark capacity must be at least 1")
        self._capacity = capacity
        self._seen: OrderedDict[str, Decimal] = OrderedDict()

    def unseen(self, key: str, cum_qty: Decimal) -> Decimal:
        """What ``cum_qty`` adds for ``key`` beyond what was seen (0 for a repeat); remembered."""
        seen = self._seen.get(key, Decimal(0))
        if cum_qty <= seen:
            return Decimal(0)
        self._seen[key] = cum_qty
        self._seen.move_to_end(key)
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return cum_qty - seen

    def __len__(self) -> int:
        return len(self._seen)
