"""An OrderEventSink that queues what a user stream delivers, for tests to wait on."""

from __future__ import annotations

import queue
import threading

from autohedge.core.messages import AccountBalances, OrderUpdate

__all__ = ["OrderQueueSink"]


class OrderQueueSink:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.updates: queue.Queue[OrderUpdate] = queue.Queue()
        self.balances: queue.Queue[AccountBalances] = queue.Queue()
        self.malformed: queue.Queue[str] = queue.Queue()
        self.disconnected: queue.Queue[str] = queue.Queue()

    def on_connected(self) -> None:
        self.connected.set()

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.put(update)

    def on_balances(self, update: AccountBalances) -> None:
        self.balances.put(update)

    def on_malformed(self, raw: str, error: str) -> None:
        self.malformed.put(error)

    def on_disconnected(self, error: str) -> None:
        self.disconnected.put(error)

    def next_update(self, client_order_id: str, timeout_s: float = 5.0) -> OrderUpdate:
        """The next update of ``client_order_id`` (updates of other orders are skipped)."""
        while True:
            update = self.updates.get(timeout=timeout_s)
            if update.client_order_id == client_order_id:
                return update
