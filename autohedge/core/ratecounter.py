"""Decaying counters: a venue that adds each request's cost to a counter which drains at a fixed rate
and refuses what would push it above a threshold (Kraken's REST call counter and its per-pair
trading-engine counter, where a cancel costs more the younger the order is).

They never sleep: they answer "go" or raise ``RateLimited`` with the wait, and the caller schedules a
timer message. Exits and cancels (``priority=True``) may fill the counter to the threshold; entries
stop ``reserve_fraction`` below it, so protection never waits behind entries.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import RateLimited

__all__ = ["DecayingCounter", "PairOrderBudget"]


class DecayingCounter:
    """Thread-safe. The counter rises by each charged cost and falls by ``decay_per_s`` continuously."""

    def __init__(
        self, clock: Clock, *, venue: str, threshold: float, decay_per_s: float, reserve_fraction: float = 0.2
    ) -> None:
        if threshold <= 0 or decay_per_s <= 0:
            raise ValueError("counter threshold and decay must be positive")
        self._clock = clock
        self.venue = venue
        self.threshold = threshold
        self._decay_per_ns = decay_per_s / NS_PER_S
        self._reserve = threshold * reserve_fraction
        self._lock = threading.Lock()
        self._value = 0.0
        self._stamp_ns = clock.monotonic_ns()
        self._paused_until_ns = 0

    def _drain(self, now_ns: int) -> None:
        self._value = max(0.0, self._value - (now_ns - self._stamp_ns) * self._decay_per_ns)
        self._stamp_ns = now_ns

    def charge(self, cost: float, *, priority: bool) -> None:
        """Add ``cost`` now or raise ``RateLimited`` with the seconds until it would fit."""
        with self._lock:
            now = self._clock.monotonic_ns()
            if now < self._paused_until_ns:
                wait_s = (self._paused_until_ns - now) / NS_PER_S
                raise RateLimited(
                    f"{self.venue}: paused by the venue for {wait_s:.1f}s more",
                    venue=self.venue,
                    retry_after_s=wait_s,
                )
            self._drain(now)
            ceiling = self.threshold if priority else self.threshold - self._reserve
            excess = self._value + cost - ceiling
            if excess > 0:
                wait_s = excess / self._decay_per_ns / NS_PER_S
                raise RateLimited(
                    f"{self.venue}: counter at {self._value:.1f} of {self.threshold:g}, "
                    f"next slot in {wait_s:.2f}s",
                    venue=self.venue,
                    retry_after_s=wait_s,
                )
            self._value += cost

    def pause(self, retry_after_s: float) -> None:
        """The venue said the counter is full: nothing until ``retry_after_s`` has passed, and the
        counter is taken as full from then on."""
        with self._lock:
            now = self._clock.monotonic_ns()
            self._drain(now)
            self._paused_until_ns = max(self._paused_until_ns, now + int(retry_after_s * NS_PER_S))
            self._value = self.threshold

    @property
    def value(self) -> float:
        with self._lock:
            self._drain(self._clock.monotonic_ns())
            return self._value


class PairOrderBudget:
    """One ``DecayingCounter`` per trading pair; remembers when each order was placed. Thread-safe.

    ``cancel_penalties``: ``(max_age_s, cost)`` rows in rising age order; a cancel of an order younger
    than ``max_age_s`` costs ``cost``, older than every row costs nothing."""

    def __init__(
        self,
        clock: Clock,
        *,
        venue: str,
        threshold: float,
        decay_per_s: float,
        add_cost: float,
        cancel_penalties: Sequence[tuple[float, float]],
        reserve_fraction: float = 0.2,
    ) -> None:
        if threshold <= 0 or decay_per_s <= 0:
            raise ValueError("order-rate threshold and decay must be positive")
        ages = [age for age, _ in cancel_penalties]
        if ages != sorted(ages):
            raise ValueError("cancel penalties must be listed by rising order age")
        self._clock = clock
        self.venue = venue
        self._threshold = threshold
        self._decay_per_s = decay_per_s
        self._add_cost = add_cost
        self._penalties = tuple(cancel_penalties)
        self._max_age_ns = int(ages[-1] * NS_PER_S) if ages else 0
        self._reserve_fraction = reserve_fraction
        self._lock = threading.Lock()
        self._pairs: dict[str, DecayingCounter] = {}
        self._placed_ns: dict[str, int] = {}

    def _counter(self, pair: str) -> DecayingCounter:
        with self._lock:
            counter = self._pairs.get(pair)
            if counter is None:
                counter = self._pairs[pair] = DecayingCounter(
                    self._clock,
                    venue=f"{self.venue} {pair} orders",
                    threshold=self._threshold,
                    decay_per_s=self._decay_per_s,
                    reserve_fraction=self._reserve_fraction,
                )
            return counter

    def cancel_cost(self, order_key: str) -> float:
        """What cancelling ``order_key`` now would cost (0 for an order we did not see placed)."""
        with self._lock:
            placed = self._placed_ns.get(order_key)
        if placed is None:
            return 0.0
        age_s = (self._clock.monotonic_ns() - placed) / NS_PER_S
        return next((cost for max_age_s, cost in self._penalties if age_s < max_age_s), 0.0)

    def charge_add(self, pair: str, order_key: str, *, priority: bool) -> None:
        """Before sending an order: spend ``add_cost`` or raise ``RateLimited``. Then remember its age."""
        self._counter(pair).charge(self._add_cost, priority=priority)
        with self._lock:
            self._forget_old()
            self._placed_ns[order_key] = self._clock.monotonic_ns()

    def charge_cancel(self, pair: str, order_key: str) -> None:
        """Before cancelling: spend the age-dependent penalty (always with priority: cancels protect)."""
        cost = self.cancel_cost(order_key)
        if cost > 0:
            self._counter(pair).charge(cost, priority=True)
        self.forget(order_key)

    def forget(self, order_key: str) -> None:
        """The order is finished (filled, cancelled): a later cancel attempt costs nothing."""
        with self._lock:
            self._placed_ns.pop(order_key, None)

    def ban(self, pair: str, retry_after_s: float) -> None:
        """The venue said this pair's counter is full: send nothing for it until ``retry_after_s``."""
        self._counter(pair).pause(retry_after_s)

    def used_fraction(self, pair: str) -> float:
        return self._counter(pair).value / self._threshold

    def _forget_old(self) -> None:
        """Orders older than the last penalty row cost nothing to cancel: no need to remember them
        (bounds memory over long runs). Lock held."""
        horizon = self._clock.monotonic_ns() - self._max_age_ns
        stale = [key for key, placed in self._placed_ns.items() if placed <= horizon]
        for key in stale:
            del self._placed_ns[key]
