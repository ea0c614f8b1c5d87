"""Restart and reconnect delays: exponential, capped, with jitter applied after the cap."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "protection_restart_limit_s"]


def protection_restart_limit_s(max_unprotected_s: float) -> float:
    """The longest the executor or the monitor may stay down after a crash: a fill reaches its exits only
    through both, and the restarted one still has to read the venue and arm within the promise."""
    return max_unprotected_s / 2


_LIMITED_FIRST_SHARE = 8
"""A child restarted within a limit starts at 1/8 of it and doubles: three crashes in a row (the
restarted one crashing again on its own reconciliation, say) stay down 7/8 of the limit in all, where
three delays of the whole limit would spend one and a half times the promise."""


@dataclass(frozen=True)
class Backoff:
    min_backoff_s: float
    max_backoff_s: float
    random_factor: float = 0.0

    def delay_s(self, restart_count: int, rng: random.Random, *, limit_s: float | None = None) -> float:
        """Delay before restart ``restart_count`` (0, 1, ...):
        ``min(max, min * 2**n) * (1 + U[0,1) * random_factor)``, at most ``limit_s`` (jitter included)
        when given: a child on the path from a fill to its exits may stay down no longer than that, and
        its first restarts in a row come sooner still (1/8, 1/4, 1/2 of ``limit_s``)."""
        if restart_count < 0:
            raise ValueError("restart_count must be >= 0")
        # Cap the exponent so 2**n cannot overflow a float for long crash loops.
        capped = min(self.max_backoff_s, self.min_backoff_s * 2.0 ** min(restart_count, 62))
        jitter = 1.0 + rng.random() * self.random_factor if self.random_factor else 1.0
        delay_s = capped * jitter
        if limit_s is None:
            return delay_s
        soon_s = limit_s / _LIMITED_FIRST_SHARE * 2.0 ** min(restart_count, 62)
        return min(delay_s, limit_s, soon_s)
