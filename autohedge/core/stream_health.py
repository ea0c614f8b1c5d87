"""When a user stream that keeps failing to (re)connect makes its venue degraded. Pure decisions.

A disconnect or a refused subscription is the venue's state, not a crash: the user-stream actor
reconnects in place. ``max_failures`` failures within ``window_s`` degrade the venue (entries pause,
orders are polled); a successful reconcile opens it again, but the window keeps its failures, so a
stream that drops right after every connect still counts as failing. The backoff starts over only once a
connection has stayed up ``reset_after_s``: one dropped sooner is one more failure in a row, so a stream
the venue keeps dropping waits longer each time instead of reconnecting (and reading the account) every
``min_backoff_s`` into the venue's connection-attempt limits.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from autohedge.core.clock import NS_PER_S
from autohedge.core.messages import Quote

__all__ = ["ReconnectRun", "feed_quiet", "fill_may_be_unreported", "reconnect_delay_s", "stream_silent"]


def fill_may_be_unreported(buy_price: Decimal, heard_ns: int, quote: Quote) -> bool:
    """A resting buy at ``buy_price`` may have traded without its event reaching us yet: the market
    offered at or below its price (``quote``) after the newest event or read of it (``heard_ns``, the
    venue's time). A stream that reports the trade on time has moved ``heard_ns`` past the quote."""
    return quote.ask <= buy_price and quote.ts_init > heard_ns


def feed_quiet(newest_ts_init: int | None, now_ns: int, max_age_s: float) -> bool:
    """Our feed has told nothing of any symbol for longer than ``max_age_s`` (``newest_ts_init``: its
    newest quote's, and ``now_ns``, wall time): stalled, or never heard. The venue's market moves on
    without it, so whether it traded a resting entry can only be read from the venue. One quiet symbol of
    a live feed is a quiet market: its book did not move (reading it would spend the request budget
    that exits need, one read per symbol per check)."""
    return newest_ts_init is None or now_ns - newest_ts_init > max_age_s * NS_PER_S


def stream_silent(heard_ns: int, now_ns: int, max_silence_s: float) -> bool:
    """A subscribed stream whose venue promised heartbeats has said nothing since ``heard_ns`` for longer
    than ``max_silence_s`` (``now_ns``, the same monotonic clock): stalled though still connected (a
    peer gone without closing, a venue that stopped sending). Its events are lost from then on."""
    return now_ns - heard_ns > max_silence_s * NS_PER_S


class ReconnectRun:
    """The failed connections of one user stream. Owned by one actor's thread."""

    def __init__(self, *, max_failures: int, window_s: float, reset_after_s: float = 0.0) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {max_failures}")
        self._max_failures = max_failures
        self._window_ns = int(window_s * NS_PER_S)
        self._reset_after_ns = int(reset_after_s * NS_PER_S)
        self._failed_at_ns: deque[int] = deque()
        self._consecutive = 0
        self._up_since_ns: int | None = None

    @property
    def consecutive(self) -> int:
        """Failures in a row, the last one included: since a connection last stayed up
        ``reset_after_s`` (the reconnect backoff's exponent is one less)."""
        return self._consecutive

    def failed(self, now_ns: int) -> bool:
        """Record a disconnect or refused connection at ``now_ns`` (monotonic); True when the stream is now
        failing too often: ``max_failures`` of them within the window."""
        up_since_ns, self._up_since_ns = self._up_since_ns, None
        if up_since_ns is not None and now_ns - up_since_ns >= self._reset_after_ns:
            self._consecutive = 0  # that connection was healthy: the backoff starts over
        self._consecutive += 1
        self._failed_at_ns.append(now_ns)
        while self._failed_at_ns and now_ns - self._failed_at_ns[0] > self._window_ns:
            self._failed_at_ns.popleft()
        return len(self._failed_at_ns) >= self._max_failures

    def succeeded(self, now_ns: int) -> None:
        """Connected and reconciled at ``now_ns`` (monotonic; a later reconcile of the same connection
        changes nothing): should it stay up ``reset_after_s``, its end starts the backoff over."""
        if self._up_since_ns is None:
            self._up_since_ns = now_ns


def reconnect_delay_s(backoff_s: float, venue_wait_s: float) -> float:
    """Wait before reconnecting: the backoff, or longer when the venue said so (a ban's retry-after)."""
    return max(backoff_s, venue_wait_s, 0.0)
