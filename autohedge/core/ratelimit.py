"""Rate limits: the per-symbol minimum interval between orders and a venue's request budget.

Neither ever sleeps. They answer "go" or "wait N seconds" (``RateLimited.retry_after_s``) and the
caller schedules a timer message, so a rate limit never blocks an actor thread and tests stay
deterministic under a ManualClock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import RateLimited

__all__ = ["RequestBudget", "SymbolRateLimiter"]


class SymbolRateLimiter:
    """At most one order per symbol every ``min_interval_ms``, measured from the stored time of
    the last order for that symbol (not from when the strategy last asked)."""

    def __init__(self, clock: Clock, min_interval_ms: int) -> None:
        self._clock = clock
        self._interval_ns = min_interval_ms * 1_000_000
        self._last_order_ns: dict[str, int] = {}

    def wait_s(self, symbol: str) -> float:
        """Seconds until ``symbol`` may place its next order (0.0 = now)."""
        last = self._last_order_ns.get(symbol)
        if last is None:
            return 0.0
        remaining = last + self._interval_ns - self._clock.monotonic_ns()
        return max(0, remaining) / NS_PER_S

    def record_order(self, symbol: str) -> None:
        """Store the time of an order just sent for ``symbol``."""
        self._last_order_ns[symbol] = self._clock.monotonic_ns()


@dataclass
class _BudgetState:
    tokens: float
    stamp_ns: int
    banned_until_ns: int = 0


class RequestBudget:
    """One token bucket per venue, shared by every actor of the process (thread-safe).

    ``capacity`` requests (or weight units) refill continuously over ``per_s`` seconds. Exits and
    cancels (``priority=True``) may use the whole bucket; entries only down to ``reserve_fraction``
    of it, so protection never waits behind entries. ``ban(retry_after_s)`` (429/418 Retry-After)
    stops all sending until it expires. ``observe_used`` aligns the bucket with a venue's own count
    (Binance ``X-MBX-USED-WEIGHT-1M``).
    """

    def __init__(
        self, clock: Clock, *, venue: str, capacity: float, per_s: float, reserve_fraction: float = 0.2
    ) -> None:
        if capacity <= 0 or per_s <= 0:
            raise ValueError("request budget capacity and period must be positive")
        self._clock = clock
        self.venue = venue
        self.capacity = capacity
        self._rate_per_ns = capacity / (per_s * NS_PER_S)
        self._reserve = capacity * reserve_fraction
        self._lock = threading.Lock()
        self._state = _BudgetState(tokens=capacity, stamp_ns=clock.monotonic_ns())
        self.used_total = 0.0

    def _refill(self, now_ns: int) -> None:
        state = self._state
        state.tokens = min(self.capacity, state.tokens + (now_ns - state.stamp_ns) * self._rate_per_ns)
        state.stamp_ns = now_ns

    def acquire(self, weight: float = 1.0, *, priority: bool = False) -> None:
        """Take ``weight`` tokens now or raise ``RateLimited`` with the wait in ``retry_after_s``."""
        with self._lock:
            now = self._clock.monotonic_ns()
            if now < self._state.banned_until_ns:
                wait_s = (self._state.banned_until_ns - now) / NS_PER_S
                raise RateLimited(
                    f"{self.venue}: sending paused by the venue for {wait_s:.1f}s more",
                    venue=self.venue,
                    retry_after_s=wait_s,
                    banned=True,
                )
            self._refill(now)
            floor = 0.0 if priority else self._reserve
            available = self._state.tokens - floor
            if available < weight:
                wait_s = (weight - available) / self._rate_per_ns / NS_PER_S
                raise RateLimited(
                    f"{self.venue}: request budget spent, next slot in {wait_s:.3f}s",
                    venue=self.venue,
                    retry_after_s=wait_s,
                )
            self._state.tokens -= weight
            self.used_total += weight

    def ban(self, retry_after_s: float) -> None:
        """The venue said stop (429/418 with Retry-After): no request until it has passed."""
        with self._lock:
            until = self._clock.monotonic_ns() + int(retry_after_s * NS_PER_S)
            self._state.banned_until_ns = max(self._state.banned_until_ns, until)
            self._state.tokens = 0.0

    def observe_used(self, used: float) -> None:
        """Align with the venue's own count of what this window has used."""
        with self._lock:
            self._refill(self._clock.monotonic_ns())
            self._state.tokens = min(self._state.tokens, max(0.0, self.capacity - used))

    @property
    def used_fraction(self) -> float:
        with self._lock:
            self._refill(self._clock.monotonic_ns())
            return 1.0 - self._state.tokens / self.capacity
