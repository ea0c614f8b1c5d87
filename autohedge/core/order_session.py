"""A venue's order session (orders sent as frames on an open WebSocket connection instead of REST) as
data: its state and counters, shown in ``/health``, the status page and the run summary, and when it
reconnects. Pure."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, computed_field

from autohedge.core.clock import NS_PER_S

__all__ = ["OrderSessionState", "OrderSessionStatus", "next_failed_attempts", "session_reasons"]


class OrderSessionState(StrEnum):
    DOWN = "down"
    """Not connected: orders go by REST; a reconnect is scheduled (``next_attempt_in_s``)."""
    CONNECTING = "connecting"
    """Opening (and, for keys that log a session on, logging on)."""
    UP = "up"
    """Connected and usable: orders go over it."""


class OrderSessionStatus(BaseModel):
    """Shown as it is (``/health``, ``GET /status``, the summary JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: str
    state: OrderSessionState
    connects: int
    """Connections that became usable."""
    reconnects: int
    """Of them, those after the first (the session came back after a drop or a failed attempt)."""
    drops: int
    """Usable connections that ended (not by our stop)."""
    connect_failures: int
    """Connection attempts that never became usable (refused, unreachable, log-on refused)."""
    requests: int
    """Requests written on the session."""
    failures: int
    """Of them, those that got no answer (a timeout, the connection ending before the answer)."""
    fallbacks: int
    """Requests not sent on the session because it was down: the adapter sent them by REST."""
    last_error: str
    """Why the session last ended, failed to open, or left a request unanswered (empty: never)."""
    next_attempt_in_s: float | None
    """When the session is down: seconds until the next connection attempt."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def connected(self) -> bool:
        return self.state is OrderSessionState.UP


def next_failed_attempts(failed_attempts: int, *, was_up_ns: int | None, reset_after_s: float) -> int:
    """Connections that failed in a row, counting the one that just ended (``failed_attempts``: before
    it). A connection that stayed usable ``reset_after_s`` (``was_up_ns``: how long it was; None: it
    never became usable) starts the run over at 1, so the next attempt comes after the shortest delay;
    one that drops at once counts on, so a venue that accepts and drops is not reconnected to at the
    shortest delay forever."""
    if was_up_ns is not None and was_up_ns >= reset_after_s * NS_PER_S:
        return 1
    return failed_attempts + 1


def session_reasons(status: OrderSessionStatus) -> list[str]:
    """Health reasons from an order session (empty while it is up, or still opening its first connection):
    down, it costs REST weight per order and is reconnecting."""
    if status.connected or (status.drops == 0 and status.connect_failures == 0):
        return []
    when = "" if status.next_attempt_in_s is None else f", next attempt in {status.next_attempt_in_s:.1f}s"
    why = status.last_error or "not connected"
    return [f"venue {status.venue} order session {status.state} ({why}): orders go by REST{when}"]
