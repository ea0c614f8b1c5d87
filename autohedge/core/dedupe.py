"""Fill de-duplication by the venue's trade (execution) id, with a bounded memory.

A venue may deliver a fill twice (a replay after a reconnect, a duplicated frame); a fill must never
change a position twice. The memory is bounded: the oldest keys are forgotten first, which is safe
because the receivers also keep a cumulative-quantity watermark per order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["FillDeduper"]


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
