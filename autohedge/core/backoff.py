"""Restart and reconnect delays: exponential, capped, with jitter applied after the cap."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    min_backoff_s: float
    max_backoff_s: float
    random_factor: float = 0.0

    def delay_s(self, restart_count: int, rng: random.Random) -> float:
        """Delay before restart ``restart_count`` (0, 1, ...):
        ``min(max, min * 2**n) * (1 + U[0,1) * random_factor)``."""
        if restart_count < 0:
            raise ValueError("restart_count must be >= 0")
        # Cap the exponent so 2**n cannot overflow a float for long crash loops.
        capped = min(self.max_backoff_s, self.min_backoff_s * 2.0 ** min(restart_count, 62))
        jitter = 1.0 + rng.random() * self.random_factor if self.random_factor else 1.0
        return capped * jitter
