"""PaperUserStream: the paper exchange's private order stream, in-process over the engine.

It delivers the same ``OrderUpdate`` events a venue's user stream does, on the thread that caused
them (an order call, or the quote that matched a resting order), in the engine's order. Drills can
cut it (``drop``) or replay every fill (``duplicate_fills``) to exercise reconnection and dedupe.
"""

from __future__ import annotations

import threading

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.messages import OrderUpdate
from autohedge.core.ports import OrderEventSink

__all__ = ["PaperUserStream"]


class PaperUserStream:
    """Implements ``core.ports.UserStream``. One per connection (a restart builds a new one)."""

    max_silence_s: float | None = None
    """In-process: it cannot stall."""

    def __init__(self, engine: PaperEngine, *, duplicate_fills: bool = False) -> None:
        self.venue = engine.venue
        self._engine = engine
        self._sink: OrderEventSink | None = None
        self._remove: list[object] = []
        self._lock = threading.Lock()
        self._closed = False
        self.duplicate_fills = duplicate_fills

    def start(self, sink: OrderEventSink) -> None:
        """Caller's thread (the user-stream actor): subscribe to the engine, report connected."""
        self._sink = sink
        remove = self._engine.add_listener(self._deliver)
        with self._lock:
            self._remove.append(remove)
        sink.on_connected()

    def _deliver(self, update: OrderUpdate) -> None:
        """Engine thread of the caller (lock held): hand over, never block."""
        sink = self._sink
        if sink is None or self._closed:
            return
        sink.on_order_update(update)
        if self.duplicate_fills and update.kind.is_fill:
            sink.on_order_update(update)

    def drop(self, error: str = "paper user stream dropped") -> None:
        """Cut the stream as a venue would: nothing more is delivered, the sink hears why."""
        self.stop()
        if self._sink is not None:
            self._sink.on_disconnected(error)

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            removers, self._remove = self._remove, []
        for remove in removers:
            if callable(remove):
                remove()
