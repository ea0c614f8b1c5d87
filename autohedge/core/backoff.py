"""Restart and reconnect delays: exponential, capped, with jitter applied after the cap."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "protection_restart_limit_s"]


def protection_restart_limit_s(max_unprotected_s: float) -> float:
    """The longest the executor or the monitor may stay down after a crash: a fill reaches its exits only
    through both, and the restarted one still has to read the venue and arm within the promise."""
    return max_unprotected_s / 2


@dataclass(frozen=True)
class Backoff:
    min_backoff_s: float
    max_backoff_s: float
    random_factor: float = 0.0

    def delay_s(self, restart_count: int, rng: random.Random, *, limit_s: float | None = None) -> float:
        """Delay before restart ``restart_count`` (0, 1, ...):
        ``min(max, min * 2**n) * (1 + U[0,1) * random_factor)``, at most ``limit_s`` (jitter included)
        when given: a child on the path from a fill to its exits may stay down no longer than that."""
        if restart_count < 0:
            raise ValueError("restart_count must be >= 0")
        # Cap the exponent so 2**n cannot overflow a float for long crash loops.
        capped = min(self.max_backoff_s, self.min_backoff_s * 2.0 ** min(restart_count, 62))
        jitter = 1.0 + rng.random() * self.random_factor if self.random_factor else 1.0
        delay_s = capped * jitter
        return delay_s if limit_s is None else min(delay_s, limit_s)
