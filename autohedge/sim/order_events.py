"""Order-event faults: duplicated, delayed and out-of-order delivery of a venue's private stream.

No venue replays what it sent twice, late or out of order, and all three happen (see
``reference/user-streams.md``). ``EventFaults`` decides, per event and from its own seeded generator,
what a sink receives and when; it knows nothing of the events themselves. The simulator plugs it
between the paper exchange's user stream and the ``UserStreamActor``'s sink: ``offer`` on every
event the venue emits (deliver what it returns, in order), and ``due`` at every step (deliver the held
events whose time came); ``next_due_ns`` joins the instants the simulator steps to.
``FaultyUserStream`` does that plumbing around any ``UserStream``.

* duplicate: the event is delivered twice;
* delay: the event is held for up to ``max_delay_s`` (events behind it are not held back: a delayed
  event arrives after later ones);
* reorder: the event is held until the next one arrives, which is delivered first.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from typing import Generic, TypeVar

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.messages import AccountBalances, OrderUpdate
from autohedge.core.ports import OrderEventSink, UserStream

__all__ = ["EventFaults", "FaultyUserStream"]

T = TypeVar("T")


class EventFaults(Generic[T]):
    """Seeded and deterministic for a seed and a sequence of calls. Not thread-safe (driver thread)."""

    def __init__(
        self,
        rng: random.Random,
        *,
        duplicate_rate: float,
        delay_rate: float,
        reorder_rate: float,
        max_delay_s: float,
    ) -> None:
        self._rng = rng
        self._duplicate_rate = duplicate_rate
        self._delay_rate = delay_rate
        self._reorder_rate = reorder_rate
        self._max_delay_ns = round(max_delay_s * NS_PER_S)
        self._held: list[tuple[int, int, T]] = []
        self._seq = itertools.count()
        self._swapped: T | None = None
        self._swapped_since_ns = 0
        self.injected: Counter[str] = Counter()
        """Faults so far: ``order_event_duplicate``, ``order_event_delay``, ``order_event_reorder``."""

    def offer(self, now_ns: int, event: T) -> list[T]:
        """The venue emitted ``event`` at ``now_ns``: what to deliver now, in order."""
        out: list[T] = []
        swapped, self._swapped = self._swapped, None
        rng = self._rng
        if self._delay_rate > 0 and rng.random() < self._delay_rate:
            self.injected["order_event_delay"] += 1
            due_ns = now_ns + max(1, round(rng.random() * self._max_delay_ns))
            heapq.heappush(self._held, (due_ns, next(self._seq), event))
        elif swapped is None and self._reorder_rate > 0 and rng.random() < self._reorder_rate:
            self.injected["order_event_reorder"] += 1
            self._swapped, self._swapped_since_ns = event, now_ns
        else:
            out.append(event)
            if self._duplicate_rate > 0 and rng.random() < self._duplicate_rate:
                self.injected["order_event_duplicate"] += 1
                out.append(event)
        if swapped is not None:
            out.append(swapped)  # behind the event that overtook it
        return out

    def due(self, now_ns: int) -> list[T]:
        """Held events whose time came (a reordered one waits at most ``max_delay_s`` for company)."""
        out: list[T] = []
        while self._held and self._held[0][0] <= now_ns:
            out.append(heapq.heappop(self._held)[2])
        if self._swapped is not None and now_ns - self._swapped_since_ns >= self._max_delay_ns:
            out.append(self._swapped)
            self._swapped = None
        return out

    def next_due_ns(self) -> int | None:
        """When ``due`` next has something to deliver, or None."""
        candidates = [self._held[0][0]] if self._held else []
        if self._swapped is not None:
            candidates.append(self._swapped_since_ns + self._max_delay_ns)
        return min(candidates) if candidates else None


class FaultyUserStream:
    """``core.ports.UserStream``: a venue's private stream whose order events pass ``EventFaults``.
    The simulator delivers the held ones with ``release`` (driver thread, holding the turn)."""

    def __init__(self, inner: UserStream, faults: EventFaults[OrderUpdate], clock: Clock) -> None:
        self.venue = inner.venue
        self.max_silence_s = inner.max_silence_s
        self._inner = inner
        self._faults = faults
        self._clock = clock
        self._sink: OrderEventSink | None = None
        self._stopped = False

    def start(self, sink: OrderEventSink) -> None:
        """The user-stream actor's thread."""
        self._sink = sink
        self._inner.start(_FaultySink(sink, self))

    def stop(self) -> None:
        self._stopped = True
        self._inner.stop()

    def _offer(self, update: OrderUpdate) -> None:
        """The venue's thread (the engine's caller), engine lock held: never blocks."""
        if self._sink is not None:
            for event in self._faults.offer(self._clock.monotonic_ns(), update):
                self._sink.on_order_update(event)

    def release(self, now_ns: int) -> None:
        """Deliver the held events whose time came (none once the stream stopped: a dead connection)."""
        due = self._faults.due(now_ns)
        if self._sink is not None and not self._stopped:
            for event in due:
                self._sink.on_order_update(event)


class _FaultySink:
    def __init__(self, sink: OrderEventSink, stream: FaultyUserStream) -> None:
        self._sink = sink
        self._stream = stream

    def on_connected(self) -> None:
        self._sink.on_connected()

    def on_order_update(self, update: OrderUpdate) -> None:
        self._stream._offer(update)

    def on_balances(self, update: AccountBalances) -> None:
        self._sink.on_balances(update)

    def on_malformed(self, raw: str, error: str) -> None:
        self._sink.on_malformed(raw, error)

    def on_heartbeat(self) -> None:
        self._sink.on_heartbeat()

    def on_disconnected(self, error: str) -> None:
        self._sink.on_disconnected(error)
