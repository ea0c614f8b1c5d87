"""Lifecycle states of a supervised child, as the supervisor reports them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ChildState"]


class ChildState(StrEnum):
    NEW = "new"
    """Not started yet (strategies wait for start-up reconciliation)."""
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    """Crashed; a restart is scheduled after backoff."""
    PARKED = "parked"
    """A strategy in a crash loop: not restarted, its symbol's position stays protected."""
    STOPPED = "stopped"

    @property
    def is_healthy(self) -> bool:
        """States that by themselves do not degrade health (parking is reported on its own)."""
        return self in _HEALTHY


_HEALTHY = frozenset({ChildState.NEW, ChildState.RUNNING, ChildState.PARKED, ChildState.STOPPED})
