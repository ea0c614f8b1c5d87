"""Per-connection message sequence numbers: gaps (lost frames) and stale frames (duplicated or late).

Venues number private and market frames per connection and replay nothing: a gap is counted and
reported, and the REST record is what repairs it after a reconnect.
"""

from __future__ import annotations

__all__ = ["SequenceTracker"]


class SequenceTracker:
    """Not thread-safe: one reader thread owns it. A new connection gets a new tracker."""

    def __init__(self) -> None:
        self._last: int | None = None
        self.gaps = 0
        """Jumps forward: at least one frame was lost."""
        self.missed = 0
        """Frames lost in those jumps."""
        self.stale = 0
        """Frames at or below the last number seen (duplicated or out of order)."""

    def observe(self, sequence_num: int) -> bool:
        """True when the frame is new (in order or after a gap); False for a duplicate or late frame."""
        last = self._last
        if last is not None and sequence_num <= last:
            self.stale += 1
            return False
        if last is not None and sequence_num > last + 1:
            self.gaps += 1
            self.missed += sequence_num - last - 1
        self._last = sequence_num
        return True
