"""Client order id <-> venue order id of the orders an adapter placed or has seen.

Venues that cannot look an order up by our client id (Coinbase) or charge for every lookup (Kraken's
call counter) remember the pairs they meet, so a later lookup by client id costs one call or none.
Bounded: the oldest pairs are forgotten first. Thread-safe (any caller's thread).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["KnownOrderIds"]

KNOWN_IDS_MAX = 50_000


class KnownOrderIds:
    def __init__(self, maximum: int = KNOWN_IDS_MAX) -> None:
        self._maximum = maximum
        self._lock = threading.Lock()
        self._venue_ids: OrderedDict[str, str] = OrderedDict()
        self._client_ids: dict[str, str] = {}

    def remember(self, client_order_id: str, venue_order_id: str) -> None:
        """An order without our client id (placed elsewhere) is not remembered. Several client ids may
        name one venue order (a Coinbase bracket's list id and its legs); ``client_id`` gives the last."""
        if not client_order_id:
            return
        with self._lock:
            if client_order_id not in self._venue_ids and len(self._venue_ids) >= self._maximum:
                oldest_client_id, oldest_venue_id = self._venue_ids.popitem(last=False)
                if self._client_ids.get(oldest_venue_id) == oldest_client_id:
                    del self._client_ids[oldest_venue_id]
            self._venue_ids[client_order_id] = venue_order_id
            self._client_ids[venue_order_id] = client_order_id

    def venue_id(self, client_order_id: str) -> str | None:
        with self._lock:
            return self._venue_ids.get(client_order_id)

    def client_id(self, venue_order_id: str) -> str | None:
        with self._lock:
            return self._client_ids.get(venue_order_id)
