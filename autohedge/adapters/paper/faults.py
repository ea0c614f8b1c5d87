"""The paper exchange's fault model: seeded, switchable at run time (tests and drills)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from autohedge.core.config import PaperFaults
from autohedge.core.errors import OrderRejected, OutcomeUnknown, RateLimited

__all__ = ["FaultModel"]


class FaultModel:
    """Decides, per call, whether to inject latency, a rate limit, a rejection or an unknown outcome."""

    def __init__(
        self, faults: PaperFaults, *, seed: int, sleep: Callable[[float], None], venue: str = "paper"
    ) -> None:
        self._faults = faults
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._calls = 0
        self._lock = threading.Lock()
        self._venue = venue

    @property
    def faults(self) -> PaperFaults:
        return self._faults

    def set(self, faults: PaperFaults) -> None:
        with self._lock:
            self._faults = faults

    def before_call(self) -> None:
        """Every port call: latency, then the every-n-th-call rate limit."""
        with self._lock:
            faults = self._faults
            self._calls += 1
            limited = faults.rate_limit_every_n > 0 and self._calls % faults.rate_limit_every_n == 0
        if faults.latency_ms > 0:
            self._sleep(faults.latency_ms / 1000)
        if limited:
            raise RateLimited("paper: injected rate limit", venue=self._venue, code=429, retry_after_s=1.0)

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
