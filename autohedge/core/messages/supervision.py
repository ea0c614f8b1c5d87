"""Lifecycle reports children send to their supervisor, and the supervisor's own timers."""

from __future__ import annotations

from autohedge.core.actor_names import ActorName
from autohedge.core.messages.base import Message

__all__ = [
    "ChildFailed",
    "ChildStarted",
    "ChildStopped",
    "RestartChild",
    "UserStreamDegraded",
    "UserStreamResumed",
    "VenueDataResumed",
    "VenueDataStale",
]


class ChildStarted(Message):
    name: ActorName
    incarnation: int
    ts_init: int


class ChildFailed(Message):
    """A child crashed. ``in_start`` says the crash happened in ``on_start`` (pykka reports nothing then)."""

    name: ActorName
    incarnation: int
    error: str
    in_start: bool = False
    ts_init: int


class ChildStopped(Message):
    name: ActorName
    incarnation: int
    ts_init: int


class RestartChild(Message):
    """Timer: the backoff delay for ``name`` has passed; start incarnation ``incarnation``."""

    name: ActorName
    incarnation: int


class VenueDataStale(Message):
    """A feed's watchdog saw no data for too long: entries on that venue pause."""

    venue: str
    silent_s: float


class VenueDataResumed(Message):
    venue: str


class UserStreamDegraded(Message):
    """A venue's user stream keeps failing to connect: its degraded gate closes (orders are polled)."""

    venue: str
    reason: str


class UserStreamResumed(Message):
    """A venue's user stream is connected and reconciled again: its degraded gate may open."""

    venue: str
