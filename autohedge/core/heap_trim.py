"""When the process gives freed heap memory back to the operating system (pure: no clock, no I/O).

glibc keeps the pages of freed blocks: only free space at the very top of its heap is returned by itself,
while free chunks inside it (left by bursts of order events, journal records and inbox backlogs) stay
resident until ``malloc_trim`` walks them. Over a trading day that free space adds a few megabytes to the
resident size without anything being held. The engine looks every ``check_s`` seconds of its clock at
its resident size (a read of ``/proc/self/statm``) and trims when it rose by ``rise_bytes`` since the
last trim (a burst just ended or is under way), or when ``every_s`` passed since it (free space that
built up slowly). A trim costs about 0.1 ms of CPU at the engine's heap size; the interpreter lock is
not held meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from autohedge.core.clock import NS_PER_S

__all__ = ["HeapTrimPolicy", "HeapTrimSchedule"]


@dataclass(frozen=True, slots=True)
class HeapTrimPolicy:
    check_s: float = 5.0
    """Seconds between two looks at the resident size."""
    every_s: float = 60.0
    """Seconds after which a trim is due whatever the resident size did."""
    rise_bytes: int = 1 << 20
    """Growth of the resident size since the last trim that makes a trim due at the next look."""

    def __post_init__(self) -> None:
        if self.check_s <= 0 or self.every_s < self.check_s:
            raise ValueError("heap trims: check_s must be positive and every_s at least check_s")
        if self.rise_bytes <= 0:
            raise ValueError("heap trims: rise_bytes must be positive")


class HeapTrimSchedule:
    """Decides at each look whether to trim. Not thread-safe: one owner calls it (the clock's thread)."""

    def __init__(self, policy: HeapTrimPolicy, *, now_ns: int, rss_bytes: int) -> None:
        self.policy = policy
        self._every_ns = round(policy.every_s * NS_PER_S)
        self._last_ns = now_ns
        self._baseline_bytes = rss_bytes
        self.trims = 0

    @property
    def check_s(self) -> float:
        """Seconds until the next look."""
        return self.policy.check_s

    def due(self, now_ns: int, rss_bytes: int) -> bool:
        """At a look: whether to trim now, given the resident size read now."""
        grown = rss_bytes - self._baseline_bytes >= self.policy.rise_bytes
        return grown or now_ns - self._last_ns >= self._every_ns

    def trimmed(self, now_ns: int, rss_bytes: int) -> None:
        """A trim ended at ``now_ns`` leaving ``rss_bytes`` resident: the next rise is measured from here."""
        self._last_ns = now_ns
        self._baseline_bytes = rss_bytes
        self.trims += 1
