"""What the fakes whose websocket frames carry a sequence number share (Coinbase, Kraken): their
subscribers, waiting for them, and the update drills (a duplicated frame, two updates out of order, a
gap in the sequence)."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from tests.fakes.venue_server import FakeVenue, StreamClient, VenueFaults

__all__ = ["SequencedFaults", "SequencedVenue", "Subscriber"]


@dataclass
class SequencedFaults(VenueFaults):
    """The shared switches and the update drills of a sequenced stream."""

    duplicate_next_update: bool = False
    """Send the next update frame twice."""
    reorder_next_updates: bool = False
    """Hold the next update frame back and send it after the one that follows (out of order)."""
    sequence_gap_next: bool = False
    """Skip one sequence number before the next frame that may carry a gap."""


@dataclass(eq=False)
class Subscriber:
    client: StreamClient
    sequence: itertools.count[int]
    private: bool = False
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while a frame is numbered and sent, so frames leave in sequence order."""
    held: str | None = None
    """An update frame held back by the reorder drill."""


class SequencedVenue(FakeVenue):
    """A fake venue whose stream frames are numbered per connection, starting at ``first_sequence``."""

    def __init__(self, *, first_sequence: int, **venue: Any) -> None:
        self._first_sequence = first_sequence
        self._subscribers: dict[int, Subscriber] = {}
        self._subscribed = threading.Condition(threading.RLock())
        """Guards ``_subscribers`` and their topics; notified on every subscription."""
        super().__init__(**venue)

    def _serve_subscriber(
        self,
        connection: ServerConnection,
        on_message: Callable[[Subscriber, str | bytes], None],
        *,
        private: bool = False,
        greeting: Callable[[Subscriber], str] | None = None,
    ) -> None:
        """Keep the subscriber of ``connection`` until it goes away (the websocket server's thread for
        this connection)."""
        path = connection.request.path if connection.request is not None else ""
        subscriber = Subscriber(
            StreamClient(connection, path), itertools.count(self._first_sequence), private=private
        )
        with self._subscribed:
            self._subscribers[id(subscriber)] = subscriber
        try:
            self._serve_client(
                subscriber.client,
                lambda raw: on_message(subscriber, raw),
                greeting=greeting(subscriber) if greeting is not None else None,
            )
        finally:
            with self._subscribed:
                self._subscribers.pop(id(subscriber), None)

    def _subscribe(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        with self._subscribed:
            subscriber.client.topics.update(topics)
            self._subscribed.notify_all()

    def _subscribers_on(self, topic: str) -> list[Subscriber]:
        with self._subscribed:
            return [s for s in self._subscribers.values() if topic in s.client.topics]

    def wait_for_subscribers(self, channel: str, count: int, timeout_s: float = 5.0) -> None:
        """Block until ``count`` clients subscribed to ``channel`` (tests wait on state, never sleep)."""
        with self._subscribed:
            if not self._subscribed.wait_for(lambda: len(self._subscribers_on(channel)) >= count, timeout_s):
                raise AssertionError(f"no {count} subscriber(s) on {channel} within {timeout_s}s")

    def _next_sequence(self, subscriber: Subscriber, *, gap_allowed: bool) -> int:
        """The number of ``subscriber``'s next frame, one skipped when the gap drill is on and allowed.
        The caller holds the subscriber's send lock."""
        faults: SequencedFaults = self.faults
        sequence = next(subscriber.sequence)
        if gap_allowed and faults.sequence_gap_next:
            faults.sequence_gap_next = False
            sequence = next(subscriber.sequence)
        return sequence

    def _deliver(self, subscriber: Subscriber, frame: str, *, update: bool) -> None:
        """Send ``frame``; an update frame goes through the duplicate and reorder drills. The caller
        holds the subscriber's send lock; a client going away misses the frame."""
        faults: SequencedFaults = self.faults
        frames = [frame]
        if update:
            if faults.duplicate_next_update:
                faults.duplicate_next_update = False
                frames = [frame, frame]
            elif faults.reorder_next_updates and subscriber.held is None:
                subscriber.held = frame  # sent after the next update: out of order
                return
            elif subscriber.held is not None:
                frames, subscriber.held = [frame, subscriber.held], None
                faults.reorder_next_updates = False
        with contextlib.suppress(ConnectionClosed, OSError):
            for text in frames:
                subscriber.client.connection.send(text)
