"""When the interpreter's cycle collector may run: never between a signal and its order's write, and
over the objects that live for the whole run only now and then.

CPython's collector runs when allocations outnumber deallocations by a threshold, on whichever thread
allocates, holding the interpreter lock for the whole collection. A burst of ten entries allocates a
few thousand objects, so collections came mostly in the middle of bursts: on the wire bench a young
collection took 0.1-1.2 ms, and a full one over the ~100,000 objects built at start-up 5-30 ms,
each of them between a trigger frame and the order it made.

Two rules, both process-wide (the collector is one per interpreter):

* ``CollectionHold``: a stretch that must not be cut by a collection (the executor's decision and
  write of a tick's entries, from the tick's first message until they are written) runs with the
  automatic collector off; one that is due runs at the first allocation after it.
* ``collect_and_freeze``: ``CollectionPolicy.first_after_s`` after the engine starts, and then every
  ``full_every_s``, the engine collects every generation once and moves every object still alive into
  the permanent generation (``gc.freeze``), which the automatic collections never walk. What start-up
  built (modules, the actor tree, the venue's rules) is walked once a period instead of at every full
  collection, and a cycle among frozen objects that became garbage waits at most a period to be
  freed, so memory stays bounded. Not at once at start, nor 5 s in: what start-up's reads, or a
  first burst of orders, still held then was garbage seconds later and, frozen, stayed (1.8 and 1 MiB
  more at the wire bench's peak with the strategy firing).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

__all__ = ["CollectionHold", "CollectionPolicy", "collect_and_freeze"]


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    first_after_s: float = 60.0
    """Seconds from the engine's start to the first full collection that freezes what survived: its
    start-up reads and reconciliation are over by then, and so is a first burst of trading (frozen in
    the middle of one, its orders' state that became garbage later stayed: 1 MiB more at the wire
    bench's firing peak with the first freeze at 5 s)."""
    full_every_s: float = 600.0
    """Seconds between two full collections that freeze what survived (one pause of a few ms to a few
    tens of ms, at a time no order waits for it more likely than at any other)."""

    def __post_init__(self) -> None:
        if self.first_after_s <= 0 or self.full_every_s <= 0:
            raise ValueError(
                f"collection: first_after_s and full_every_s must be positive, got {self.first_after_s} "
                f"and {self.full_every_s}"
            )


def collect_and_freeze() -> float:
    """Any thread: collect every generation, frozen objects included, then freeze every survivor.
    Returns the seconds it took (the interpreter lock is held throughout)."""
    start_ns = time.perf_counter_ns()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return (time.perf_counter_ns() - start_ns) / 1e9


class CollectionHold:
    """One thread's hold on the automatic collector, which may span several of its handlers: a tick
    whose first signal comes ahead of the rest is decided in two messages, and a collection let run
    between them (it was due: the first entry's decision allocated past the threshold) paused every
    entry of the tick but the first. Other threads allocating meanwhile do not collect either (the
    collector is one per interpreter).

    ``release`` gives the collector back only if it was enabled at ``hold``: a caller that turned it
    off keeps it off. Both are idempotent, so a handler that raised, or an actor that stops in the
    middle of a tick, releases with one call. One hold per thread: two threads' holds at once may see a
    collection in the second's stretch once the first releases (only a pause, never a missed one)."""

    __slots__ = ("_held", "_was_enabled")

    def __init__(self) -> None:
        self._held = False
        self._was_enabled = False

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> None:
        if self._held:
            return
        self._was_enabled = gc.isenabled()
        if self._was_enabled:
            gc.disable()
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._was_enabled:
            gc.enable()
