"""A memory of recent keys for recognising late and repeated events, bounded by age and by count.

Fill de-duplication, per-order fill watermarks and the executor's finished entries each remember orders
so that an event arriving late, or twice, changes nothing. Such an event comes within seconds or
minutes of the one it repeats (a duplicated frame, a replay after a reconnect, an answer overtaken by
its order's events), so what is remembered for longer only makes memory grow with the number of orders
ever traded. ``RecentMap`` keeps every key set or read within the last ``keep_s`` seconds of the clock
(and at least the newest ``capacity`` keys), and forgets the rest: after ``keep_s`` of trading at a
steady rate its size no longer grows.

Two generations of plain dicts instead of one ordered dict: a key is kept in the young one while it is
in use and moved to it when read from the old one; once the young generation is ``keep_s`` old or
holds ``capacity`` keys, it becomes the old one and the old one is dropped. A plain dict entry costs
about half of an ordered dict's (no linked node per key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from autohedge.core.clock import NS_PER_S

__all__ = ["RecentMap", "no_clock"]

V = TypeVar("V")

_MISSING = object()


def no_clock() -> int:
    """The clock of a memory bounded by count alone."""
    return 0


class RecentMap(Generic[V]):
    """Keys with a value each. Always kept: the newest ``capacity`` keys set or read; while fewer than
    ``capacity`` keys are set within ``keep_s`` seconds of ``now_ns`` (the usual case), also every key
    set or read within the last ``keep_s``. Never more than ``2 * capacity`` keys. Not thread-safe
    (the owner locks where several threads use one)."""

    def __init__(self, now_ns: Callable[[], int], *, keep_s: float, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a recent-key memory's capacity must be at least 1")
        if keep_s <= 0:
            raise ValueError("a recent-key memory must keep keys for a positive time")
        self._now_ns = now_ns
        self._keep_ns = round(keep_s * NS_PER_S)
        self._capacity = capacity
        self._young: dict[str, V] = {}
        self._old: dict[str, V] = {}
        self._young_since_ns = now_ns()

    def get(self, key: str, default: V | None = None) -> V | None:
        """The value of ``key`` (``default`` when it is not remembered); a read keeps it for longer."""
        value = self._young.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]  # not the sentinel: a stored value
        value = self._old.pop(key, _MISSING)
        if value is _MISSING:
            return default
        self.put(key, value)  # type: ignore[arg-type]  # not the sentinel: a stored value
        return value  # type: ignore[return-value]

    def __contains__(self, key: str) -> bool:
        return self.get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def put(self, key: str, value: V) -> None:
        """Remember ``key`` with ``value`` from now on."""
        self._age()
        self._old.pop(key, None)
        self._young[key] = value

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def _age(self) -> None:
        now_ns = self._now_ns()
        young_for_ns = now_ns - self._young_since_ns
        if young_for_ns < self._keep_ns and len(self._young) < self._capacity:
            return
        # Every young key was set before the young generation was keep_s old (a set after that
        # ages it first): past twice that, none was used within keep_s.
        self._old = self._young if young_for_ns < 2 * self._keep_ns else {}
        self._young = {}
        self._young_since_ns = now_ns
