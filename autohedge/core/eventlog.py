"""Recent notable events (order placed, exit armed, actor restarted...) for the log and the status API."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from autohedge.core.clock import Clock

__all__ = ["Event", "EventLog"]


@dataclass(frozen=True)
class Event:
    ts_ns: int
    kind: str
    symbol: str
    text: str
    level: str


class EventLog:
    """Logs one line per event through loguru and keeps the newest ``capacity`` events (thread-safe)."""

    def __init__(self, clock: Clock, capacity: int = 500) -> None:
        self._clock = clock
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._subscribers: tuple[Callable[[Event], None], ...] = ()

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` with every event from now on, on the recording thread: it must only hand
        the event over (a ``tell``, a queue put), never block. A failing subscriber is logged, never
        raised into the recording actor."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

    def record(self, kind: str, text: str, *, symbol: str = "", level: str = "INFO") -> None:
        event = Event(self._clock.wall_ns(), kind, symbol, text, level)
        with self._lock:
            self._events.append(event)
            subscribers = self._subscribers
        prefix = f"[{symbol}] " if symbol else ""
        logger.opt(depth=1).log(level, "{}{}: {}", prefix, kind, text)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a subscriber must never break the recording actor
                logger.exception("event subscriber failed on {}", kind)

    def recent(self, limit: int = 100) -> list[Event]:
        with self._lock:
            items = list(self._events)
        return items[-limit:] if limit > 0 else []

    def kinds(self) -> list[str]:
        with self._lock:
            return [e.kind for e in self._events]
