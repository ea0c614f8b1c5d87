"""The paper exchange's fault model: seeded, switchable at run time (tests, drills, the simulator)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

from autohedge.core.config import PaperFaults
from autohedge.core.errors import OrderRejected, OutcomeUnknown, RateLimited
from autohedge.core.ratelimit import RequestBudget

__all__ = ["FAULT_KINDS", "RATE_LIMIT_RETRY_AFTER_S", "FaultModel"]

RATE_LIMIT_RETRY_AFTER_S = 1.0
"""The Retry-After of the every-n-th-call rate limit."""
FAULT_KINDS = (
    "reject",
    "rate_limit_429",
    "ban_418",
    "outcome_unknown_before_accept",
    "outcome_unknown_after_accept",
    "latency",
)
"""Names under which injected faults are counted (``FaultModel.injected``)."""


class FaultModel:
    """Decides, per call, whether to inject latency, a rate limit or ban, a rejection or an unknown
    outcome. A 429 or 418 pauses the venue's request budget for its Retry-After (``retry_after_s``,
    ``ban_s``): every call inside that window is refused, as a venue refuses it."""

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
        self.injected: Counter[str] = Counter()
        """Faults injected so far, by kind (``FAULT_KINDS``)."""

    @property
    def faults(self) -> PaperFaults:
        return self._faults

    def set(self, faults: PaperFaults) -> None:
        with self._lock:
            self._faults = faults

    def before_call(self) -> None:
        """Every port call: refused while the paper venue's pause lasts (like a venue that said wait),
        then latency, then the every-n-th-call rate limit and the random 429 and 418, which pause the
        venue as a venue's would."""
        self._budget.acquire(1, priority=True)
        with self._lock:
            faults = self._faults
            self._calls += 1
            every_n = faults.rate_limit_every_n > 0 and self._calls % faults.rate_limit_every_n == 0
            if faults.latency_ms > 0:
                self.injected["latency"] += 1
        if faults.latency_ms > 0:
            self._sleep(faults.latency_ms / 1000)
        with self._lock:
            banned = faults.ban_rate > 0 and self._rng.random() < faults.ban_rate
            drawn = not banned and faults.rate_limit_rate > 0 and self._rng.random() < faults.rate_limit_rate
            if not (banned or drawn or every_n):
                return
            self.injected["ban_418" if banned else "rate_limit_429"] += 1
        if banned:
            self._budget.rate_limited(faults.ban_s, banned=True)
            raise RateLimited(
                "paper: injected ban (418)",
                venue=self._venue,
                code=418,
                retry_after_s=faults.ban_s,
                banned=True,
            )
        retry_after_s = faults.retry_after_s if drawn else RATE_LIMIT_RETRY_AFTER_S
        self._budget.rate_limited(retry_after_s)
        raise RateLimited(
            "paper: injected rate limit", venue=self._venue, code=429, retry_after_s=retry_after_s
        )

    def before_submit(self) -> bool:
        """Order submits only. Raises an injected rejection or a lost request; returns True when the
        response must be lost *after* the order is placed."""
        with self._lock:
            faults = self._faults
            reject = faults.reject_rate > 0 and self._rng.random() < faults.reject_rate
            unknown = faults.outcome_unknown_rate > 0 and self._rng.random() < faults.outcome_unknown_rate
            after = self._rng.random() < faults.outcome_unknown_after_share if unknown else False
            if reject:
                self.injected["reject"] += 1
            elif unknown:
                self.injected[
                    "outcome_unknown_after_accept" if after else "outcome_unknown_before_accept"
                ] += 1
        if reject:
            raise OrderRejected("paper: injected rejection", venue=self._venue, code="injected")
        if unknown and not after:
            raise OutcomeUnknown("paper: injected timeout (request lost)", venue=self._venue)
        return unknown

    def lost_response(self) -> OutcomeUnknown:
        return OutcomeUnknown("paper: injected timeout (response lost; the order exists)", venue=self._venue)
