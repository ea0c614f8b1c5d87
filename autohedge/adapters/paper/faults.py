"""The paper exchange's fault model: seeded, switchable at run time (tests and drills)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from autohedge.core.config import PaperFaults
from autohedge.core.errors import OrderRejected, OutcomeUnknown, RateLimited
from autohedge.core.ratelimit import RequestBudget

__all__ = ["RATE_LIMIT_RETRY_AFTER_S", "FaultModel"]

RATE_LIMIT_RETRY_AFTER_S = 1.0
"""The Retry-After of an injected rate limit."""


class FaultModel:
    """Decides, per call, whether to inject latency, a rate limit, a rejection or an unknown outcome."""

    def __init__(
        self,
        faults: PaperFaults,
        *,
        seed: int,
        sleep: Callable[[float], None],
        budget: RequestBudget,
        venue: str = "paper",
    ) -> None:
        self._faults = faults
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._calls = 0
        self._lock = threading.Lock()
        self._venue = venue
        self._budget = budget

    @property
    def faults(self) -> PaperFaults:
        return self._faults

    def set(self, faults: PaperFaults) -> None:
        with self._lock:
            self._faults = faults

    def before_call(self) -> None:
        """Every port call: refused while the paper venue's pause lasts (like a venue that said wait),
        then latency, then the every-n-th-call rate limit, which pauses the venue like a 429 would."""
        self._budget.acquire(1, priority=True)
        with self._lock:
            faults = self._faults
            self._calls += 1
            limited = faults.rate_limit_every_n > 0 and self._calls % faults.rate_limit_every_n == 0
        if faults.latency_ms > 0:
            self._sleep(faults.latency_ms / 1000)
        if limited:
            self._budget.rate_limited(RATE_LIMIT_RETRY_AFTER_S)
            raise RateLimited(
                "paper: injected rate limit",
                venue=self._venue,
                code=429,
                retry_after_s=RATE_LIMIT_RETRY_AFTER_S,
            )

    def before_submit(self) -> bool:
        """Order submits only. Raises an injected rejection or a lost request; returns True when the
        response must be lost *after* the order is placed."""
        with self._lock:
            faults = self._faults
            reject = faults.reject_rate > 0 and self._rng.random() < faults.reject_rate
            unknown = faults.outcome_unknown_rate > 0 and self._rng.random() < faults.outcome_unknown_rate
            after = self._rng.random() < 0.5 if unknown else False
        if reject:
            raise OrderRejected("paper: injected rejection", venue=self._venue, code="injected")
        if unknown and not after:
            raise OutcomeUnknown("paper: injected timeout (request lost)", venue=self._venue)
        return unknown

    def lost_response(self) -> OutcomeUnknown:
        return OutcomeUnknown("paper: injected timeout (response lost; the order exists)", venue=self._venue)
