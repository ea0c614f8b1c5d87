"""Which notable events become notifications, and their text. Pure: the sender lives in adapters.

Always: the kill switch, a position left unprotected, a venue ban. Optional: every closed position.
Plus one summary per UTC day (built by the composition root from the journal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from autohedge.core.clock import NS_PER_S
from autohedge.core.eventlog import Event
from autohedge.core.gates import GateKind
from autohedge.core.ratelimit import VenueStatus

__all__ = [
    "ALWAYS_NOTIFIED",
    "Notification",
    "NotifyLevel",
    "ban_started",
    "notification_for",
    "parse_url_list",
    "seconds_to_next_utc_day",
]

# The supervisor names its kill-switch event after the gate it closes.
ALWAYS_NOTIFIED = frozenset({GateKind.KILL_SWITCH.value, "position_unprotected", "venue_banned"})
"""Event kinds that need a person: always sent."""
_DAY_NS = 86_400 * NS_PER_S


class NotifyLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    level: NotifyLevel


def notification_for(event: Event, *, position_closed: bool) -> Notification | None:
    """The notification for ``event``, or None when it does not need one."""
    where = f" {event.symbol}" if event.symbol else ""
    if event.kind in ALWAYS_NOTIFIED or "banned" in event.kind:
        level = NotifyLevel.FAILURE if event.level in ("ERROR", "CRITICAL") else NotifyLevel.WARNING
        return Notification(f"autohedge: {event.kind.replace('_', ' ')}{where}", event.text, level)
    if position_closed and event.kind == "position_closed":
        return Notification(f"autohedge: position closed{where}", event.text, NotifyLevel.INFO)
    return None


def ban_started(was_banned: bool, status: VenueStatus, now_wall_ns: int) -> str | None:
    """The ``venue_banned`` event's text when the venue's state turns banned (None otherwise)."""
    if was_banned or not (status.banned and status.rate_limited):
        return None
    until = status.rate_limited_until_ns
    wait = f" for {max(0.0, (until - now_wall_ns) / NS_PER_S):.0f}s" if until is not None else ""
    return f"{status.venue} banned this IP{wait}: nothing is sent until it ends (exits first then)"


def parse_url_list(raw: str) -> tuple[SecretStr, ...]:
    """``AUTOHEDGE_NOTIFY_URLS``: URLs separated by spaces or commas (kept secret: they hold tokens)."""
    return tuple(SecretStr(part) for part in raw.replace(",", " ").split() if part)


def seconds_to_next_utc_day(wall_ns: int) -> float:
    """Seconds from ``wall_ns`` to the next UTC midnight (a full day when exactly at midnight)."""
    return (_DAY_NS - wall_ns % _DAY_NS) / NS_PER_S
