"""Time. The only module that reads the system clock.

``Clock`` gives monotonic and wall time in integer nanoseconds and schedules callbacks
(``call_later``). Actors turn those callbacks into messages told to themselves (actors/timers.py),
so a timer is always a message handled on the owning actor's thread.

* ``RealClock``: system time; callbacks run on one scheduler thread that sleeps until the next due
  time. A callback must be quick (it should only ``tell``).
* ``ManualClock``: for tests. Time moves only in ``advance(seconds)``, which runs the due callbacks
  in deadline order on the calling (test) thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from loguru import logger

__all__ = ["COMPACT_EVERY", "NS_PER_S", "Clock", "ManualClock", "RealClock", "TimerHandle"]

NS_PER_S = 1_000_000_000


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic_ns(self) -> int:
        """Monotonic time in ns: for intervals, deadlines, rate limits."""
        ...

    def wall_ns(self) -> int:
        """Unix epoch time in ns: for ``ts_init`` and anything shown to users or venues."""
        ...

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once after ``delay_s`` seconds (on the clock's scheduler thread)."""
        ...


COMPACT_EVERY = 1024
"""``RealClock`` looks at its heap every this many timers and drops the cancelled ones when they are the
majority (each order leaves a send timeout its answer cancelled, due only a minute later)."""


@dataclass(order=True, slots=True)
class _Entry:
    due_ns: int
    seq: int
    callback: Callable[[], object] | None = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Any thread. The callback (a message and its closure) is let go at once: a cancelled timer
        stays in the heap until it is due or compacted away, holding only its deadline."""
        self.cancelled = True
        self.callback = None


def _run_callback(entry: _Entry) -> None:
    callback = entry.callback  # read once: a cancel on another thread may clear it meanwhile
    if callback is None:
        return
    try:
        callback()
    except Exception:  # noqa: BLE001 - a timer callback must never kill the scheduler
        logger.exception("timer callback failed")


class RealClock:
    """System clock with a lazily started daemon scheduler thread."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._scheduled = 0

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wall_ns(self) -> int:
        return time.time_ns()

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        entry = _Entry(self.monotonic_ns() + int(max(0.0, delay_s) * NS_PER_S), next(self._seq), callback)
        with self._cond:
            if self._stopped:
                entry.cancelled = True
                return entry
            heapq.heappush(self._heap, entry)
            self._scheduled += 1
            if self._scheduled % COMPACT_EVERY == 0:
                self._compact()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="autohedge-timers", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:
                # Only a new earliest deadline changes how long the scheduler sleeps: waking it for any
                # other timer (one per order) would take the interpreter lock from the order's path.
                self._cond.notify()
        return entry

    def held_timers(self) -> int:
        """Timers the heap holds, live or cancelled and not yet dropped (memory checks)."""
        with self._cond:
            return len(self._heap)

    def _compact(self) -> None:
        """Under the lock: drop the cancelled timers once they are most of the heap. The scheduler's
        wait may end at a dropped timer's deadline; it then finds nothing due and waits again."""
        live = [entry for entry in self._heap if not entry.cancelled]
        if len(live) * 2 < len(self._heap):
            heapq.heapify(live)
            self._heap = live

    def stop(self) -> None:
        """Stop the scheduler thread; pending callbacks are dropped. Runs in the caller's thread."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        """Scheduler thread: sleep until the earliest deadline, then run what is due."""
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0].due_ns > self.monotonic_ns()):
                    timeout_s = None
                    if self._heap:
                        # Capped: a longer wait raises OverflowError and would end this thread.
                        timeout_s = min((self._heap[0].due_ns - self.monotonic_ns()) / NS_PER_S, _WAIT_MAX_S)
                    self._cond.wait(timeout=timeout_s)
                if self._stopped:
                    return
                entry = heapq.heappop(self._heap)
            if not entry.cancelled:
                _run_callback(entry)


_WAIT_MAX_S = min(threading.TIMEOUT_MAX, 86_400.0)
"""The scheduler's longest sleep: it wakes and waits again for a timer further away."""


class ManualClock:
    """Deterministic clock for tests: nothing happens until ``advance``."""

    def __init__(self, start_wall_ns: int = 1_700_000_000 * NS_PER_S, start_monotonic_ns: int = 0) -> None:
        self._mono = start_monotonic_ns
        self._wall_offset = start_wall_ns - start_monotonic_ns
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._mono

    def wall_ns(self) -> int:
        with self._lock:
            return self._mono + self._wall_offset

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        with self._lock:
            entry = _Entry(self._mono + round(max(0.0, delay_s) * NS_PER_S), next(self._seq), callback)
            heapq.heappush(self._heap, entry)
        return entry

    def next_due_ns(self) -> int | None:
        """Monotonic time of the earliest live timer, or None."""
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].due_ns if self._heap else None

    def advance_to_ns(self, target_ns: int) -> int:
        """Move to monotonic ``target_ns`` (never backwards), firing due callbacks. Returns how many."""
        with self._lock:
            target_ns = max(target_ns, self._mono)
        return self._advance_to(target_ns)

    def pending_delays_s(self) -> list[float]:
        """Seconds until each live timer is due, soonest first (for assertions)."""
        with self._lock:
            return sorted((e.due_ns - self._mono) / NS_PER_S for e in self._heap if not e.cancelled)

    def fire_next(self, within_s: float) -> bool:
        """Fire only the earliest live timer, if it is due within ``within_s``, moving time to its due
        time. False (time unchanged) when none is. Lets a driver handle each timer's consequences
        before the next fires (deterministic replays)."""
        with self._lock:
            limit = self._mono + round(within_s * NS_PER_S)
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            if not self._heap or self._heap[0].due_ns > limit:
                return False
            entry = heapq.heappop(self._heap)
            self._mono = max(self._mono, entry.due_ns)
        _run_callback(entry)
        return True

    def advance(self, seconds: float) -> int:
        """Move time forward, firing due callbacks in deadline order. Returns how many fired.

        Time is set to each callback's due time before it runs, so a callback that schedules a
        new timer measures its delay from the right instant.
        """
        with self._lock:
            target = self._mono + round(seconds * NS_PER_S)
        return self._advance_to(target)

    def _advance_to(self, target: int) -> int:
        fired = 0
        while True:
            with self._lock:
                if not self._heap or self._heap[0].due_ns > target:
                    self._mono = max(self._mono, target)
                    return fired
                entry = heapq.heappop(self._heap)
                self._mono = max(self._mono, entry.due_ns)
            if not entry.cancelled:
                fired += 1
                _run_callback(entry)
