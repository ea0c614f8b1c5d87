"""An OrderEventSink that queues what a user stream delivers, for tests to wait on, and the two ways
tests run a user stream into one: connected for the test's span, or until its first disconnect."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from autohedge.core.messages import AccountBalances, OrderUpdate
from autohedge.core.ports import UserStream

__all__ = ["OrderQueueSink", "first_disconnect", "streaming"]


class OrderQueueSink:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.updates: queue.Queue[OrderUpdate] = queue.Queue()
        self.balances: queue.Queue[AccountBalances] = queue.Queue()
        self.malformed: queue.Queue[str] = queue.Queue()
        self.disconnected: queue.Queue[str] = queue.Queue()
        self.heartbeats: queue.Queue[None] = queue.Queue()

    def on_connected(self) -> None:
        self.connected.set()

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.put(update)

    def on_balances(self, update: AccountBalances) -> None:
        self.balances.put(update)

    def on_malformed(self, raw: str, error: str) -> None:
        self.malformed.put(error)

    def on_heartbeat(self) -> None:
        self.heartbeats.put(None)

    def on_disconnected(self, error: str) -> None:
        self.disconnected.put(error)

    def next_update(self, client_order_id: str, timeout_s: float = 5.0) -> OrderUpdate:
        """The next update of ``client_order_id`` (updates of other orders are skipped)."""
        while True:
            update = self.updates.get(timeout=timeout_s)
            if update.client_order_id == client_order_id:
                return update


@contextmanager
def streaming(stream: UserStream, timeout_s: float = 5.0) -> Iterator[OrderQueueSink]:
    """``stream`` started into a new sink and connected (asserted within ``timeout_s``); stopped on the
    way out."""
    sink = OrderQueueSink()
    stream.start(sink)
    try:
        assert sink.connected.wait(timeout_s), "the user stream never reported connected"
        yield sink
    finally:
        stream.stop()


def first_disconnect(stream: UserStream, timeout_s: float = 5.0) -> tuple[str, OrderQueueSink]:
    """Start ``stream``, wait for its first disconnect report, stop it: (that error, the sink)."""
    sink = OrderQueueSink()
    stream.start(sink)
    try:
        return sink.disconnected.get(timeout=timeout_s), sink
    finally:
        stream.stop()
