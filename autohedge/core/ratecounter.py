"""Per-pair order-rate counters: a venue that charges each add and (age-dependent) each cancel against a
decaying counter per trading pair (Kraken's trading-engine limiter).

Each pair's counter is a ``RequestBudget``: a counter that rises by the charged cost and decays at
``decay_per_s`` is the same arithmetic as a bucket of ``threshold`` tokens refilled at ``decay_per_s``.
A cancel costs more the younger the order is (the venue punishes quote stuffing), so the counter
remembers when each order was placed. Like ``RequestBudget`` it never sleeps: it answers "go" or raises
``RateLimited`` with the wait, and exits and cancels (``priority=True``) may use the whole threshold
while entries stop at the reserve.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.ratelimit import RequestBudget

__all__ = ["PairOrderBudget"]


class PairOrderBudget:
    """Thread-safe. ``cancel_penalties``: ``(max_age_s, cost)`` rows in rising age order; a cancel of an
    order younger than ``max_age_s`` costs ``cost``, older than every row costs nothing."""

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
        self._pairs: dict[str, RequestBudget] = {}
        self._placed_ns: dict[str, int] = {}

    def _budget(self, pair: str) -> RequestBudget:
        with self._lock:
            budget = self._pairs.get(pair)
            if budget is None:
                budget = self._pairs[pair] = RequestBudget(
                    self._clock,
                    venue=f"{self.venue} {pair} orders",
                    capacity=self._threshold,
                    per_s=self._threshold / self._decay_per_s,
                    reserve_fraction=self._reserve_fraction,
                )
            return budget

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
        self._budget(pair).acquire(self._add_cost, priority=priority)
        with self._lock:
            self._forget_old()
            self._placed_ns[order_key] = self._clock.monotonic_ns()

    def charge_cancel(self, pair: str, order_key: str) -> None:
        """Before cancelling: spend the age-dependent penalty (always with priority: cancels protect)."""
        cost = self.cancel_cost(order_key)
        if cost > 0:
            self._budget(pair).acquire(cost, priority=True)
        self.forget(order_key)

    def forget(self, order_key: str) -> None:
        """The order is finished (filled, cancelled): a later cancel attempt costs nothing."""
        with self._lock:
            self._placed_ns.pop(order_key, None)

    def ban(self, pair: str, retry_after_s: float) -> None:
        """The venue said this pair's counter is full: send nothing for it until ``retry_after_s``."""
        self._budget(pair).ban(retry_after_s)

    def used_fraction(self, pair: str) -> float:
        return self._budget(pair).used_fraction

    def _forget_old(self) -> None:
        """Orders older than the last penalty row cost nothing to cancel: no need to remember them
        (bounds memory over long runs). Lock held."""
        horizon = self._clock.monotonic_ns() - self._max_age_ns
        stale = [key for key, placed in self._placed_ns.items() if placed <= horizon]
        for key in stale:
            del self._placed_ns[key]
