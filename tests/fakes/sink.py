"""A QuoteSink that queues what a market stream delivers, for tests to wait on."""

from __future__ import annotations

import queue
from collections.abc import Sequence

from autohedge.core.messages import Quote

__all__ = ["QueueSink"]


class QueueSink:
    def __init__(self) -> None:
        self.quotes: queue.Queue[Quote] = queue.Queue()
        self.malformed: queue.Queue[str] = queue.Queue()
        self.disconnected: queue.Queue[str] = queue.Queue()

    def on_quote(self, quote: Quote) -> None:
        self.quotes.put(quote)

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            self.quotes.put(quote)

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        self.malformed.put(error)

    def on_disconnected(self, error: str) -> None:
        self.disconnected.put(error)
